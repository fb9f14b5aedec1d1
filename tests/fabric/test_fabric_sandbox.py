"""End to end on the local sandbox: the operator's commands, run as `fab ...` processes exactly as an
operator types them, against the booted Debian host (systemd-nspawn) and the moto server.

    CLOUDPYPI_INVENTORY=inventory/sandbox fab deploy
    fab sync --origin <the tests' loopback origin>     -> the bucket on moto holds the pages, right types
    fab status, fab verify, fab invalidate                -> a path invalidated on the deployed distribution
    fab costs                                          -> prints the Cost Explorer figure preloaded in moto
    fab report                                         -> the HTML report, built on the host, saved here
    fab test -k test_host.py                           -> the testinfra suite's host checks (tests/sandbox)

The sandbox is the session's one sandbox (support.sandboxfixtures): reused when it is already up
(`make sandbox-up`), otherwise booted once for every sandbox test of the session and stopped at its end.
Where it cannot run (no root, no systemd-nspawn) the tests skip with the reason; under CI=true they fail
instead.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from support.cli import run_cli
from support.sandboxfixtures import BUCKET, DUMMY_KEYS, FAB, explain, fab, fab_env
from support.sandboxfixtures import s3_client as s3
from support.sandboxhost import ROOT

pytestmark = [pytest.mark.sandbox, pytest.mark.sandbox_only, pytest.mark.slow]


@pytest.fixture(scope="module")
def origin(sandbox_host: dict) -> Iterator[object]:
    """The tests' fake PyPI on loopback (the sandbox host shares the machine's loopback)."""
    from support.fakeorigin import Corpus, running_origin

    corpus = Corpus()
    corpus.add_project("fab-demo", [{"version": "1.0", "files": ["py3-none-any", "sdist"]}])
    corpus.add_project("Second.Project", [{"version": "0.3", "files": ["py3-none-any"]}])
    with running_origin(corpus, host="127.0.0.1") as server:
        yield server


@pytest.fixture(scope="module")
def deployed(sandbox_host: dict, origin: object) -> dict[str, str]:
    env = fab_env(sandbox_host, origin.url)  # type: ignore[attr-defined]
    run = fab(env, "deploy")
    assert run.returncode == 0, f"fab deploy failed: {explain(run)}"
    assert "PLAY RECAP" in run.stdout, "Ansible's output is streamed through"
    return env


@pytest.fixture(scope="module")
def synced(deployed: dict[str, str], origin: object) -> subprocess.CompletedProcess[str]:
    run = fab(deployed, "sync", "--origin", origin.url)  # type: ignore[attr-defined]
    assert run.returncode == 0, f"fab sync failed: {explain(run)}"
    return run


def test_fab_sync_fills_the_bucket_with_pages_of_the_right_types_and_prints_the_engines_summary_once(
        synced: subprocess.CompletedProcess[str], deployed: dict[str, str]) -> None:
    assert synced.stdout.count(" project(s) from ") == 1 and "-> " in synced.stdout, \
        f"expected the engine's summary once: {explain(synced)}"
    client = s3(deployed)
    for key, content_type in (("simple/index.html", "text/html"),
                              ("simple/fab-demo/index.html", "text/html"),
                              ("simple/second-project/index.v1_json", "application/vnd.pypi.simple.v1+json")):
        head = client.head_object(Bucket=BUCKET, Key=key)
        assert head["ContentType"].startswith(content_type), \
            f"s3://{BUCKET}/{key}: expected Content-Type {content_type}, got {head['ContentType']}"
    page = client.get_object(Bucket=BUCKET, Key="simple/fab-demo/index.html")["Body"].read().decode()
    assert "fab_demo-1.0" in page, f"the project page must link fab_demo-1.0 files: {page[:400]!r}"


def test_fab_status_shows_the_timer_the_serial_and_the_last_report(synced, deployed) -> None:
    run = fab(deployed, "status")
    assert run.returncode == 0, f"fab status failed: {explain(run)}"
    for text in ("cloudpypi-sync.timer", f"s3://{BUCKET}", "Last report", "serial "):
        assert text in run.stdout, f"expected {text!r}: {explain(run)}"
    # the mirror's serial line (the last report's "serial None -> N" of a first sync is not it)
    assert not re.search(r"(?m)^\s*serial\s+None\b", run.stdout), \
        f"after a sync the mirror has a serial: {explain(run)}"


def test_fab_status_shows_a_sync_in_flight_with_files_bytes_rate_and_eta(synced, deployed, origin) -> None:
    """A slow `fab sync` on the dev server, watched with `fab status` from here until its progress shows."""
    import time

    origin.corpus.add_project("slow-demo", [{"version": "1.0", "files": [  # type: ignore[attr-defined]
        ("py3-none-any", 200_000), ("cp312-cp312-manylinux_2_28_x86_64", 4_000_000)]}])
    rule = origin.faults.add("slow", on=("file",), path="slow_demo", bandwidth=100_000)  # type: ignore[attr-defined]
    sync = subprocess.Popen([FAB, "sync", "--origin", origin.url, "--project", "slow-demo"],  # type: ignore[attr-defined]
                            cwd=ROOT, env=deployed, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL)
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and sync.poll() is None:
            run = fab(deployed, "status")
            assert run.returncode == 0, f"fab status failed: {explain(run)}"
            seen.append(run.stdout)
            if re.search(r"running\s+sync pid", run.stdout) and "1 of 2 files" in run.stdout:
                break
        else:
            pytest.fail(f"expected fab status to show the sync in flight (sync exit {sync.poll()}); last:\n"
                        f"{seen[-1] if seen else 'no status'}")
        status = seen[-1]
        assert "of 4.0 MiB" in status and "B/s" in status and "ETA " in status, status
        assert sync.wait(timeout=300) == 0, sync.stdout.read() if sync.stdout else ""
    finally:
        if sync.poll() is None:
            sync.kill()
        sync.communicate(timeout=60)
        origin.faults.remove(rule)  # type: ignore[attr-defined]
    after = fab(deployed, "status")
    assert "no sync in flight" in after.stdout, f"expected no sync in flight after it ended: {explain(after)}"


def test_fab_verify_passes_on_the_synced_bucket(synced, deployed) -> None:
    run = fab(deployed, "verify")
    assert run.returncode == 0, f"fab verify failed: {explain(run)}"


def test_fab_verify_origin_checks_every_file_against_the_services_origin(synced, deployed) -> None:
    run = fab(deployed, "verify", "--origin")  # no URL: the service's configured origin (the tests' fake PyPI)
    assert run.returncode == 0, f"fab verify --origin failed: {explain(run)}"
    # at least the three files `synced` stored; the in-flight test may have added its project before this one
    checked = re.search(r"checked (\d+) file\(s\)", run.stdout)
    assert checked and int(checked.group(1)) >= 3, f"expected every stored file checked: {explain(run)}"
    assert "OK: every checked file has the bytes the origin publishes" in run.stdout, explain(run)


def test_fab_invalidate_asks_the_distribution_fab_deploy_found(synced, deployed) -> None:
    import boto3

    cloudfront = boto3.client("cloudfront", endpoint_url=deployed["AWS_ENDPOINT_URL"], region_name="us-east-1",
                              aws_access_key_id=DUMMY_KEYS["AWS_ACCESS_KEY_ID"],
                              aws_secret_access_key=DUMMY_KEYS["AWS_SECRET_ACCESS_KEY"])
    listing = cloudfront.list_distributions()["DistributionList"].get("Items") or []
    mirror = [d["Id"] for d in listing if d.get("Comment") == f"cloudpypi mirror {BUCKET}"]
    assert len(mirror) == 1, f"expected fab deploy to have made one mirror distribution, got {listing}"
    run = fab(deployed, "invalidate", "--path", "/simple/fab-demo/", "--policy", "changed")
    assert run.returncode == 0, f"fab invalidate failed: {explain(run)}"
    batches = cloudfront.list_invalidations(DistributionId=mirror[0])["InvalidationList"].get("Items") or []
    paths = [p for batch in batches for p in cloudfront.get_invalidation(DistributionId=mirror[0], Id=batch["Id"])
             ["Invalidation"]["InvalidationBatch"]["Paths"].get("Items", [])]
    # a project's folder is invalidated as one wildcard path: its three pages for the price of one
    assert "/simple/fab-demo/*" in paths, f"expected the project invalidated on {mirror[0]}: {paths} {explain(run)}"


def test_fab_export_fetches_a_bundle_that_rebuilds_the_bucket_in_a_folder(synced, deployed, tmp_path) -> None:
    bundle = tmp_path / "full.tar"
    run = fab(deployed, "export", "--since", "0", "--out", str(bundle))
    assert run.returncode == 0, f"fab export failed: {explain(run)}"
    copy = tmp_path / "copy"
    imported = run_cli("import", "--bundle", str(bundle), "--target", str(copy))
    assert imported.returncode == 0, f"import of the fetched bundle failed: {imported.stderr[-2000:]}"
    client = s3(deployed)
    in_bucket = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for item in page.get("Contents", ()):
            if item["Key"].startswith(("simple/", "packages/")):
                in_bucket[item["Key"]] = client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
    in_copy = {p.relative_to(copy).as_posix(): p.read_bytes() for area in ("simple", "packages")
               for p in (copy / area).rglob("*") if p.is_file()}
    assert in_bucket and sorted(in_copy) == sorted(in_bucket), (
        f"expected the bucket's objects, missing {sorted(set(in_bucket) - set(in_copy))}, "
        f"extra {sorted(set(in_copy) - set(in_bucket))}")
    assert all(in_copy[key] == in_bucket[key] for key in in_bucket), "an object came across with other bytes"


def test_fab_costs_prints_the_cost_explorer_figure_preloaded_in_moto(deployed) -> None:
    # A distinct figure each run; small enough that 30 days of it stay under the $500 budget.
    amount = f"{random.randint(1, 9)}.{random.randint(10, 99)}"
    first = datetime.now(UTC).date().replace(day=1)
    day = {"Start": first.isoformat(), "End": (first + timedelta(days=1)).isoformat()}
    body = {"results": [{"ResultsByTime": [{"TimePeriod": day,
                                            "Total": {"UnblendedCost": {"Amount": amount, "Unit": "USD"}},
                                            "Groups": [], "Estimated": True}],
                         "DimensionValueAttributes": []}]}
    request = urllib.request.Request(f"{deployed['AWS_ENDPOINT_URL']}/moto-api/static/ce/cost-and-usage-results",
                                     data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
    run = fab(deployed, "costs")
    assert f"${amount}" in run.stdout, (f"expected the preloaded month-to-date ${amount} (if an earlier run "
                                        f"today consumed the same request, moto answers from its cache): "
                                        f"{explain(run)}")
    assert "Mirror cost model" in run.stdout, explain(run)
    assert "projection (Cost Explorer forecast unavailable" in run.stdout, "moto has no GetCostForecast"
    assert run.returncode == 0, f"${amount} spent, at most ${amount} * 31 projected: within $500: {explain(run)}"


def test_fab_report_builds_the_page_on_the_host_and_brings_it_home(synced, deployed, tmp_path) -> None:
    out = tmp_path / "mirror-report.html"
    run = fab(deployed, "report", "--out", str(out))
    assert run.returncode == 0, f"fab report failed: {explain(run)}"
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and f"s3://{BUCKET}" in page, page[:500]
    # fab sync's run report on the host is in the history, with the mirror's totals after it
    assert 'id="size"' in page and page.count('class="point"') >= 2, "expected the size over time drawn"
    assert "fab-demo" in page, "expected the synced projects among the largest"


# The host's testinfra checks.  `fab test` runs them, and with no -k the rest of tests/sandbox too, which this
# suite runs against the same host anyway (tests/sandbox, after these tests): running all of it a second
# time inside `fab test` cost 7 to 9 minutes and proved nothing more about `fab test` itself.
FAB_TEST_SELECTION = "test_host.py"
FAB_TEST_HOST_CHECKS = 15  # at least this many of test_host.py's checks pass on the sandbox (none may fail)


def test_fab_test_runs_the_testinfra_suite_green(deployed) -> None:
    run = fab(deployed, "test", "-k", FAB_TEST_SELECTION, timeout=1800)
    assert run.returncode == 0, f"fab test failed: {explain(run)}"
    assert " passed" in run.stdout, explain(run)
    passed = re.search(r"(\d+) passed", run.stdout)
    assert passed and int(passed.group(1)) >= FAB_TEST_HOST_CHECKS, \
        f"expected fab test to run the host's testinfra checks against the deployed host: {explain(run)}"
