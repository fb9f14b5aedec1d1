"""Origin faults, alone and mixed, at rates up to 30%: the run ends complete and correct, or non-zero
naming the failed projects; either way no corrupt file is stored and no page links a missing or wrong
file.  A clean run afterwards converges to the complete mirror."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from support.fakeorigin import Corpus, running_origin

from .checker import assert_mirror_consistent
from .conftest import S3Target, folder
from .harness import Cli, assert_outcome, known_good, project_names, record, small_corpus

ALL_KINDS = ("root", "project", "file", "metadata", "xmlrpc")
FILES = ("file", "metadata")

# name -> (fault kind(s), rule options).  Rates stay at or under 30%.
CASES: dict[str, tuple[Any, dict[str, Any]]] = {
    "http_500": ("http_500", {"rate": 0.3, "on": ALL_KINDS}),
    "http_502": ("http_502", {"rate": 0.3, "on": ALL_KINDS}),
    "http_503": ("http_503", {"rate": 0.3, "on": ALL_KINDS}),
    "http_429_retry_after": ("http_429", {"rate": 0.3, "on": ALL_KINDS, "retry_after": 0.2}),
    "reset_before_response": ("reset", {"rate": 0.3, "on": ALL_KINDS}),
    "reset_mid_body": ("reset", {"rate": 0.3, "on": FILES, "after_bytes": 5000}),
    "read_timeout_before_headers": ("timeout", {"rate": 0.2, "on": ("project", "file"), "stall_s": 3.0}),
    "read_timeout_mid_body": ("timeout", {"rate": 0.2, "on": FILES, "stall_s": 3.0, "after_bytes": 4000}),
    "truncated_body": ("truncate", {"rate": 0.3, "on": ("project", "file", "metadata")}),
    "content_length_too_long": ("wrong_length", {"rate": 0.3, "on": FILES, "length_delta": 1000}),
    "content_length_too_short": ("wrong_length", {"rate": 0.3, "on": FILES, "length_delta": -100}),
    "corrupted_bytes": ("corrupt", {"rate": 0.3, "on": FILES, "corrupt_bytes": 3}),
    "metadata_not_matching_hash": ("bad_metadata", {"rate": 0.3}),
    "slow_origin": ("slow", {"rate": 0.3, "on": FILES, "bandwidth": 400_000}),
    "mixed_all_kinds": (
        ("http_500", "http_502", "http_503", "http_429", "reset", "truncate", "wrong_length", "corrupt",
         "bad_metadata", "timeout", "slow"),
        {"rate": 0.3, "on": ALL_KINDS, "retry_after": 0.2, "stall_s": 3.0, "bandwidth": 400_000},
    ),
}


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return small_corpus(5)


def _check_run(cli: Cli, origin_url: str, target: str, view: Any, corpus: Corpus, config: Path) -> int:
    expected = project_names(corpus)
    good = known_good(corpus)
    result = cli.sync(origin_url, target, config=config)
    assert_outcome(result, expected)
    summary = assert_mirror_consistent(view, known_good=good, check_s3_metadata=target.startswith("s3://"))
    if result.returncode == 0:
        assert summary.projects == expected, f"exit 0 but projects {summary.projects}, expected {expected}"
        assert set(summary.links) == set(good), (
            f"exit 0 but {len(set(good) - set(summary.links))} file(s) not linked: "
            f"{sorted(set(good) - set(summary.links))[:3]}")
    return result.returncode


def _converges(cli: Cli, origin: Any, target: str, view: Any, corpus: Corpus, config: Path) -> None:
    origin.faults.clear()
    result = cli.sync(origin.url, target, config=config)
    assert result.returncode == 0, f"expected the clean run after faults to succeed, got {result.describe()}"
    summary = assert_mirror_consistent(view, known_good=known_good(corpus))
    assert summary.projects == project_names(corpus), f"expected every project, got {summary.projects}"
    assert set(summary.links) == set(known_good(corpus)), "expected every origin file linked after the clean run"


@pytest.mark.parametrize("case", sorted(CASES))
def test_folder_sync_under_origin_fault_is_complete_or_names_failures(
        case: str, corpus: Corpus, cli: Cli, tmp_path: Path) -> None:
    kind, options = CASES[case]
    target, view = folder(tmp_path)
    config = cli.config({"timeout": 1, "workers": 4, "retries": 3})
    with running_origin(corpus, seed=sum(map(ord, case))) as origin:
        rule = origin.faults.add(kind, **options)
        code = _check_run(cli, origin.url, target, view, corpus, config)
        record("origin_fault", case=case, target="folder", exit=code, fired=rule.fired)
        assert rule.fired > 0, f"expected the {case} fault to fire at least once, it fired {rule.fired} times"
        if code != 0:  # an exit-0 run was already checked complete
            _converges(cli, origin, target, view, corpus, config)


@pytest.mark.moto
@pytest.mark.parametrize("case", ["mixed_all_kinds", "corrupted_bytes"])
def test_s3_sync_under_origin_fault_is_complete_or_names_failures(
        case: str, corpus: Corpus, s3_cli: Cli, s3: S3Target) -> None:
    kind, options = CASES[case]
    target, view = s3.new(f"faults-{case.replace('_', '-')}")
    config = s3_cli.config({"timeout": 1, "workers": 4, "retries": 3})
    with running_origin(corpus, seed=sum(map(ord, case))) as origin:
        rule = origin.faults.add(kind, **options)
        code = _check_run(s3_cli, origin.url, target, view, corpus, config)
        record("origin_fault", case=case, target="s3", exit=code, fired=rule.fired)
        assert rule.fired > 0, f"expected the {case} fault to fire, it fired {rule.fired} times"
        _converges(s3_cli, origin, target, view, corpus, config)


def test_persistently_corrupt_project_fails_alone_and_stores_nothing_corrupt(
        corpus: Corpus, cli: Cli, tmp_path: Path) -> None:
    target, view = folder(tmp_path)
    with running_origin(corpus) as origin:
        rule = origin.faults.add("corrupt", path="/packages/.*/delta-", on=("file",))
        result = cli.sync(origin.url, target, config=cli.config({"retries": 2}))
        assert result.returncode == 1, f"expected exit 1 with delta failing, got {result.describe()}"
        assert result.failed_projects == {"delta"}, f"expected only delta failed, got {result.failed_projects}"
        assert "delta" in result.stdout and "sha256 mismatch" in result.stdout, result.stdout
        assert rule.fired >= 3, f"expected each corrupt download retried, the fault fired {rule.fired} times"
        summary = assert_mirror_consistent(view, known_good=known_good(corpus))
        assert not any("/delta-" in key for key in summary.files), (
            f"expected no delta file stored, got {[k for k in summary.files if '/delta-' in k]}")
        assert summary.projects == project_names(corpus), "expected the other projects synced (and delta's page)"


def test_metadata_always_wrong_lists_the_file_without_metadata_and_fails_the_project(
        corpus: Corpus, cli: Cli, tmp_path: Path) -> None:
    target, view = folder(tmp_path)
    with running_origin(corpus) as origin:
        origin.faults.add("bad_metadata", path="/alpha-")
        result = cli.sync(origin.url, target, config=cli.config({"retries": 1}))
        assert result.returncode == 1 and result.failed_projects == {"alpha"}, result.describe()
        summary = assert_mirror_consistent(view, known_good=known_good(corpus))
        alpha_links = [link for key, link in summary.links.items() if "/alpha-" in key]
        assert alpha_links and all(link.metadata_sha256 is None for link in alpha_links), (
            f"expected alpha's files listed without core metadata, got {alpha_links}")
        assert not any(k.endswith(".metadata") and "/alpha-" in k for k in summary.files), (
            "expected no tampered .metadata stored")
