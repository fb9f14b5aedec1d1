"""Release pins, Python versions, the per-project size cap and max_file_size: the pure rules, then the real
CLI against the fake origin (pages list only what is mirrored; skipped files are reported, not failures)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cloudpypi.config import Config, Filters, parse_config
from cloudpypi.errors import ConfigError
from cloudpypi.filters import select_files, serves_python
from cloudpypi.model import DistFile, ProjectPage
from cloudpypi.plan import plan_project
from engine.conftest import cloudpypi
from support.fakeorigin import Corpus, running_origin

SERVED = ("3.10", "3.11", "3.12", "3.13")


def dist(filename: str, size: int = 100, requires_python: str | None = None) -> DistFile:
    return DistFile(filename, f"https://files.example/packages/{filename}", "0" * 64, size, requires_python,
                    key=f"packages/{filename}")


def names(files) -> list[str]:
    return [f.filename for f in files]


# ---- config -----------------------------------------------------------------------------------------------------


def test_allow_entries_take_pep440_specifiers_and_keep_plain_names():
    config = parse_config({"filters": {"allow": ["Black==24.*", "requests>=2.30,<3", "idna"]}})
    assert config.filters.allow == frozenset({"black", "requests", "idna"})
    assert config.filters.pin("black") == "==24.*"
    assert config.filters.pin("requests") in ("<3,>=2.30", ">=2.30,<3")
    assert config.filters.pin("idna") is None


@pytest.mark.parametrize("entry", ["black[d]==24.*", "black==24; python_version<'3'", "black @ https://x/y.whl",
                                   "black===", "not a name!"])
def test_allow_entries_with_extras_markers_urls_or_bad_specifiers_are_config_errors(entry):
    with pytest.raises(ConfigError, match="allow"):
        parse_config({"filters": {"allow": [entry]}})


def test_pythons_and_max_project_size_are_validated():
    config = parse_config({"filters": {"pythons": list(SERVED), "max_project_size": "2GiB"}})
    assert config.filters.pythons == SERVED and config.filters.max_project_size == 2 * 2**30
    with pytest.raises(ConfigError, match="pythons"):
        parse_config({"filters": {"pythons": ["3.12.1"]}})


def test_new_filters_left_unset_keep_the_fingerprint_of_older_configs():
    # an upgrade alone must not re-plan every project of a big mirror
    assert Filters().fingerprint() == Filters(pins=(), pythons=(), max_project_size=0).fingerprint()
    assert Filters().fingerprint() != Filters(pythons=SERVED).fingerprint()
    assert Config().filters_fingerprint() == Filters().fingerprint()
    assert Config(max_file_size=1000).filters_fingerprint() != Config().filters_fingerprint()


# ---- pure rules -----------------------------------------------------------------------------------------------


def test_release_pins_keep_only_matching_releases():
    files = [dist("black-23.12.0-py3-none-any.whl"), dist("black-24.1.0-py3-none-any.whl"),
             dist("black-24.4.2.tar.gz"), dist("black-25.1.0-py3-none-any.whl"), dist("black-24.2.0rc1.tar.gz")]
    pinned = Filters(allow=frozenset({"black"}), pins=(("black", "==24.*"),))
    assert names(select_files(files, pinned, "black")) == [
        "black-24.1.0-py3-none-any.whl", "black-24.4.2.tar.gz", "black-24.2.0rc1.tar.gz"]
    no_pre = Filters(allow=frozenset({"black"}), pins=(("black", "==24.*"),), prereleases=False)
    assert "black-24.2.0rc1.tar.gz" not in names(select_files(files, no_pre, "black"))
    assert len(select_files(files, pinned, "other")) == len(files), "a pin applies to its own project only"


@pytest.mark.parametrize(("filename", "requires_python", "served"), [
    ("x-1.0-py3-none-any.whl", None, True),
    ("x-1.0-py2-none-any.whl", None, False),
    ("x-1.0-py2.py3-none-any.whl", None, True),
    ("x-1.0-cp38-cp38-manylinux_2_28_x86_64.whl", None, False),
    ("x-1.0-cp312-cp312-manylinux_2_28_x86_64.whl", None, True),
    ("x-1.0-cp38-abi3-manylinux_2_28_x86_64.whl", None, True),  # abi3: CPython 3.8 and later
    ("x-1.0-cp314-abi3-manylinux_2_28_x86_64.whl", None, False),
    ("x-1.0-pp39-pypy39_pp73-manylinux_2_28_x86_64.whl", None, False),
    ("x-1.0-pp310-pypy310_pp73-manylinux_2_28_x86_64.whl", None, True),
    ("x-1.0-py38-none-any.whl", None, True),  # py38: 3.8 and later
    ("x-1.0-cp27-cp27mu-manylinux1_x86_64.whl", None, False),
    ("x-1.0-py3-none-any.whl", "<3", False),
    ("x-1.0-py3-none-any.whl", ">=3.14", False),
    ("x-1.0-py3-none-any.whl", ">=3.13.1", True),
    ("x-1.0.tar.gz", ">=2.7, !=3.0.*, <3.9", False),
    ("x-1.0.tar.gz", ">=3.8", True),
    ("x-1.0.tar.gz", "not a specifier", True),
    ("x-1.0-py2.7.egg", None, False),
    ("x-1.0.win32-py2.7.exe", None, False),
])
def test_python_versions_exclude_files_only_for_pythons_the_mirror_does_not_serve(filename, requires_python, served):
    assert serves_python(dist(filename, requires_python=requires_python), SERVED) is served


def test_project_size_cap_keeps_the_newest_whole_releases_that_fit_passing_over_one_too_big():
    files = [dist("x-1.0.tar.gz", 400), dist("x-1.0-py3-none-any.whl", 400), dist("x-2.0.tar.gz", 300),
             dist("x-2.0-py3-none-any.whl", 300), dist("x-3.0.tar.gz", 500)]
    assert names(select_files(files, Filters(max_project_size=1100))) == [
        "x-2.0.tar.gz", "x-2.0-py3-none-any.whl", "x-3.0.tar.gz"]
    assert names(select_files(files, Filters(max_project_size=900))) == ["x-3.0.tar.gz"]
    big_newest = [dist("y-1.0.tar.gz", 100), dist("y-2.0.tar.gz", 1000)]
    assert names(select_files(big_newest, Filters(max_project_size=500))) == ["y-1.0.tar.gz"]
    assert names(select_files(files, Filters(max_project_size=299))) == [], "no release fits"


def test_plan_skips_files_over_max_file_size_and_the_page_lists_only_the_rest():
    page = ProjectPage("x", (dist("x-1.0.tar.gz", 50), dist("x-1.0-cp312-cp312-win_amd64.whl", 5000)))
    plan = plan_project(page, None, Filters(), max_file_size=1000)
    assert names(plan.skipped) == ["x-1.0-cp312-cp312-win_amd64.whl"]
    assert names(plan.desired.files) == names(plan.to_fetch) == ["x-1.0.tar.gz"]


# ---- end to end -------------------------------------------------------------------------------------------------


def _sync(origin, target: Path, tmp_path: Path, config: str):
    path = tmp_path / "mirror.toml"
    path.write_text(config)
    return cloudpypi("sync", "--origin", origin.url, "--target", str(target), "--no-progress", "--config", str(path),
                     report=tmp_path / "report.json")


def _page_files(target: Path, name: str) -> list[str]:
    page = json.loads((target / "simple" / name / "index.v1_json").read_text())
    return sorted(f["filename"] for f in page["files"])


def _stored(target: Path) -> list[str]:
    return sorted(p.name for p in (target / "packages").rglob("*") if p.is_file() and not p.name.endswith(".metadata"))


@pytest.fixture
def filter_origin():
    corpus = Corpus()
    corpus.add_project("black", [{"version": v, "files": ["py3-none-any"]} for v in ("23.12.1", "24.1.0", "24.4.2",
                                                                                      "25.1.0")])
    corpus.add_project("oldlib", [
        {"version": "1.0", "files": ["py2-none-any", "cp38-cp38-manylinux_2_28_x86_64"]},
        {"version": "2.0", "files": ["sdist"], "requires_python": "<3"},
        {"version": "3.0", "files": ["cp312-cp312-manylinux_2_28_x86_64", "cp38-abi3-manylinux_2_28_x86_64",
                                     "sdist"], "requires_python": ">=3.8"},
    ])
    corpus.add_project("bigwheels", [
        {"version": "1.0", "files": [("py3-none-any", 20_000)]},
        {"version": "2.0", "files": [("py3-none-any", 20_000), ("cp312-cp312-win_amd64", 400_000)]},
    ])
    with running_origin(corpus) as origin:
        yield origin


def test_release_pins_python_versions_and_size_caps_end_to_end(filter_origin, tmp_path):
    target = tmp_path / "mirror"
    config = """
