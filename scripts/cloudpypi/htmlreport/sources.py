"""Reading the report's inputs: a directory of sync reports and a ``cloudpypi costs --json`` file.

Run reports are named ``sync-<UTC time>.json`` (``latest.json`` repeats the newest and is skipped).  A
report older than the window is skipped by its name, before it is read, so a directory that holds a
year of runs costs only the window's reads.  A file that cannot be read is named in the result's notes,
never fatal: one bad report must not hide the rest.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from cloudpypi.errors import ConfigError
from cloudpypi.htmlreport.model import Run, Spend, parse_costs, parse_run

_STAMP = re.compile(r"sync-(\d{8}T\d{6}Z)")
MAX_REPORT_BYTES = 64 * 2**20  # a report lists changed pages; far larger is not one of ours


def read_runs(report_dir: Path, since: datetime) -> tuple[list[Run], list[str]]:
    """The runs that ended at or after ``since``, oldest first, and a note for each report not used."""
    if not report_dir.is_dir():
        return [], [f"no run reports: {report_dir} is not a directory"]
    runs: list[Run] = []
    notes: list[str] = []
    for path in sorted(report_dir.glob("*.json")):
        if path.name == "latest.json" or path.name.startswith("."):
            continue
        stamp = _STAMP.match(path.name)
        if stamp and datetime.strptime(stamp.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC) < since:
            continue
        try:
            if path.stat().st_size > MAX_REPORT_BYTES:
                raise ValueError(f"over {MAX_REPORT_BYTES // 2**20} MiB")
            run = parse_run(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            notes.append(f"{path.name}: not a readable sync report ({exc})")
            continue
        if run is not None and run.finished >= since:
            runs.append(run)
    runs.sort(key=lambda r: r.finished)
    return runs, notes


def read_costs(path: str) -> Spend:
    """The spend figures of a ``cloudpypi costs --json`` file (``-`` reads standard input)."""
    import sys

    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the cost data {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return parse_costs(json.loads(text))
    except ValueError as exc:
        raise ConfigError(f"{path} is not `cloudpypi costs --json` output: {exc}") from None
