"""End to end: the real CLI syncing from the fake origin into a folder."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from cloudpypi.pages import parse_mirror_json
from engine.conftest import cloudpypi


def sync(origin, target: Path, tmp_path: Path, *extra: str, config: str | None = None):
    args = ["sync", "--origin", origin.url, "--target", str(target), "--no-progress", *extra]
    if config is not None:
        path = tmp_path / "mirror.toml"
        path.write_text(config)
        args += ["--config", str(path)]
    return cloudpypi(*args, report=tmp_path / "report.json")


def linked_files(target: Path, name: str) -> dict[str, str]:
    page = parse_mirror_json((target / "simple" / name / "index.v1_json").read_bytes(), name)
    return {f.filename: f.key for f in page.files}


def assert_links_resolve(target: Path) -> None:
    """Every file each page links is stored with the hash the page states."""
    for page_path in (target / "simple").glob("*/index.v1_json"):
        page = parse_mirror_json(page_path.read_bytes(), page_path.parent.name)
        for item in page.files:
            stored = target / item.key
            assert stored.is_file(), f"{page.name} links {item.key}, which is not stored"
            assert hashlib.sha256(stored.read_bytes()).hexdigest() == item.sha256, f"{item.key} has wrong bytes"


def test_full_sync_writes_bandersnatch_layout_with_all_three_representations(origin, tmp_path):
    target = tmp_path / "mirror"
    run = sync(origin, target, tmp_path)
    assert run.returncode == 0, run
    for name in ("foo-bar", "idna", "tiny-pkg"):
        for page in ("index.html", "index.v1_html", "index.v1_json"):
            assert (target / "simple" / name / page).is_file(), f"missing simple/{name}/{page}"
    root = json.loads((target / "simple" / "index.v1_json").read_text())
    assert sorted(p["name"] for p in root["projects"]) == ["foo-bar", "idna", "tiny-pkg"]
    assert all(isinstance(p["_last-serial"], int) for p in root["projects"])
    assert root["meta"]["_last-serial"] == run.report["serial_after"] == origin.corpus.serial
    assert_links_resolve(target)
    metadata = list(target.glob("packages/**/*.whl.metadata"))
    assert metadata, "PEP 658 metadata files were not mirrored"
    assert not list((target / ".cloudpypi").glob("tmp/*.part")), "staging debris left behind"
    assert run.report["files_added"] == sum(len(linked_files(target, n)) for n in ("foo-bar", "idna", "tiny-pkg"))


def test_noop_run_costs_one_request_and_incremental_run_is_proportional(origin, tmp_path):
    target = tmp_path / "mirror"
    assert sync(origin, target, tmp_path).returncode == 0
    origin.counters.reset()
    noop = sync(origin, target, tmp_path)
    assert noop.returncode == 0, noop
    assert origin.counters.total() == 1, f"no-op made {origin.counters.summary()}"
    assert noop.report["mode"] == "no-op" and noop.report["changed_paths"] == []

    origin.corpus.add_release("idna", "3.2", files=["py3-none-any"])
    origin.counters.reset()
    run = sync(origin, target, tmp_path)
    assert run.returncode == 0, run
    kinds = origin.counters.by_kind()
    assert kinds.get("project") == 1 and kinds.get("file") == 1 and "root" not in kinds, kinds
    assert run.report["changed_paths"] == ["/simple/idna/", "/simple/"]
    assert "idna-3.2-py3-none-any.whl" in linked_files(target, "idna")


def test_static_origin_without_changelog_or_headers_works_and_noop_is_one_root_fetch(corpus, tmp_path):
    from support.fakeorigin import running_origin

    with running_origin(corpus, static=True) as origin:
        target = tmp_path / "mirror"
        first = sync(origin, target, tmp_path)
        assert first.returncode == 0, first
        assert_links_resolve(target)
        origin.counters.reset()
        noop = sync(origin, target, tmp_path)
        assert noop.returncode == 0, noop
        assert origin.counters.by_kind() == {"root": 1}, origin.counters.summary()
        origin.corpus.add_release("tiny-pkg", "0.2", files=["py3-none-any"])
        origin.counters.reset()
        run = sync(origin, target, tmp_path)
        assert run.returncode == 0, run
        assert origin.counters.by_kind().get("project") == 1, origin.counters.summary()
        assert "tiny_pkg-0.2-py3-none-any.whl" in linked_files(target, "tiny-pkg")


def test_html_only_origin_is_mirrored_too(corpus, tmp_path):
    from support.fakeorigin import running_origin

    with running_origin(corpus, html_only=True) as origin:
        target = tmp_path / "mirror"
        run = sync(origin, target, tmp_path, "--full")
        assert run.returncode == 0, run
        assert_links_resolve(target)
        assert len(linked_files(target, "idna")) == 3


def test_removed_file_leaves_pages_at_once_and_storage_after_the_grace_period(origin, tmp_path):
    target = tmp_path / "mirror"
    assert sync(origin, target, tmp_path).returncode == 0
    key = linked_files(target, "idna")["idna-3.0-py3-none-any.whl"]
    origin.corpus.remove_file("idna", "idna-3.0-py3-none-any.whl")
    run = sync(origin, target, tmp_path, config="[mirror]\ndeletion_grace = 3600\n")
    assert run.returncode == 0, run
    assert "idna-3.0-py3-none-any.whl" not in (target / "simple/idna/index.html").read_text()
    assert "idna-3.0-py3-none-any.whl" not in linked_files(target, "idna")
    assert (target / key).is_file(), "the file must stay fetchable during the grace period"
    origin.corpus.touch("tiny-pkg")
    run = sync(origin, target, tmp_path, config="[mirror]\ndeletion_grace = 0\n")
    assert run.returncode == 0, run
    assert (target / key).is_file(), "a deletion keeps the due time set when it was scheduled"
    os.utime(target / ".cloudpypi/state.sqlite")  # no clock games: re-schedule with a zero grace instead
    import sqlite3

    with sqlite3.connect(target / ".cloudpypi/state.sqlite") as db:
        db.execute("UPDATE deletions SET due = 0")
    origin.corpus.touch("tiny-pkg")
    run = sync(origin, target, tmp_path)
    assert run.returncode == 0 and run.report["files_deleted"] >= 1, run
    assert not (target / key).exists(), "the file must be gone after the grace period"


def test_removed_project_disappears_from_root_and_pages(origin, tmp_path):
    target = tmp_path / "mirror"
    assert sync(origin, target, tmp_path).returncode == 0
    origin.corpus.remove_project("tiny-pkg")
    run = sync(origin, target, tmp_path)
    assert run.returncode == 0, run
    assert not (target / "simple/tiny-pkg/index.html").exists()
    assert "tiny-pkg" not in (target / "simple/index.html").read_text()
    assert run.report["projects_removed"] == 1


def test_project_mode_mirrors_only_the_named_projects(origin, tmp_path):
    target = tmp_path / "mirror"
    run = sync(origin, target, tmp_path, "--project", "IDNA")
    assert run.returncode == 0, run
    assert sorted(p.name for p in (target / "simple").iterdir() if p.is_dir()) == ["idna"]
    assert json.loads((target / "simple/index.v1_json").read_text())["projects"][0]["name"] == "idna"
    missing = sync(origin, target, tmp_path, "--project", "no-such-project")
    assert missing.returncode == 1 and "no-such-project" in missing.stdout, missing


def test_filter_change_takes_effect_on_the_next_run(origin, tmp_path):
    target = tmp_path / "mirror"
    assert sync(origin, target, tmp_path).returncode == 0
    assert "foo_bar-1.1-cp312-cp312-win_amd64.whl" in linked_files(target, "foo-bar")
    config = '[filters]\nexclude_platforms = ["win*"]\nblock = ["tiny_pkg"]\nprereleases = false\n'
    run = sync(origin, target, tmp_path, config=config)
    assert run.returncode == 0, run
    files = linked_files(target, "foo-bar")
    assert "foo_bar-1.1-cp312-cp312-win_amd64.whl" not in files and "foo_bar-2.0rc1-py3-none-any.whl" not in files
    assert "foo_bar-1.1-cp312-cp312-manylinux_2_28_x86_64.whl" in files
    assert not (target / "simple/tiny-pkg").exists(), "a blocked project must be removed"


def test_dry_run_plans_and_changes_nothing(origin, tmp_path):
    target = tmp_path / "mirror"
    run = sync(origin, target, tmp_path, "--dry-run")
    assert run.returncode == 0, run
    assert "foo-bar: fetch" in run.stdout and run.report["planned"]["files"] > 0
    assert not (target / "simple").exists() and not list(target.glob("packages/**/*.whl"))
    assert origin.counters.by_kind().get("file") is None, "a dry run must not download files"


def test_hostile_project_fails_alone_and_exit_code_says_so(origin, tmp_path):
    origin.corpus.override_page("idna", json=json.dumps({
        "meta": {"api-version": "1.1", "_last-serial": 99}, "name": "idna",
        "files": [{"filename": "../../evil.whl", "url": "https://127.0.0.1/packages/../../evil.whl",
                   "hashes": {"sha256": "ab" * 32}}]}))
    target = tmp_path / "mirror"
    run = sync(origin, target, tmp_path)
    assert run.returncode == 1, run
    assert "idna" in run.stdout and [f["project"] for f in run.report["failures"]] == ["idna"]
    assert (target / "simple/foo-bar/index.html").is_file(), "the rest of the run must go on"
    assert not (tmp_path / "evil.whl").exists() and not list(tmp_path.rglob("evil.whl"))


def test_corrupt_download_is_retried_and_never_stored(origin, tmp_path):
    origin.faults.add("corrupt", first_n=2, on=("file",))
    target = tmp_path / "mirror"
    run = sync(origin, target, tmp_path)
    assert run.returncode == 0, run
    assert_links_resolve(target)


def test_persistently_corrupt_file_fails_the_project_and_is_not_linked(origin, tmp_path):
    origin.faults.add("corrupt", rate=1.0, on=("file",), path=r".*tiny_pkg.*")
    target = tmp_path / "mirror"
    run = sync(origin, target, tmp_path, config="[mirror]\nretries = 1\n")
    assert run.returncode == 1, run
    assert "tiny-pkg" in run.stdout and "sha256 mismatch" in run.stdout
    assert_links_resolve(target)
    assert not list(target.glob("packages/**/tiny_pkg*.whl"))
    origin.faults.clear()
    again = sync(origin, target, tmp_path)
    assert again.returncode == 0, again
    assert "tiny_pkg-0.1-py3-none-any.whl" in linked_files(target, "tiny-pkg"), "the failed project is retried"


def test_second_sync_refuses_while_the_lock_is_held(origin, tmp_path):
    from cloudpypi.config import Config
    from cloudpypi.lock import TargetLock
    from cloudpypi.storage import open_target

    target = tmp_path / "mirror"
    with TargetLock(open_target(Config(target=str(target)))):
        run = sync(origin, target, tmp_path)
    assert run.returncode == 75, run
    assert "locked by sync pid" in run.stderr


def test_verify_finds_a_corrupted_file_and_repair_refetches_it(origin, tmp_path):
    target = tmp_path / "mirror"
    assert sync(origin, target, tmp_path).returncode == 0
    config = tmp_path / "verify.toml"  # the origin that --repair re-fetches from (--origin checks against it)
    config.write_text(f'[mirror]\norigin = "{origin.url}"\n')
    ok = cloudpypi("verify", "--target", str(target), "--config", str(config))
    assert ok.returncode == 0 and "OK" in ok.stdout, ok
    victim = target / linked_files(target, "idna")["idna-3.1-py3-none-any.whl"]
    victim.write_bytes(b"garbage")
    bad = cloudpypi("verify", "--target", str(target), "--config", str(config))
    assert bad.returncode == 1 and "idna" in bad.stdout and "size" in bad.stdout, bad
    fixed = cloudpypi("verify", "--target", str(target), "--config", str(config), "--repair")
    assert fixed.returncode == 0, fixed
    assert_links_resolve(target)


def test_status_shows_serial_lag_and_counts(origin, tmp_path):
    target = tmp_path / "mirror"
    assert sync(origin, target, tmp_path).returncode == 0
    origin.corpus.touch("idna")
    status = cloudpypi("status", "--target", str(target), "--origin", origin.url, "--json")
    assert status.returncode == 0, status
    info = json.loads(status.stdout)
    assert info["lag"] == 1 and info["projects"] == 3 and info["files"] > 0 and info["last_result"] == "ok"


def test_status_reports_unknown_lag_when_the_origin_is_down(origin, tmp_path):
    target = tmp_path / "mirror"
    assert sync(origin, target, tmp_path).returncode == 0
    status = cloudpypi("status", "--target", str(target), "--origin", "http://127.0.0.1:9/")
    assert status.returncode == 0, status
    assert "lag unknown" in status.stdout


@pytest.mark.parametrize("bad_args,message", [
    (["--workers", "0"], "--workers"),
    (["--project", "../etc"], "not a valid"),
])
def test_bad_cli_input_gets_a_clear_error_and_exit_2(origin, tmp_path, bad_args, message):
    run = sync(origin, tmp_path / "mirror", tmp_path, *bad_args)
    assert run.returncode in (1, 2) and message in run.stderr, run
    assert not (tmp_path / "etc").exists()


def test_unreachable_origin_fails_with_exit_1_and_still_writes_a_report(tmp_path):
    run = cloudpypi("sync", "--origin", "http://127.0.0.1:9", "--target", str(tmp_path / "m"), "--no-progress",
                    "--config", str(_write(tmp_path / "c.toml", "[mirror]\nretries = 0\ntimeout = 2\n")),
                    report=tmp_path / "r.json")
    assert run.returncode == 1, run
    assert run.report and run.report["failures"][0]["project"] == "(run)", run.report
    assert "127.0.0.1:9" in run.stdout


def test_report_dir_keeps_each_run_and_a_latest_copy(origin, tmp_path):
    reports = tmp_path / "reports"
    for _ in range(2):
        run = cloudpypi("sync", "--origin", origin.url, "--target", str(tmp_path / "m"), "--no-progress",
                        "--report-dir", str(reports))
        assert run.returncode == 0, run
    latest = json.loads((reports / "latest.json").read_text())
    assert latest["mode"] == "no-op" and latest["ok"] is True
    assert len(list(reports.glob("sync-*.json"))) >= 1


def test_run_metrics_are_published_to_cloudwatch(origin, moto, tmp_path):
    config = _write(tmp_path / "c.toml", '[monitoring]\ncloudwatch_namespace = "CloudPyPI/Test"\n')
    run = cloudpypi("sync", "--origin", origin.url, "--target", str(tmp_path / "m"), "--no-progress",
                    "--config", str(config), env=moto.env())
    assert run.returncode == 0, run
    metrics = moto.client("cloudwatch").list_metrics(Namespace="CloudPyPI/Test")["Metrics"]
    assert {m["MetricName"] for m in metrics} >= {"LastSuccessTime", "SerialLag", "FailedFiles"}, metrics


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
