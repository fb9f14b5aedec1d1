"""What the mirror uses, read from its sync reports and its status: the inputs of the cost model.

Sync reports are the JSON files that ``cloudpypi sync --report-dir DIR`` writes (``sync-<UTC>.json``, plus
``latest.json`` which repeats the newest and is skipped here).  The keys read: started_at, serial_before,
files_added, changed_paths, progress_records (the progress record's PUTs while the run was busy).  The
first run of a mirror (``serial_before`` 0 or missing) is its initial upload: a one-time cost, kept out of
the monthly extrapolation.
"""

from __future__ import annotations

import calendar
import json
import logging
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from cloudpypi.costs.model import GETS_PER_RUN, PAGES_PER_PROJECT, PUTS_PER_RUN
from cloudpypi.errors import CloudPyPIError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunFigures:
    """The figures of one sync report that the cost model needs."""

    started_at: datetime
    initial: bool
    files_added: int
    changed_paths: int
    progress_records: int = 0


@dataclass(frozen=True)
class SyncActivity:
    """The sync runs of a period, split into the initial upload and the incremental runs."""

    runs: tuple[RunFigures, ...]
    skipped: tuple[str, ...] = ()  # reports that could not be read, with the reason

    @property
    def incremental(self) -> tuple[RunFigures, ...]:
        return tuple(r for r in self.runs if not r.initial)

    @property
    def initial(self) -> tuple[RunFigures, ...]:
        return tuple(r for r in self.runs if r.initial)


@dataclass(frozen=True)
class MonthlyRequests:
    puts: int
    gets: int
    invalidation_paths: int
    initial_puts: int
    note: str


@dataclass(frozen=True)
class MirrorSize:
    projects: int
    files: int
    bytes: int
    last_serial: int | None


def _parse_time(value: Any) -> datetime:
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_report(data: dict[str, Any]) -> RunFigures:
    """The cost-relevant figures of one report.  Raises KeyError/ValueError/TypeError when malformed."""
    serial_before = data.get("serial_before")
    return RunFigures(
        started_at=_parse_time(data["started_at"]),
        initial=not serial_before,
        files_added=int(data.get("files_added", 0)),
        changed_paths=len(data.get("changed_paths") or []),
        progress_records=int(data.get("progress_records", 0)),
    )


def read_reports(report_dir: Path, since: datetime) -> SyncActivity:
    """Every readable report in ``report_dir`` that started at or after ``since``."""
    runs: list[RunFigures] = []
    skipped: list[str] = []
    if not report_dir.is_dir():
        return SyncActivity((), (f"{report_dir} does not exist",))
    for path in sorted(report_dir.glob("*.json")):
        if path.name == "latest.json":
            continue
        try:
            run = parse_report(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            skipped.append(f"{path.name} unreadable ({type(exc).__name__}: {exc})")
            continue
        if run.started_at >= since:
            runs.append(run)
    return SyncActivity(tuple(sorted(runs, key=lambda r: r.started_at)), tuple(skipped))


def invalidation_paths_for(changed: int, policy: str) -> int:
    """Paths one run invalidates under a policy: each changed page, one wildcard, or none.  ``auto`` is
    taken as the cheaper of ``changed`` and ``wildcard`` for the run."""
    if changed == 0 or policy == "none":
        return 0
    if policy == "wildcard":
        return 1
    if policy == "changed":
        return changed
    return min(changed, 1)


def monthly_requests(activity: SyncActivity, now: datetime, hours_per_month: Decimal,
                     invalidation_policy: str) -> MonthlyRequests:
    """S3 PUTs and GETs and invalidation paths of the incremental runs, scaled from the period they cover
    (from the first incremental run to ``now``) to a whole month."""
    runs = activity.incremental
    initial_puts = sum(r.files_added + PAGES_PER_PROJECT * r.changed_paths + PUTS_PER_RUN + r.progress_records
                       for r in activity.initial)
    if not runs:
        return MonthlyRequests(0, 0, 0, initial_puts, "no incremental sync reports yet")
    puts = sum(r.files_added + PAGES_PER_PROJECT * r.changed_paths + PUTS_PER_RUN + r.progress_records
               for r in runs)
    gets = GETS_PER_RUN * len(runs)
    paths = sum(invalidation_paths_for(r.changed_paths, invalidation_policy) for r in runs)
    covered_h = max(Decimal(1), Decimal((now - runs[0].started_at).total_seconds()) / 3600)
    scale = hours_per_month / covered_h
    note = (f"{len(runs)} incremental sync report(s) over {covered_h:.1f} h, scaled to a month "
            f"(x{scale:.1f}); invalidation policy {invalidation_policy!r}")
    return MonthlyRequests(int(puts * scale), int(gets * scale), int(paths * scale), initial_puts, note)


def parse_status(data: dict[str, Any]) -> MirrorSize:
    """The mirror's size from ``cloudpypi status --json`` (keys projects, files, bytes, serial)."""
    try:
        serial = data.get("serial", data.get("last_serial"))
        return MirrorSize(int(data["projects"]), int(data["files"]), int(data["bytes"]),
                          None if serial is None else int(serial))
    except (KeyError, TypeError, ValueError) as exc:
        raise CloudPyPIError(f"cloudpypi status --json gave no usable size ({type(exc).__name__}: {exc})") \
            from None


def read_mirror_size(target: str, config_path: str | None, timeout: float = 300) -> MirrorSize:
    """Run ``cloudpypi status --target T --offline --json`` (this same installation) for the mirror's size."""
    cmd = [sys.executable, "-m", "cloudpypi", "-q", "status", "--target", target, "--offline", "--json"]
    if config_path:
        cmd += ["--config", config_path]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CloudPyPIError(f"cloudpypi status could not run: {exc}") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        raise CloudPyPIError(f"cloudpypi status failed: {last}")
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        raise CloudPyPIError("cloudpypi status --json printed something that is not JSON") from None
    if not isinstance(data, dict):
        raise CloudPyPIError("cloudpypi status --json printed no JSON object")
    return parse_status(data)


def scale_to_month(so_far: int, now: datetime) -> int:
    """A month-to-date count scaled to the whole month by the fraction of it elapsed."""
    days = calendar.monthrange(now.year, now.month)[1]
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    elapsed = max((now - start).total_seconds(), 3600.0)
    return int(so_far * days * 86400 / elapsed)
