"""`cloudpypi report` end to end: a mirror synced from the fake origin, its run reports, the CLI in a
subprocess, and (with moto) real `cloudpypi costs --json` output as the cost data."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from report.sample import Sample
from support.cli import run_cli
from support.motoserver import MotoServer, moto_server


def report(sample: Sample, *extra: str, online: bool = True) -> tuple[int, str, str]:
    args = ["report", "--target", str(sample.mirror), "--reports", str(sample.reports), *extra]
    args += ["--origin", sample.origin.url] if online else ["--offline"]
    proc = run_cli(*args)
    return proc.returncode, proc.stdout, proc.stderr


def section(page: str, name: str) -> str:
    start = page.index(f'<section id="{name}"')
    return page[start:page.index("</section>", start)]


def test_the_page_draws_the_mirrors_history_from_its_run_reports(sample: Sample, tmp_path: Path) -> None:
    out = tmp_path / "site" / "report.html"
    code, _, err = report(sample, "--html", str(out))
    assert code == 0, err
    page = out.read_text()
    assert section(page, "size").count('class="point"') == 2 * (4 + 1), "4 runs and now, bytes and files"
    runs = section(page, "runs")
    assert runs.count('class="bar') == 3 * 4
    assert runs.count('class="bar failed"') >= 2, "the third run failed: its duration and bytes bars are red"
    recent = section(page, "recent")
    assert recent.count("<tr>") == 1 + 4 and recent.count(">failed<") == 1
    largest = section(page, "largest")
    names = re.findall(r'<text class="label"[^>]*>([^<]+)</text>', largest)
    assert names[0] == "numpy-like", f"expected the largest project first, got {names}"
    lag = sample.origin.corpus.serial - json.loads((sample.reports / "sync-run4.json").read_text())["serial_after"]
    assert lag > 0 and f"{lag} events" in page, f"expected the origin's {lag} unsynced events as the lag now"


def test_html_dash_writes_the_page_to_standard_output_only(sample: Sample, tmp_path: Path) -> None:
    code, out, err = report(sample, "--html", "-", online=False)
    assert code == 0, err
    assert out.startswith("<!DOCTYPE html>") and out.rstrip().endswith("</html>")
    assert "not asked (--offline)" in out
    assert not list(tmp_path.iterdir())


def test_a_mirror_with_no_history_still_gets_a_page(tmp_path: Path) -> None:
    proc = run_cli("report", "--target", str(tmp_path / "new-mirror"), "--reports", str(tmp_path / "none"),
                   "--offline", "--html", "-")
    assert proc.returncode == 0, proc.stderr
    assert "No run reports yet" in proc.stdout and "is not a directory" in proc.stdout


def test_an_unreadable_report_is_named_and_the_others_are_used(sample: Sample, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    for path in sample.reports.glob("*.json"):
        (reports / path.name).write_bytes(path.read_bytes())
    (reports / "sync-broken.json").write_text("{not json")
    proc = run_cli("report", "--target", str(sample.mirror), "--reports", str(reports), "--offline",
                   "--html", "-")
    assert proc.returncode == 0, proc.stderr
    assert "sync-broken.json: not a readable sync report" in proc.stdout
    assert section(proc.stdout, "recent").count("<tr>") == 1 + 4


def test_bad_cost_data_fails_with_exit_2_and_writes_no_page(sample: Sample, tmp_path: Path) -> None:
    bad = tmp_path / "costs.json"
    bad.write_text('{"something": "else"}')
    out = tmp_path / "report.html"
    code, _, err = report(sample, "--html", str(out), "--costs", str(bad), online=False)
    assert code == 2 and "is not `cloudpypi costs --json` output" in err, err
    assert not out.exists()


@pytest.fixture(scope="module")
def costs_aws() -> Iterator[MotoServer]:
    with moto_server() as server:
        yield server


@pytest.mark.moto
def test_spend_against_the_budget_comes_from_real_costs_json(sample: Sample, costs_aws: MotoServer,
                                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from costs.conftest import create_budget, daily_by_service, preload_cost_and_usage

    preload_cost_and_usage(costs_aws, daily_by_service(
        {f"2026-11-{d:02d}": {"Amazon Simple Storage Service": "20.00", "Amazon EC2": "1.00"} for d in range(1, 10)}))
    create_budget(costs_aws, "500")
    for key, value in costs_aws.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    costs = run_cli("costs", "--today", "2026-11-10", "--target", str(sample.mirror), "--report-dir",
                    str(sample.reports), "--budget", "cloudpypi-monthly", "--json")
    assert costs.returncode == 3, f"expected the 630 USD projection over the 500 USD budget\n{costs.stderr}"
    costs_file = tmp_path / "costs.json"
    costs_file.write_text(costs.stdout)
    code, out, err = report(sample, "--html", "-", "--costs", str(costs_file), online=False)
    assert code == 0, err
    spend = section(out, "spend")
    assert "budget $500.00" in spend and "over the budget" in spend and "cloudpypi-monthly" in spend
    assert 'class="bar over"' in spend, "the month's projection (9 days of 21 USD) passes 500 USD"
    assert 'data-value="189"' in spend, "month to date: 9 x 21 USD"


@pytest.mark.moto
def test_an_s3_mirror_is_reported_from_its_state_in_the_bucket(sample: Sample, moto, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Synced on one host, reported from another: the state (sizes, largest projects) comes from the bucket."""
    bucket = moto.make_bucket("report-s3-mirror").removeprefix("s3://")
    for key, value in moto.env({"CLOUDPYPI_STATE_DIR": str(tmp_path / "host-a")}).items():
        monkeypatch.setenv(key, value)
    reports = tmp_path / "reports"
    synced = run_cli("sync", "--origin", sample.origin.url, "--target", f"s3://{bucket}/pypi", "--no-progress",
                     "--report-dir", str(reports))
    assert synced.returncode in (0, 1), synced.stderr
    monkeypatch.setenv("CLOUDPYPI_STATE_DIR", str(tmp_path / "host-b"))
    proc = run_cli("report", "--target", f"s3://{bucket}/pypi", "--reports", str(reports), "--offline",
                   "--html", "-")
    assert proc.returncode == 0, proc.stderr
    assert f"s3://{bucket}/pypi" in proc.stdout
    names = re.findall(r'<text class="label"[^>]*>([^<]+)</text>', section(proc.stdout, "largest"))
    assert names and names[0] == "numpy-like", names
    assert section(proc.stdout, "size").count('class="point"') == 2 * 2, "one run and now, bytes and files"
