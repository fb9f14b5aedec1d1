"""Incremental closure runs: reuse when nothing it uses changed, recompute when the changelog names one of
its projects, pick up new fitting releases, and let dropped files go after the deletion grace."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from closure.graph import build_corpus, closure_table
from cloudpypi.config import parse_config
from cloudpypi.report import Report
from cloudpypi.sync import SyncOptions, run_sync
from support.fakeorigin import Corpus, OriginServer, running_origin


@pytest.fixture()
def live() -> Iterator[tuple[Corpus, OriginServer]]:
    corpus = build_corpus()
    with running_origin(corpus) as server:
        yield corpus, server


def sync(server: OriginServer, target: Path, retries: int = 5, **overrides: object) -> Report:
    config = parse_config({
        "mirror": {"origin": server.url, "target": str(target), "allowed_hosts": ["127.0.0.1"], "workers": 4,
                   "deletion_grace": 3600, "retries": retries},
        "closure": closure_table(pythons=["3.12"], **overrides),
    })
    return run_sync(config, SyncOptions(progress=False))


def listed(target: Path, project: str) -> set[str]:
    page = json.loads((target / "simple" / project / "index.v1_json").read_text())
    return {f["filename"] for f in page["files"]}


def stored(target: Path) -> set[str]:
    return {p.name for p in (target / "packages").rglob("*.whl")}


def test_no_op_run_reads_only_the_changelog(live: tuple[Corpus, OriginServer], tmp_path: Path) -> None:
    _corpus, server = live
    first = sync(server, tmp_path)
    assert first.files_added > 0
    second = sync(server, tmp_path)
    assert second.requests == {"xmlrpc": 1}, f"expected one changelog call and nothing else, got {second.requests}"
    assert second.files_added == 0 and second.changed_paths == []
    assert [f.project for f in second.failures] == ["ghost>=1"], "the missing dependency is reported every run"


def test_change_outside_the_closure_does_not_recompute_it(live: tuple[Corpus, OriginServer], tmp_path: Path) -> None:
    corpus, server = live
    sync(server, tmp_path)
    corpus.add_release("unrelated", "2.0")
    report = sync(server, tmp_path)
    assert report.requests.get("project", 0) == 0, f"no project page should be fetched, got {report.requests}"
    assert report.changed_paths == []


def test_new_release_of_a_dependency_in_range_is_picked_up_and_the_old_file_waits_for_the_grace(
        live: tuple[Corpus, OriginServer], tmp_path: Path) -> None:
    corpus, server = live
    sync(server, tmp_path)
    old = {f for f in listed(tmp_path, "liba") if f.startswith("liba-1.5-")}
    assert old, "liba 1.5 should be mirrored first"
    corpus.add_release("liba", "1.7", files=["py3-none-any"])
    server.counters.reset()
    report = sync(server, tmp_path)
    assert listed(tmp_path, "liba") == {"liba-1.7-py3-none-any.whl"}, f"got {listed(tmp_path, 'liba')}"
    assert "/simple/liba/" in report.changed_paths, f"liba's page should change: {report.changed_paths}"
    pages = server.counters.paths("project")
    assert len(pages) == len(set(pages)) and "/simple/liba/" in pages, (
        f"the recomputation fetches each consulted page once, and the sync reuses them: {sorted(pages)}")
    assert old <= stored(tmp_path), "dropped files stay until the deletion grace has passed"
    from cloudpypi.config import Config
    from cloudpypi.state import State
    from cloudpypi.storage import open_target

    state = State.open(open_target(Config(target=str(tmp_path))), read_only=True)
    try:
        due = {key.rsplit("/", 1)[-1] for key, in state.db.execute("SELECT key FROM deletions")}
    finally:
        state.close()
    assert old <= due, f"expected liba 1.5's files scheduled for deletion, got {sorted(due)}"


def test_a_release_outside_the_range_changes_nothing_but_is_noticed(live: tuple[Corpus, OriginServer],
                                                                     tmp_path: Path) -> None:
    corpus, server = live
    sync(server, tmp_path)
    before = stored(tmp_path)
    corpus.add_release("liba", "3.0", files=["py3-none-any"])
    report = sync(server, tmp_path)
    assert stored(tmp_path) == before, f"liba 3.0 is outside <2: nothing new, got {stored(tmp_path) - before}"
    assert report.requests.get("project", 0) > 0, "liba is in the closure, so the closure was recomputed"


def test_a_missing_dependency_that_appears_is_mirrored_on_the_next_run(live: tuple[Corpus, OriginServer],
                                                                       tmp_path: Path) -> None:
    corpus, server = live
    assert not sync(server, tmp_path).ok
    corpus.add_project("ghost", [{"version": "1.0", "files": ["py3-none-any"]}])
    report = sync(server, tmp_path)
    assert report.ok, f"expected nothing missing any more, got {report.failures}"
    assert listed(tmp_path, "ghost") == {"ghost-1.0-py3-none-any.whl"}


def test_project_leaving_the_closure_is_removed_from_the_index(live: tuple[Corpus, OriginServer],
                                                               tmp_path: Path) -> None:
    _corpus, server = live
    sync(server, tmp_path)
    assert (tmp_path / "simple" / "broken").is_dir()
    report = sync(server, tmp_path, requirements=["app"])
    assert report.ok, f"app alone resolves fully, got {report.failures}"
    assert not (tmp_path / "simple" / "broken").exists(), "broken left the closure: its pages go at once"
    assert "broken-1.0-py3-none-any.whl" in stored(tmp_path), "its file waits for the deletion grace"
    root = json.loads((tmp_path / "simple" / "index.v1_json").read_text())
    assert "broken" not in {p["name"] for p in root["projects"]}


def test_a_run_killed_after_deciding_is_completed_by_the_next_run(live: tuple[Corpus, OriginServer],
                                                                  tmp_path: Path) -> None:
    """select_closure stores the new selection before the sync writes pages; if the run dies right there,
    the next run reuses that selection (nothing changed upstream since) and must still write liba's page."""
    from cloudpypi.closure import select_closure
    from cloudpypi.config import Config
    from cloudpypi.origin import OriginClient
    from cloudpypi.state import State
    from cloudpypi.storage import open_target

    corpus, server = live
    sync(server, tmp_path)
    corpus.add_release("liba", "1.7", files=["py3-none-any"])
    config = parse_config({"mirror": {"origin": server.url, "target": str(tmp_path)},
                           "closure": closure_table(pythons=["3.12"])})
    client = OriginClient(server.url, allowed_hosts=frozenset({"127.0.0.1"}))
    state = State.open(open_target(Config(target=str(tmp_path))))
    try:
        selection = select_closure(config, client, state, client.changelog_last_serial())
    finally:
        state.close()
        client.close()
    assert selection.resync == {"liba"}, f"expected liba to need its page rewritten, got {selection.resync}"
    # ...and the run dies here, before any page is written.
    assert any(f.startswith("liba-1.5-") for f in listed(tmp_path, "liba"))
    report = sync(server, tmp_path)
    assert listed(tmp_path, "liba") == {"liba-1.7-py3-none-any.whl"}, (
        f"the next run should finish the killed run's work, liba lists {listed(tmp_path, 'liba')}")
    assert "/simple/liba/" in report.changed_paths
    again = sync(server, tmp_path)
    assert again.requests == {"xmlrpc": 1}, f"once written, nothing is pending any more: {again.requests}"


def test_an_origin_failure_while_recomputing_never_drops_mirrored_files(live: tuple[Corpus, OriginServer],
                                                                        tmp_path: Path) -> None:
    corpus, server = live
    sync(server, tmp_path)
    before_files, before_liba = stored(tmp_path), listed(tmp_path, "liba")
    corpus.add_release("liba", "1.7", files=["py3-none-any"])
    server.faults.add("http_500", on=("project",), path="/simple/liba/")
    report = sync(server, tmp_path, retries=0)
    assert not report.ok and any("liba" in f.reason for f in report.failures), (
        f"expected the unreadable liba page reported, got {report.failures}")
    assert listed(tmp_path, "liba") == before_liba and stored(tmp_path) == before_files, (
        "an incomplete view of the origin must not change or drop what is mirrored")
    assert report.files_deleted == 0 and report.projects_removed == 0
    server.faults.clear()
    healed = sync(server, tmp_path)
    assert listed(tmp_path, "liba") == {"liba-1.7-py3-none-any.whl"}, (
        f"the next run recomputes the incomplete closure, liba lists {listed(tmp_path, 'liba')}")
    assert [f.project for f in healed.failures] == ["ghost>=1"]
