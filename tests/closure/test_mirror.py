"""End to end: `cloudpypi sync` with a [closure] config into a folder, then real pip and uv, offline, from
the mirror alone, and the comparison with what `pip download` fetches from the origin per environment."""

from __future__ import annotations

import concurrent.futures as cf
import re
import subprocess
import sys
from pathlib import Path

import pytest

from closure.conftest import Mirror, interpreter, isolated_env, uv
from closure.graph import INSTALLABLE
from cloudpypi.platforms import Environment

pytestmark = pytest.mark.slow

BROKEN_FILES = {"broken-1.0-py3-none-any.whl"}  # mirrored although pip cannot install it (ghost is missing)


def pip_download(index_url: str, python: str, platform: str, dest: Path) -> set[str]:
    """pip download for one target environment, run by a CPython of that version: pip evaluates markers
    against the interpreter running it, whatever --python-version says."""
    runner = interpreter(python)
    if runner is None:
        pytest.skip(f"no CPython {python} here to run pip for that environment")
    command = [runner, "-m", "pip", "download", "--isolated", "--no-cache-dir", "--index-url", index_url,
               "--only-binary=:all:", "--implementation", "cp", "--python-version", python, "-d", str(dest),
               *INSTALLABLE]
    # pip --platform takes exactly the tags given; a glibc 2.28 host accepts all of these.
    for tag in Environment(python, platform).platform_tags:
        command += ["--platform", tag]
    result = subprocess.run(command, capture_output=True, text=True, env=isolated_env(), timeout=180)
    assert result.returncode == 0, f"pip download for {python} {platform} failed:\n{result.stderr[-2000:]}"
    return {p.name for p in dest.iterdir()}


def per_environment(index_url: str, targets: list[tuple[str, str]], base: Path) -> dict[tuple[str, str], set[str]]:
    with cf.ThreadPoolExecutor(3) as pool:
        futures = {target: pool.submit(pip_download, index_url, *target, base / f"{target[0]}-{target[1]}")
                   for target in targets}
        return {target: future.result() for target, future in futures.items()}


def test_sync_mirrors_the_rest_and_exits_nonzero_naming_the_missing_dependency(mirror: Mirror) -> None:
    assert mirror.sync.returncode == 1, (
        f"expected exit 1 (ghost is missing), got {mirror.sync.returncode}:\n{mirror.sync.stderr[-2000:]}")
    failures = {f["project"]: f["reason"] for f in mirror.report["failures"]}  # type: ignore[index]
    assert set(failures) == {"ghost>=1"}, f"expected only ghost>=1 reported, got {failures}"
    assert "required by broken 1.0: not found on the origin" in failures["ghost>=1"]
    assert "ghost" in mirror.sync.stdout + mirror.sync.stderr, "the summary should name the missing dependency"
    assert mirror.report["files_added"] == len(mirror.files()) > 0


def test_pages_list_exactly_the_files_stored_and_nothing_outside_the_closure(mirror: Mirror) -> None:
    assert mirror.listed() == mirror.files(), (
        f"pages and storage differ: listed only {mirror.listed() - mirror.files()}, "
        f"stored only {mirror.files() - mirror.listed()}")
    projects = {p.name for p in (mirror.root / "simple").iterdir() if p.is_dir()}
    assert projects == {"app", "broken", "cyc-a", "cyc-b", "liba", "libb", "modern", "oldpy-compat", "speedup"}, (
        f"unexpected project set {sorted(projects)}")


def test_mirrored_files_equal_the_union_of_pip_download_per_environment_from_the_origin(
        mirror: Mirror, targets: list[tuple[str, str]], tmp_path: Path) -> None:
    from_origin = per_environment(mirror.origin.url + "/simple/", targets, tmp_path / "origin")
    union = set().union(*from_origin.values())
    assert mirror.files() == union | BROKEN_FILES, (
        f"mirror has extra {sorted(mirror.files() - union - BROKEN_FILES)}, "
        f"lacks {sorted(union - mirror.files())}")
    from_mirror = per_environment(mirror.index_url, targets, tmp_path / "mirror")
    for target, files in from_origin.items():
        assert from_mirror[target] == files, (
            f"{target}: pip download from the mirror got {sorted(from_mirror[target])}, "
            f"from the origin {sorted(files)}")


