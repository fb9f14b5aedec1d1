"""Usage from sync reports: the initial upload is one-time, incremental runs scale to a month."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from cloudpypi.costs.model import GETS_PER_RUN, PAGES_PER_PROJECT, PUTS_PER_RUN
from cloudpypi.costs.usage import (
    invalidation_paths_for,
    monthly_requests,
    parse_status,
    read_reports,
)
from cloudpypi.errors import CloudPyPIError

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def write_report(directory: Path, started: datetime, *, serial_before: int, files: int, pages: int) -> None:
    report = {
        "serial_before": serial_before, "serial_after": serial_before + 1, "files_added": files,
        "changed_paths": [f"/simple/p{i}/" for i in range(pages)], "started_at": started.isoformat(),
        "finished_at": started.isoformat(), "projects_synced": pages, "projects_failed": 0,
        "bytes_added": files * 1000, "files_deleted": 0, "failures": [], "duration_s": 1.0,
    }
    name = f"sync-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    (directory / name).write_text(json.dumps(report))


def test_reports_split_the_initial_upload_from_incremental_runs_and_skip_latest_and_junk(tmp_path: Path) -> None:
    write_report(tmp_path, NOW - timedelta(days=3), serial_before=0, files=5000, pages=100)
    write_report(tmp_path, NOW - timedelta(hours=10), serial_before=10, files=4, pages=2)
    write_report(tmp_path, NOW - timedelta(days=40), serial_before=5, files=999, pages=9)  # last month
    (tmp_path / "latest.json").write_text((tmp_path / sorted(p.name for p in tmp_path.glob("sync-*"))[-1])
                                          .read_text())
    (tmp_path / "sync-broken.json").write_text("{not json")
    activity = read_reports(tmp_path, NOW.replace(day=1, hour=0))
    assert [r.initial for r in activity.runs] == [True, False], f"got {activity.runs}"
    assert len(activity.skipped) == 1 and "sync-broken.json" in activity.skipped[0], activity.skipped


def test_incremental_runs_scale_from_the_hours_they_cover_to_a_month(tmp_path: Path) -> None:
    for hours_ago in (10, 5):
        write_report(tmp_path, NOW - timedelta(hours=hours_ago), serial_before=10, files=4, pages=2)
    write_report(tmp_path, NOW - timedelta(days=2), serial_before=0, files=5000, pages=100)
    activity = read_reports(tmp_path, NOW - timedelta(days=30))
    got = monthly_requests(activity, NOW, Decimal(730), "changed")
    per_run_puts = 4 + PAGES_PER_PROJECT * 2 + PUTS_PER_RUN
    scale = Decimal(730) / 10  # two runs over the 10 h since the first incremental one
    assert got.puts == int(2 * per_run_puts * scale), f"expected {int(2 * per_run_puts * scale)}, got {got.puts}"
    assert got.gets == int(2 * GETS_PER_RUN * scale), got
    assert got.invalidation_paths == int(2 * 2 * scale), "policy 'changed': each changed page is a path"
    assert got.initial_puts == 5000 + PAGES_PER_PROJECT * 100 + PUTS_PER_RUN, "the initial upload, once"


def test_the_progress_records_a_run_wrote_count_as_puts(tmp_path: Path) -> None:
    write_report(tmp_path, NOW - timedelta(hours=10), serial_before=10, files=4, pages=2)
    plain = monthly_requests(read_reports(tmp_path, NOW - timedelta(days=30)), NOW, Decimal(730), "changed")
    report = next(tmp_path.glob("sync-*.json"))
    report.write_text(json.dumps({**json.loads(report.read_text()), "progress_records": 30}))
    busy = monthly_requests(read_reports(tmp_path, NOW - timedelta(days=30)), NOW, Decimal(730), "changed")
    assert busy.puts - plain.puts == int(30 * Decimal(730) / 10), (plain, busy)


def test_no_incremental_reports_means_no_monthly_requests(tmp_path: Path) -> None:
    got = monthly_requests(read_reports(tmp_path / "missing", NOW), NOW, Decimal(730), "auto")
    assert (got.puts, got.gets, got.invalidation_paths) == (0, 0, 0), got


@pytest.mark.parametrize(("changed", "policy", "paths"), [
    (0, "changed", 0), (7, "changed", 7), (7, "wildcard", 1), (7, "none", 0), (7, "auto", 1),
])
def test_invalidation_paths_per_run_follow_the_policy(changed: int, policy: str, paths: int) -> None:
    assert invalidation_paths_for(changed, policy) == paths


def test_status_json_gives_the_mirror_size_and_rejects_a_shape_without_it() -> None:
    size = parse_status({"projects": 3, "files": 12, "bytes": 4096, "serial": 77, "lag": None})
    assert (size.projects, size.files, size.bytes, size.last_serial) == (3, 12, 4096, 77), size
    with pytest.raises(CloudPyPIError, match="no usable size"):
        parse_status({"projects": 3})


def test_invalidation_paths_come_from_the_ledger_this_month_scaled_to_the_month(tmp_path: Path) -> None:
    from cloudpypi.costs.usage import scale_to_month
    from cloudpypi.invalidation import LEDGER_KEY, invalidation_paths_used

    assert invalidation_paths_used(str(tmp_path), NOW) is None, "no ledger: no figure"
    ledger = tmp_path / LEDGER_KEY
    ledger.parent.mkdir(parents=True, exist_ok=True)
    ledger.write_text(json.dumps({"version": 1, "months": {"2026-10": 5000, "2026-11": 380}, "invalidations": {}}))
    assert invalidation_paths_used(str(tmp_path), NOW) == 380, "this month's count, not last month's"
    # 380 paths in 19.5 days of a 30-day month
    assert scale_to_month(380, NOW) == int(380 * 30 / 19.5), scale_to_month(380, NOW)
