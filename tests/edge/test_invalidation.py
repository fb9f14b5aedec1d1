"""Invalidation: the pure planner and its prices, the ledger's compare-and-swap, and the executor on moto."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from cloudpypi.costs.prices import load_prices
from cloudpypi.invalidation import (
    ALL_PAGES,
    LEDGER_KEY,
    CloudFrontInvalidator,
    InvalidationError,
    InvalidationPrices,
    Ledger,
    caller_reference,
    exact_paths,
    load_ledger,
    pages_from_paths,
    plan_invalidation,
    record_in_ledger,
)
from cloudpypi.storage.folder import FolderStorage
from support.cli import run_cli

PRICES = InvalidationPrices(free_paths_per_month=1000, usd_per_path=Decimal("0.005"), as_of="test")


def folders(n: int) -> list[str]:
    return [f"/simple/p{i:04d}/" for i in range(n)]


# -- prices -----------------------------------------------------------------------------------------

def test_prices_come_from_the_prices_file() -> None:
    data = json.loads((Path(__file__).parents[2] / "scripts/cloudpypi/data/prices.json").read_text())
    prices = InvalidationPrices.from_prices(load_prices())
    expected = data["cloudfront"]["invalidation"]
    assert prices.free_paths_per_month == expected["free_paths_per_month"]
    assert prices.usd_per_path == Decimal(str(expected["usd_per_path"]))
    assert prices.as_of == data["as_of"]


@pytest.mark.parametrize(("paths", "used", "dollars"), [
    (3, 0, "0"), (1, 999, "0"), (2, 999, "0.005"), (3, 1000, "0.015"), (10, 5000, "0.050"),
])
def test_cost_counts_only_paths_beyond_the_free_allowance(paths: int, used: int, dollars: str) -> None:
    assert PRICES.cost(paths, used) == Decimal(dollars), f"{paths} paths after {used}: expected ${dollars}"


# -- which pages ------------------------------------------------------------------------------------

def test_paths_are_normalized_deduplicated_and_packages_dropped() -> None:
    pages = pages_from_paths(["/simple/", "/simple/Foo_Bar/", "/simple/foo-bar/index.v1_json", "/simple/baz",
                              "/packages/aa/bb/x-1.0.tar.gz"])
    assert pages.folders == ("/simple/", "/simple/baz/", "/simple/foo-bar/"), f"got {pages.folders}"
    assert pages.dropped == ("/packages/aa/bb/x-1.0.tar.gz",)
    assert not pages.everything


@pytest.mark.parametrize("bad", ["/", "/.cloudpypi/state.sqlite", "/simple/foo/bar/", "/simple/-x/", "simple/"])
def test_a_path_that_is_no_page_is_refused(bad: str) -> None:
    with pytest.raises(InvalidationError, match=r"page path|project name"):
        pages_from_paths([bad])


def test_exact_paths_use_per_page_wildcards_up_to_fifteen_then_object_keys() -> None:
    few = exact_paths(pages_from_paths(["/simple/", "/simple/foo/"]))
    assert few == ("/simple/index*", "/simple/foo/*"), f"got {few}"
    many = exact_paths(pages_from_paths(folders(16)))
    assert len(many) == 48 and "/simple/p0000/index.v1_json" in many and not any("*" in p for p in many), \
        f"expected 3 object keys per page without wildcards, got {many[:4]}..."


# -- the planner ------------------------------------------------------------------------------------

def test_changed_stays_exact_while_free() -> None:
    plan = plan_invalidation(pages_from_paths(["/simple/", "/simple/foo/"]), "changed", 10, PRICES, page_ttl=600)
    assert (plan.chosen, plan.paths, plan.cost) == ("changed", ("/simple/index*", "/simple/foo/*"), 0)


def test_changed_collapses_to_the_wildcard_when_that_is_cheaper() -> None:
    # 40 pages = 120 object paths (over 15 wildcards); after 990 used, 110 are billable: $0.55
    plan = plan_invalidation(pages_from_paths(folders(40)), "changed", 990, PRICES, page_ttl=600)
    assert plan.chosen == "wildcard" and plan.paths == (ALL_PAGES,), f"got {plan.chosen} {plan.paths[:3]}"
    assert plan.cost == 0, "the single wildcard path still fits the free allowance"
    assert plan.options["changed"].cost == Decimal("0.550"), f"got {plan.options['changed'].cost}"
    assert "collapsed" in plan.reason


def test_changed_collapses_beyond_cloudfronts_in_flight_limit() -> None:
    plan = plan_invalidation(pages_from_paths(folders(1001)), "changed", 0, PRICES, page_ttl=600)
    assert plan.paths == (ALL_PAGES,), "3,003 object paths cannot be in flight at once"


def test_none_and_wildcard_policies_do_what_they_say() -> None:
    pages = pages_from_paths(["/simple/foo/"])
    assert plan_invalidation(pages, "none", 0, PRICES, page_ttl=86400).paths == ()
    assert plan_invalidation(pages, "wildcard", 0, PRICES, page_ttl=600).paths == (ALL_PAGES,)


def test_auto_relies_on_the_ttl_when_it_is_within_the_freshness_target() -> None:
    plan = plan_invalidation(pages_from_paths(folders(5)), "auto", 5000, PRICES, page_ttl=600)
    assert (plan.chosen, plan.paths, plan.cost) == ("none", (), 0), f"got {plan.chosen} {plan.paths}"
    assert plan.options["wildcard"].cost == Decimal("0.005"), "it still reports what a wildcard would cost"


def test_auto_invalidates_with_fewest_paths_when_pages_live_longer_than_the_target() -> None:
    one = plan_invalidation(pages_from_paths(["/simple/foo/"]), "auto", 0, PRICES, page_ttl=3600)
    assert one.paths == ("/simple/foo/*",), f"one page: its own wildcard keeps the rest warm, got {one.paths}"
    many = plan_invalidation(pages_from_paths(["/simple/", "/simple/foo/"]), "auto", 0, PRICES, page_ttl=3600)
    assert many.paths == (ALL_PAGES,), f"two pages: one wildcard path beats two, got {many.paths}"


def test_no_changed_page_means_nothing_whatever_the_policy() -> None:
    for policy in ("auto", "changed", "wildcard", "none"):
        plan = plan_invalidation(pages_from_paths(["/packages/aa/x.whl"]), policy, 0, PRICES, page_ttl=9999)
        assert plan.nothing, f"{policy}: expected nothing to invalidate, got {plan.paths}"


def test_unknown_policy_is_refused() -> None:
    with pytest.raises(InvalidationError, match="unknown invalidation policy"):
        plan_invalidation(pages_from_paths(["/simple/"]), "sometimes", 0, PRICES, page_ttl=600)


def test_caller_reference_is_deterministic_and_order_independent() -> None:
    first = caller_reference("E1", 42, ["/simple/a/*", "/simple/b/*"])
    assert first == caller_reference("E1", 42, ["/simple/b/*", "/simple/a/*"])
    assert first.startswith("cloudpypi-E1-42-")
    assert first != caller_reference("E1", 43, ["/simple/a/*", "/simple/b/*"])
    assert first != caller_reference("E1", 42, ["/simple/*"])


# -- the ledger -------------------------------------------------------------------------------------

def entry(month: str = "2026-11", paths: int = 1) -> dict[str, Any]:
    return {"id": "I1", "serial": "1", "paths": paths, "month": month, "created_at": "2026-11-29T00:00:00Z"}


def test_ledger_counts_each_reference_once_per_month() -> None:
    ledger = Ledger()
    assert ledger.record("r1", entry(paths=3))
    assert not ledger.record("r1", entry(paths=3)), "a reference already recorded must not count again"
    ledger.record("r2", entry(month="2026-12", paths=1))
    assert (ledger.used("2026-11"), ledger.used("2026-12")) == (3, 1)
    assert Ledger.parse(ledger.to_bytes()).months == ledger.months


def test_damaged_ledger_is_a_clear_error() -> None:
    with pytest.raises(InvalidationError, match="damaged"):
        Ledger.parse(b"{not json")


def _concurrent_records(storage: Any, count: int) -> None:
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            record_in_ledger(storage, f"ref-{i}", entry(paths=i + 1))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, f"expected every record to succeed, got {errors!r}"


def test_concurrent_runs_lose_no_counts_on_a_folder(tmp_path: Path) -> None:
    storage = FolderStorage(tmp_path / "mirror")
    _concurrent_records(storage, 12)
    ledger = load_ledger(storage)
    assert ledger.used("2026-11") == sum(range(1, 13)), f"expected 78 paths, got {ledger.used('2026-11')}"
    assert len(ledger.invalidations) == 12


@pytest.mark.moto
def test_concurrent_runs_lose_no_counts_on_s3(bucket: str) -> None:
    from cloudpypi.storage.s3 import S3Storage

    storage = S3Storage(f"s3://{bucket}/mirror")
    _concurrent_records(storage, 8)
    ledger = load_ledger(storage)
    assert ledger.used("2026-11") == sum(range(1, 9)), f"expected 36 paths, got {ledger.used('2026-11')}"


# -- the executor against moto ----------------------------------------------------------------------

def invalidations(distribution_id: str) -> list[dict[str, Any]]:
    client = boto3.client("cloudfront")
    items = client.list_invalidations(DistributionId=distribution_id)["InvalidationList"].get("Items") or []
    return [client.get_invalidation(DistributionId=distribution_id, Id=item["Id"])["Invalidation"]
            for item in items]


def invalidate_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_cli("invalidate", *args, env=env, timeout=120)


@pytest.fixture()
def report(tmp_path: Path) -> Path:
    path = tmp_path / "sync-report.json"
    path.write_text(json.dumps({"serial_before": 10, "serial_after": 17, "changed_paths": [
        "/simple/", "/simple/demo/", "/simple/Other_Project/", "/packages/aa/bb/demo-1.0.tar.gz"]}))
    return path



@pytest.mark.moto
def test_changed_policy_invalidates_the_rewritten_objects_and_a_retry_creates_nothing(
        tmp_path: Path, report: Path, distribution_id: str, aws_env: dict[str, str]) -> None:
    target = str(tmp_path / "mirror")
    args = ("--distribution", distribution_id, "--policy", "changed", "--report", str(report), "--target", target)
    first = invalidate_cli(*args, env=aws_env)
    assert first.returncode == 0, f"expected success, got {first.returncode}: {first.stderr}"
    created = invalidations(distribution_id)
    assert len(created) == 1, f"expected one invalidation, got {len(created)}"
    paths = sorted(created[0]["InvalidationBatch"]["Paths"]["Items"])
    assert paths == ["/simple/demo/*", "/simple/index*", "/simple/other-project/*"], f"got {paths}"
    assert created[0]["InvalidationBatch"]["CallerReference"].startswith(f"cloudpypi-{distribution_id}-17-")
    assert "other policies:" in first.stdout and "wildcard 1 path(s)" in first.stdout, first.stdout
    assert "/packages/ path(s) dropped" in first.stdout

    second = invalidate_cli(*args, env=aws_env)
    assert second.returncode == 0, second.stderr
    assert len(invalidations(distribution_id)) == 1, "a retried run must not create a second invalidation"
    assert "already invalidated" in second.stdout, second.stdout
    month = datetime.now(UTC).strftime("%Y-%m")
    assert load_ledger(FolderStorage(target)).used(month) == 3, "the retry must not count its paths again"


@pytest.mark.moto
def test_a_run_that_crashed_before_recording_finds_its_invalidation_again(
        tmp_path: Path, report: Path, distribution_id: str, aws_env: dict[str, str]) -> None:
    target = str(tmp_path / "mirror")
    args = ("--distribution", distribution_id, "--policy", "wildcard", "--report", str(report), "--target", target)
    assert invalidate_cli(*args, env=aws_env).returncode == 0
    (Path(target) / LEDGER_KEY).unlink()  # as if the first run died between CreateInvalidation and the ledger
    again = invalidate_cli(*args, env=aws_env)
    assert again.returncode == 0, again.stderr
    assert len(invalidations(distribution_id)) == 1, "expected CloudFront's existing invalidation to be reused"
    month = datetime.now(UTC).strftime("%Y-%m")
    assert load_ledger(FolderStorage(target)).used(month) == 1, "the path was billed once, so counted once"


@pytest.mark.moto
def test_none_policy_and_auto_at_600s_create_nothing(
        tmp_path: Path, report: Path, distribution_id: str, aws_env: dict[str, str]) -> None:
    target = str(tmp_path / "mirror")
    for policy in ("none", "auto"):
        done = invalidate_cli("--distribution", distribution_id, "--policy", policy, "--report", str(report),
                              "--target", target, env=aws_env)
        assert done.returncode == 0, done.stderr
        assert "nothing invalidated" in done.stdout and "cost $0.000" in done.stdout, done.stdout
    assert invalidations(distribution_id) == [], "expected no invalidation at all"


@pytest.mark.moto
def test_auto_with_a_long_page_ttl_invalidates_one_wildcard_and_counts_it(
        tmp_path: Path, report: Path, distribution_id: str, aws_env: dict[str, str]) -> None:
    target = str(tmp_path / "mirror")
    done = invalidate_cli("--distribution", distribution_id, "--report", str(report), "--target", target,
                          "--page-ttl", "86400", env=aws_env)
    assert done.returncode == 0, done.stderr
    created = invalidations(distribution_id)
    assert [c["InvalidationBatch"]["Paths"]["Items"] for c in created] == [[ALL_PAGES]], f"got {created}"
    ledger = json.loads((Path(target) / LEDGER_KEY).read_text())
    month = datetime.now(UTC).strftime("%Y-%m")
    assert ledger["months"] == {month: 1}, f"expected 1 path this month, got {ledger['months']}"


@pytest.mark.moto
def test_dry_run_prices_without_invalidating(tmp_path: Path, distribution_id: str, aws_env: dict[str, str]) -> None:
    done = invalidate_cli("--distribution", distribution_id, "--policy", "changed", "--dry-run",
                          "--target", str(tmp_path / "m"), "/simple/foo/", env=aws_env)
    assert done.returncode == 0, done.stderr
    assert "dry run: would invalidate 1 path(s)" in done.stdout, done.stdout
    assert invalidations(distribution_id) == []


@pytest.mark.moto
def test_unknown_distribution_fails_with_one_clear_line(tmp_path: Path, aws_env: dict[str, str]) -> None:
    done = invalidate_cli("--distribution", "ENOSUCHDIST", "--policy", "wildcard", "--target", str(tmp_path / "m"),
                          "/simple/", env=aws_env)
    assert done.returncode == 1, f"expected exit 1, got {done.returncode}"
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no distribution 'ENOSUCHDIST'" in lines[0], f"got {done.stderr!r}"


def test_missing_distribution_is_a_usage_error(tmp_path: Path) -> None:
    done = run_cli("invalidate", "--target", str(tmp_path), "/simple/", timeout=60)
    assert done.returncode == 2 and "no distribution" in done.stderr, f"got {done.returncode} {done.stderr!r}"


# -- CloudFront's limits, with botocore's Stubber (moto never answers TooManyInvalidationsInProgress) --

def stubbed() -> tuple[Any, Stubber]:
    client = boto3.client("cloudfront", region_name="us-east-1", aws_access_key_id="AKIASTUB000000000000",
                          aws_secret_access_key="stub-secret-stub-secret-stub-secret-0000")  # noqa: S106 dummy
    return client, Stubber(client)


def created_answer(invalidation_id: str, reference: str) -> dict[str, Any]:
    return {"Location": "https://cloudfront.amazonaws.com/x", "Invalidation": {
        "Id": invalidation_id, "Status": "InProgress", "CreateTime": datetime.now(UTC),
        "InvalidationBatch": {"Paths": {"Quantity": 1, "Items": [ALL_PAGES]}, "CallerReference": reference}}}


def test_too_many_in_progress_waits_with_backoff_then_succeeds() -> None:
    client, stub = stubbed()
    reference = caller_reference("E1", 5, [ALL_PAGES])
    for _ in range(2):
        stub.add_client_error("create_invalidation", "TooManyInvalidationsInProgress", http_status_code=400)
        stub.add_response("list_invalidations", {"InvalidationList": {
            "Marker": "", "MaxItems": 100, "IsTruncated": False, "Quantity": 1,
            "Items": [{"Id": "IBUSY", "CreateTime": datetime.now(UTC), "Status": "InProgress"}]}})
    stub.add_response("create_invalidation", created_answer("INEW", reference))
    slept: list[float] = []
    with stub:
        invalidator = CloudFrontInvalidator(client, "E1", sleep=slept.append, clock=lambda: 0.0)
        assert invalidator.create([ALL_PAGES], reference) == "INEW"
    stub.assert_no_pending_responses()
    assert slept == [5.0, 10.0], f"expected exponential backoff 5 s then 10 s, got {slept}"


def test_too_many_in_progress_gives_up_after_the_bound() -> None:
    client, stub = stubbed()
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    for _ in range(3):
        stub.add_client_error("create_invalidation", "TooManyInvalidationsInProgress", http_status_code=400)
        stub.add_response("list_invalidations", {"InvalidationList": {
            "Marker": "", "MaxItems": 100, "IsTruncated": False, "Quantity": 0}})
    stub.add_client_error("create_invalidation", "TooManyInvalidationsInProgress", http_status_code=400)
    with stub, pytest.raises(InvalidationError, match="too many invalidations in progress after 30 s"):
        CloudFrontInvalidator(client, "E1", max_wait=30, sleep=sleep, clock=lambda: now[0]).create(
            [ALL_PAGES], "ref")
    assert now[0] == 30.0, f"expected to wait exactly the 30 s bound, waited {now[0]}"


def test_batch_already_exists_returns_the_existing_invalidation() -> None:
    client, stub = stubbed()
    reference = caller_reference("E1", 9, [ALL_PAGES])
    stub.add_client_error("create_invalidation", "InvalidationBatchAlreadyExists", http_status_code=409)
    stub.add_response("list_invalidations", {"InvalidationList": {
        "Marker": "", "MaxItems": 50, "IsTruncated": False, "Quantity": 1,
        "Items": [{"Id": "IOLD", "CreateTime": datetime.now(UTC), "Status": "Completed"}]}})
    stub.add_response("get_invalidation", {"Invalidation": created_answer("IOLD", reference)["Invalidation"]})
    with stub:
        assert CloudFrontInvalidator(client, "E1").create([ALL_PAGES], reference) == "IOLD"


def test_without_list_permission_the_lookup_is_skipped_and_create_still_runs() -> None:
    client, stub = stubbed()
    reference = caller_reference("E1", 11, [ALL_PAGES])
    stub.add_client_error("list_invalidations", "AccessDenied", http_status_code=403)
    stub.add_response("create_invalidation", created_answer("INEW", reference))
    with stub:
        invalidator = CloudFrontInvalidator(client, "E1")
        assert invalidator.find_existing(reference) is None
        assert invalidator.create([ALL_PAGES], reference) == "INEW"
    stub.assert_no_pending_responses()


def test_access_denied_on_create_is_one_actionable_error() -> None:
    client, stub = stubbed()
    stub.add_client_error("create_invalidation", "AccessDenied", http_status_code=403)
    with stub, pytest.raises(InvalidationError, match="cloudfront:CreateInvalidation"):
        CloudFrontInvalidator(client, "E1").create([ALL_PAGES], "ref")


def test_a_noop_report_invalidates_nothing_without_contacting_cloudfront(tmp_path: Path) -> None:
    path = tmp_path / "noop.json"
    path.write_text(json.dumps({"serial_before": 5, "serial_after": None, "changed_paths": []}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"  # nothing listens: any CloudFront call would fail
    done = run_cli("invalidate", "--distribution", "E1", "--policy", "wildcard", "--report", str(path), "--target",
                   str(tmp_path / "m"), env=env, timeout=60)
    assert done.returncode == 0, f"expected success, got {done.returncode}: {done.stderr}"
    assert "nothing invalidated" in done.stdout and "no page changed" in done.stdout, done.stdout


def test_a_report_without_changed_paths_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"hello": 1}))
    done = run_cli("invalidate", "--distribution", "E1", "--report", str(path), "--target", str(tmp_path / "m"),
                   timeout=60)
    assert done.returncode == 2 and "no changed_paths list" in done.stderr, f"got {done.returncode} {done.stderr}"


@pytest.mark.moto
def test_auto_reads_the_page_ttl_stored_on_s3_and_keeps_its_ledger_there(
        bucket: str, report: Path, distribution_id: str, aws_env: dict[str, str]) -> None:
    from cloudpypi.storage.s3 import S3Storage

    storage = S3Storage(f"s3://{bucket}/mirror")
    storage.write_bytes("simple/index.html", b"<html></html>", content_type="text/html; charset=utf-8",
                        cache_control="max-age=3600")  # pages cached an hour: longer than the 600 s target
    done = invalidate_cli("--distribution", distribution_id, "--report", str(report), "--target", f"s3://{bucket}/mirror",
                          env=aws_env)
    assert done.returncode == 0, done.stderr
    assert "auto: pages are cached 3600 s" in done.stdout, done.stdout
    created = invalidations(distribution_id)
    assert [c["InvalidationBatch"]["Paths"]["Items"] for c in created] == [[ALL_PAGES]], f"got {created}"
    month = datetime.now(UTC).strftime("%Y-%m")
    assert load_ledger(storage).used(month) == 1, "expected the S3 ledger to count the one wildcard path"
