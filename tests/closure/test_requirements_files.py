"""requirements.txt and pylock.toml (PEP 751) as sources of the closure's requirements."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudpypi.closurespec import parse_closure
from cloudpypi.errors import ConfigError

BASE = {"pythons": ["3.12"], "platforms": ["manylinux_2_28_x86_64"]}


def test_requirements_txt_with_includes_comments_hashes_and_continuations(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("liba>=1,<2  # the range\n")
    (tmp_path / "requirements.txt").write_text(
        "# top\n-r base.txt\n--index-url https://example.invalid/simple\n"
        "app[extra] ==2.0 \\\n    --hash=sha256:abc\n"
        'oldpy-compat; python_version < "3.12"\n\n')
    files = [str(tmp_path / "requirements.txt")]
    spec = parse_closure({**BASE, "requirements": ["cyc-a"], "requirements_files": files})
    got = [str(r) for r in spec.requirements]
    assert got == ["cyc-a", "liba<2,>=1", "app[extra]==2.0", 'oldpy-compat; python_version < "3.12"'], (
        f"expected the config's then the file's requirements in order, got {got}")


def test_editable_or_constraint_lines_are_rejected_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("liba\n-e ./src\n")
    with pytest.raises(ConfigError, match=r"requirements.txt:2: an editable requirement"):
        parse_closure({**BASE, "requirements_files": [str(path)]})
    path.write_text("-c constraints.txt\n")
    with pytest.raises(ConfigError, match="constraints files are not supported"):
        parse_closure({**BASE, "requirements_files": [str(path)]})


def test_missing_requirements_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read .*nope\.txt"):
        parse_closure({**BASE, "requirements_files": [str(tmp_path / "nope.txt")]})


def test_pylock_packages_become_exact_pins_with_their_markers(tmp_path: Path) -> None:
    path = tmp_path / "pylock.toml"
    path.write_text(
        'lock-version = "1.0"\ncreated-by = "test"\n'
        '[[packages]]\nname = "liba"\nversion = "1.5"\n'
        '[[packages]]\nname = "oldpy-compat"\nversion = "1.0"\nmarker = "python_version < \\"3.12\\""\n'
        '[[packages]]\nname = "myproject"\ndirectory = { path = "." }\n')
    spec = parse_closure({**BASE, "requirements_files": [str(path)]})
    got = [str(r) for r in spec.requirements]
    assert got == ["liba==1.5", 'oldpy-compat==1.0; python_version < "3.12"'], (
        f"expected pins (the versionless directory package skipped), got {got}")


def test_pylock_with_another_lock_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pylock.toml"
    path.write_text('lock-version = "2.0"\n[[packages]]\nname = "a"\nversion = "1"\n')
    with pytest.raises(ConfigError, match="not a PEP 751 version 1 lock"):
        parse_closure({**BASE, "requirements_files": [str(path)]})