[mirror]
max_file_size = "200KB"
[filters]
allow = ["black==24.*", "oldlib", "bigwheels"]
pythons = ["3.10", "3.11", "3.12", "3.13"]
"""
    run = _sync(filter_origin, target, tmp_path, config)
    assert run.returncode == 0, run
    assert _page_files(target, "black") == ["black-24.1.0-py3-none-any.whl", "black-24.4.2-py3-none-any.whl"]
    assert _page_files(target, "oldlib") == ["oldlib-3.0-cp312-cp312-manylinux_2_28_x86_64.whl",
                                             "oldlib-3.0-cp38-abi3-manylinux_2_28_x86_64.whl", "oldlib-3.0.tar.gz"]
    assert _page_files(target, "bigwheels") == ["bigwheels-1.0-py3-none-any.whl", "bigwheels-2.0-py3-none-any.whl"]
    assert _stored(target) == sorted(_page_files(target, "black") + _page_files(target, "oldlib")
                                     + _page_files(target, "bigwheels")), "stored files are exactly the listed ones"
    # the too-large wheel: skipped and reported, not a failure
    assert run.report["ok"] and not run.report["failures"], run.report["failures"]
    assert [(s["project"], s["filename"]) for s in run.report["skipped"]] == [
        ("bigwheels", "bigwheels-2.0-cp312-cp312-win_amd64.whl")]
    assert "skipped 1 file(s) over the size cap" in run.stdout
    assert "bigwheels-2.0-cp312-cp312-win_amd64.whl skipped" in run.stderr

    # raising the cap brings the skipped file in on the next run
    config = config.replace('"200KB"', '"1MB"')
    run = _sync(filter_origin, target, tmp_path, config)
    assert run.returncode == 0, run
    assert "bigwheels-2.0-cp312-cp312-win_amd64.whl" in _page_files(target, "bigwheels")


def test_per_project_size_cap_end_to_end(filter_origin, tmp_path):
    target = tmp_path / "mirror"
    run = _sync(filter_origin, target, tmp_path, '[filters]\nallow = ["bigwheels"]\nmax_project_size = "100KB"\n')
    assert run.returncode == 0, run
    assert _page_files(target, "bigwheels") == ["bigwheels-1.0-py3-none-any.whl"], "2.0 (420 kB) does not fit"
