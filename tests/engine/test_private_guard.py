"""The dependency-confusion guard, end to end: private uploads beside a mirror of the fake origin, where
the origin has a private name too, with a higher version.  A sync keeps the origin's files out of the
private name, reports the collision once, and real pip installs the private releases from the mirror
alone.  A private project opted in to the origin's releases lists both, with PEP 708 tracks."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from cloudpypi.pages import parse_mirror_json
from engine.conftest import cloudpypi, small_corpus
from support.dists import sdist, wheel
from support.fakeorigin import Corpus, running_origin


@pytest.fixture
def corpus() -> Corpus:
    corpus = small_corpus()
    # the attacker's release: the private name, with a higher version than any private one
    corpus.add_project("acme-utils", [{"version": "99.0", "files": ["py3-none-any", "sdist"]}])
    return corpus


@pytest.fixture
def origin(corpus):
    with running_origin(corpus) as server:
        yield server


def page(target: Path, name: str):
    return parse_mirror_json((target / "simple" / name / "index.v1_json").read_bytes(), name)


def sync(origin, target: Path, tmp_path: Path, *extra: str, config: Path | None = None):
    args = ["--config", str(config)] if config else []
    return cloudpypi("sync", *args, "--origin", origin.url, "--target", str(target), "--no-progress", *extra,
                     report=tmp_path / "report.json")


def upload(target: Path, *dists: Path, config: Path | None = None):
    args = ["--config", str(config)] if config else []
    return cloudpypi("upload", *args, "--target", str(target), *map(str, dists))


def pip_install(target: Path, site: Path, *requirements: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update({"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"})
    return subprocess.run(
        [sys.executable, "-m", "pip", "install", "--isolated", "--no-cache-dir", "--no-deps",
         "--index-url", (target / "simple").as_uri() + "/", "--target", str(site), *requirements],
        capture_output=True, text=True, env=env, timeout=300)


def installed_marker(site: Path, module: str) -> str:
    text = (site / module / "__init__.py").read_text()
    return next(line for line in text.splitlines() if line.startswith("MARKER")).split("=", 1)[1].strip().strip("'")


def test_a_sync_keeps_the_origins_files_out_of_a_private_name_and_pip_installs_the_private_releases(
        origin, tmp_path):
    target, dists = tmp_path / "mirror", tmp_path / "dists"
    dists.mkdir()
    private_wheel = wheel(dists, "acme-utils", "1.0", marker="private")
    internal = wheel(dists, "acme-internal", "0.1", marker="internal")
    assert upload(target, private_wheel, sdist(dists, "acme-utils", "1.0"), internal).returncode == 0

    run = sync(origin, target, tmp_path)
    assert run.returncode == 0, run
    listed = page(target, "acme-utils")
    assert {f.filename for f in listed.files} == {"acme_utils-1.0-py3-none-any.whl", "acme_utils-1.0.tar.gz"}
    assert all(f.key.startswith("packages/private/acme-utils/") for f in listed.files), listed.files
    assert listed.versions == ("1.0",) and not listed.tracks
    assert not [p for p in origin.counters.paths("file") if "acme" in p.lower()], \
        "the origin's files of a private name must not even be downloaded"
    assert not [p for p in origin.counters.paths("project") if "acme-utils" in p], \
        "the origin's page of a private name is not fetched"
    assert (target / "simple" / "idna" / "index.v1_json").exists(), "public projects are mirrored as usual"
    assert (target / "simple" / "acme-internal" / "index.v1_json").exists(), \
        "a private project the origin lacks is not removed by a sync"
    root = [p["name"] for p in json.loads((target / "simple" / "index.v1_json").read_bytes())["projects"]]
    assert {"acme-utils", "acme-internal", "idna"} <= set(root), root

    report = run.report
    assert report["collisions"] == [{"project": "acme-utils", "origin_serial": report["origin_serial"]}], report
    assert {"project": "acme-utils", "decision": "kept-apart"}.items() <= report["guard"][0].items(), report["guard"]
    assert any("COLLISION" in line and "acme-utils" in line for line in run.stdout.splitlines()), run.stdout

    # the collision is reported once; the guard still decides (and says so) on every run that meets the name
    run = sync(origin, target, tmp_path, "--full")
    assert run.returncode == 0, run
    assert run.report["collisions"] == [], "a known collision is not reported again"
    assert [d["decision"] for d in run.report["guard"] if d["project"] == "acme-utils"] == ["kept-apart"]
    assert {f.filename for f in page(target, "acme-utils").files} == {f.filename for f in listed.files}

    status = json.loads(cloudpypi("status", "--target", str(target), "--offline", "--json").stdout)
    assert status["private_projects"] == ["acme-internal", "acme-utils"]
    assert [(c["name"], c["origin_serial"]) for c in status["collisions"]] == [
        ("acme-utils", report["origin_serial"])], status
    text = cloudpypi("status", "--target", str(target), "--offline").stdout
    assert "collision    acme-utils" in text, text

    site = tmp_path / "site"
    result = pip_install(target, site, "acme-utils", "acme-internal", "idna")
    assert result.returncode == 0, f"pip install from the mirror failed:\n{result.stderr[-3000:]}"
    assert (site / "acme_utils-1.0.dist-info").is_dir(), sorted(p.name for p in site.iterdir())
    assert installed_marker(site, "acme_utils") == "private", "pip must get the private release, not the origin's 99.0"
    assert installed_marker(site, "acme_internal") == "internal"


def test_a_changelog_sync_that_meets_the_private_name_keeps_it_apart(origin, tmp_path):
    target, dists = tmp_path / "mirror", tmp_path / "dists"
    dists.mkdir()
    assert sync(origin, target, tmp_path).returncode == 0  # acme-utils mirrored from the origin first
    public_keys = {f.key for f in page(target, "acme-utils").files}
    run = upload(target, wheel(dists, "acme-utils", "1.0", marker="private"))
    assert run.returncode == 0, run
    assert "was mirrored from the origin" in run.stdout, run.stdout
    assert [f.filename for f in page(target, "acme-utils").files] == ["acme_utils-1.0-py3-none-any.whl"]
    with sqlite3.connect(target / ".cloudpypi" / "state.sqlite") as db:
        due = {row[0] for row in db.execute("SELECT key FROM deletions")}
    assert public_keys <= due, "the origin's files leave the page and are deleted after the grace period"

    origin.corpus.add_release("acme-utils", "100.0", files=["py3-none-any"])
    run = sync(origin, target, tmp_path)
    assert run.returncode == 0 and run.report["mode"] == "changelog", run
    assert [f.filename for f in page(target, "acme-utils").files] == ["acme_utils-1.0-py3-none-any.whl"]
    assert [d["decision"] for d in run.report["guard"]] == ["kept-apart"], run.report["guard"]
    assert run.report["collisions"] == [], "the upload already recorded this collision"


def test_a_private_project_that_tracks_the_origin_lists_both_with_pep_708_tracks(origin, tmp_path):
    target, dists = tmp_path / "mirror", tmp_path / "dists"
    dists.mkdir()
    config = tmp_path / "mirror.toml"
    config.write_text('[mirror]\nprocesses = 1\n[private]\ntrack_origin = ["Acme_Utils"]\n')
    assert upload(target, wheel(dists, "acme-utils", "1.0", marker="private"), config=config).returncode == 0
    run = sync(origin, target, tmp_path, config=config)
    assert run.returncode == 0, run
    listed = page(target, "acme-utils")
    assert {f.filename for f in listed.files} == {"acme_utils-1.0-py3-none-any.whl", "acme_utils-99.0-py3-none-any.whl",
                                                  "acme_utils-99.0.tar.gz"}, listed.files
    assert set(listed.versions) == {"1.0", "99.0"}
    tracks = f"{origin.url.rstrip('/')}/simple/acme-utils/"
    assert listed.tracks == (tracks,)
    raw = json.loads((target / "simple" / "acme-utils" / "index.v1_json").read_bytes())
    assert raw["meta"]["tracks"] == [tracks]
    html = (target / "simple" / "acme-utils" / "index.html").read_text()
    assert f'<meta name="pypi:tracks" content="{tracks}">' in html, html
    assert [d["decision"] for d in run.report["guard"] if d["project"] == "acme-utils"] == ["tracked"]

    origin.corpus.add_release("acme-utils", "100.0", files=["py3-none-any"])
    run = sync(origin, target, tmp_path, config=config)
    assert run.returncode == 0, run
    names = {f.filename for f in page(target, "acme-utils").files}
    assert {"acme_utils-1.0-py3-none-any.whl", "acme_utils-100.0-py3-none-any.whl"} <= names, \
        "the origin's new release joins, the private upload stays"

    assert upload(target, wheel(dists, "acme-utils", "1.1", marker="private"), config=config).returncode == 0
    names = {f.filename for f in page(target, "acme-utils").files}
    assert {"acme_utils-1.1-py3-none-any.whl", "acme_utils-100.0-py3-none-any.whl"} <= names, \
        "an upload to a tracking project keeps the origin's files on its page"


def test_a_state_from_before_private_projects_is_migrated_by_the_first_upload(origin, tmp_path):
    target = tmp_path / "mirror"
    assert sync(origin, target, tmp_path).returncode == 0
    path = target / ".cloudpypi" / "state.sqlite"
    with sqlite3.connect(path) as db:  # as an older cloudpypi left it
        for table in ("private_projects", "private_files", "collisions"):
            db.execute(f"DROP TABLE {table}")
        db.execute("UPDATE meta SET value='1' WHERE key='schema'")
    status = cloudpypi("status", "--target", str(target), "--offline", "--json")
    assert status.returncode == 0 and json.loads(status.stdout)["private_projects"] == [], status
    (tmp_path / "dists").mkdir()
    assert upload(target, wheel(tmp_path / "dists", "acme-internal", "0.1")).returncode == 0
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta WHERE key='schema'").fetchone() == ("2",)
        assert db.execute("SELECT name FROM private_projects").fetchall() == [("acme-internal",)]


def test_verify_against_the_origin_neither_checks_nor_names_private_projects(origin, tmp_path):
    target, dists = tmp_path / "mirror", tmp_path / "dists"
    dists.mkdir()
    # the same filename as the origin's acme-utils 99.0 wheel, other bytes: "tampered" if it were compared
    assert upload(target, wheel(dists, "acme-utils", "99.0", marker="private"),
                  wheel(dists, "acme-internal", "0.1")).returncode == 0
    assert sync(origin, target, tmp_path).returncode == 0
    origin.counters.reset()
    for extra in ([], ["--sample", "50"]):
        run = cloudpypi("verify", "--origin", origin.url, "--target", str(target), *extra)
        assert run.returncode == 0, run
    asked = origin.counters.paths()
    assert asked and not [p for p in asked if "acme" in p], f"private names must not reach the origin: {asked}"
    assert (target / "packages/private/acme-utils/acme_utils-99.0-py3-none-any.whl").exists()


def test_opting_in_later_takes_effect_at_the_next_sync_without_a_change_on_the_origin(origin, tmp_path):
    target, dists = tmp_path / "mirror", tmp_path / "dists"
    dists.mkdir()
    assert upload(target, wheel(dists, "acme-utils", "1.0", marker="private")).returncode == 0
    assert sync(origin, target, tmp_path).returncode == 0
    assert [f.filename for f in page(target, "acme-utils").files] == ["acme_utils-1.0-py3-none-any.whl"]
    config = tmp_path / "mirror.toml"
    config.write_text('[mirror]\nprocesses = 1\n[private]\ntrack_origin = ["acme-utils"]\n')
    run = sync(origin, target, tmp_path, config=config)
    assert run.returncode == 0 and run.report["mode"] == "no-op", run
    listed = page(target, "acme-utils")
    assert "acme_utils-99.0-py3-none-any.whl" in {f.filename for f in listed.files}, listed.files
    assert "acme_utils-1.0-py3-none-any.whl" in {f.filename for f in listed.files}
    assert listed.tracks, "a tracking project's page carries PEP 708 tracks"


def test_opting_out_again_takes_the_origins_files_off_the_page_at_the_next_sync(origin, tmp_path):
    target, dists = tmp_path / "mirror", tmp_path / "dists"
    dists.mkdir()
    tracking = tmp_path / "tracking.toml"
    tracking.write_text('[mirror]\nprocesses = 1\n[private]\ntrack_origin = ["acme-utils"]\n')
    assert upload(target, wheel(dists, "acme-utils", "1.0", marker="private"), config=tracking).returncode == 0
    assert sync(origin, target, tmp_path, config=tracking).returncode == 0
    public = {f.key for f in page(target, "acme-utils").files if not f.key.startswith("packages/private/")}
    assert public, "the tracking project lists the origin's files"

    run = sync(origin, target, tmp_path)  # the default: kept apart
    assert run.returncode == 0, run
    listed = page(target, "acme-utils")
    assert [f.filename for f in listed.files] == ["acme_utils-1.0-py3-none-any.whl"] and not listed.tracks
    assert "untracked" in [d["decision"] for d in run.report["guard"] if d["project"] == "acme-utils"], run.report
    with sqlite3.connect(target / ".cloudpypi" / "state.sqlite") as db:
        due = {row[0] for row in db.execute("SELECT key FROM deletions")}
    assert public <= due, "the origin's files are deleted after the grace period"

    run = sync(origin, target, tmp_path)
    assert run.returncode == 0 and "untracked" not in [d["decision"] for d in run.report["guard"]], run.report