def _installed(target: Path) -> set[str]:
    return {p.name.removesuffix(".dist-info") for p in target.glob("*.dist-info")}


def test_pip_installs_the_requirements_offline_from_the_mirror_alone(mirror: Mirror, tmp_path: Path) -> None:
    target = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--isolated", "--no-cache-dir", "--index-url", mirror.index_url,
         "--target", str(target), *INSTALLABLE], capture_output=True, text=True, env=isolated_env(), timeout=180)
    assert result.returncode == 0, f"pip install failed:\n{result.stderr[-2000:]}"
    installed = _installed(target)
    py = f"{sys.version_info[0]}.{sys.version_info[1]}"
    expected = {"app-2.0", "liba-1.5", "libb-1.0", "speedup-1.1", "cyc_a-1.0", "cyc_b-1.0",
                "modern-1.0" if py == "3.11" else "modern-2.0"} | ({"oldpy_compat-1.0"} if py == "3.11" else set())
    assert installed == expected, f"expected {sorted(expected)}, pip installed {sorted(installed)}"


def test_uv_installs_the_requirements_offline_from_the_mirror_alone(mirror: Mirror, tmp_path: Path) -> None:
    target = tmp_path / "site"
    result = subprocess.run(
        [uv(), "pip", "install", "--no-config", "--no-cache", "--offline", "--index-url", mirror.index_url,
         "--python", sys.executable, "--target", str(target), *INSTALLABLE],
        capture_output=True, text=True, env=isolated_env(), timeout=180)
    assert result.returncode == 0, f"uv pip install failed:\n{result.stderr[-2000:]}"
    installed = _installed(target)
    assert {"app-2.0", "liba-1.5", "libb-1.0", "speedup-1.1", "cyc_a-1.0", "cyc_b-1.0"} <= installed, (
        f"uv installed {sorted(installed)}")


def _uv_platform(platform: str) -> str:
    found = re.fullmatch(r"manylinux_(\d+)_(\d+)_(\w+)", platform)
    assert found, platform
    return f"{found[3]}-manylinux_{found[1]}_{found[2]}"


def test_uv_pip_compile_resolves_every_target_environment_from_the_mirror_to_the_stored_pins(
        mirror: Mirror, targets: list[tuple[str, str]], tmp_path: Path) -> None:
    from cloudpypi.closure.store import load_record
    from cloudpypi.config import Config
    from cloudpypi.state import State
    from cloudpypi.storage import open_target

    storage = open_target(Config(target=str(mirror.root)))
    state = State.open(storage, read_only=True)
    record = load_record(state)
    state.close()
    assert record is not None, "the sync should have stored its closure"
    pins = {env.key: env.pins for env in record.environments}
    requirements = tmp_path / "requirements.in"
    requirements.write_text("\n".join(INSTALLABLE) + "\n")
    for python, platform in targets:
        result = subprocess.run(
            [uv(), "pip", "compile", "--no-config", "--no-cache", "--offline", "--index-url", mirror.index_url,
             "--python-version", python, "--python-platform", _uv_platform(platform), "--no-header",
             "--no-annotate", "--only-binary", ":all:", str(requirements)],
            capture_output=True, text=True, env=isolated_env(), timeout=180)
        assert result.returncode == 0, f"uv pip compile for {python} {platform} failed:\n{result.stderr[-2000:]}"
        got = dict(line.split("==") for line in result.stdout.split() if "==" in line)
        expected = {name: versions[0] for name, versions in pins[f"{python}/{platform}"].items()
                    if name != "broken"}
        assert got == expected, f"{python} {platform}: uv pinned {got}, the closure pinned {expected}"
