"""The run report: what a sync did, as JSON for operators, CDN invalidation and cost tracking."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from cloudpypi.private import Collision, GuardDecision

# Where the sync service writes its reports (the sync_service role's sync_service_report_dir).
DEFAULT_REPORT_DIR = "/var/lib/cloudpypi/reports"


@dataclass
class Failure:
    project: str
    reason: str


@dataclass
class Skipped:
    """A file left out on purpose (over [mirror] max_file_size): reported, not a failure."""

    project: str
    filename: str
    size: int
    reason: str


@dataclass
class Report:
    origin: str
    target: str
    dry_run: bool = False
    stopped: bool = False  # a signal stopped the run: what was complete is published
    stalled: bool = False  # the watchdog stopped it: no progress for stall_timeout seconds
    mode: str = ""  # changelog | root-index | projects | no-op
    serial_before: int | None = None
    serial_after: int | None = None
    origin_serial: int | None = None
    projects_synced: int = 0
    projects_unchanged: int = 0
    projects_removed: int = 0
    projects_failed: int = 0
    files_added: int = 0
    bytes_added: int = 0
    files_deleted: int = 0
    files_failed: int = 0
    pages_written: int = 0
    changed_paths: list[str] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    # The dependency-confusion guard (cloudpypi.private): what it decided about private projects, and the
    # private names first seen on the origin in this run (each reported once, then kept in the state).
    guard: list[GuardDecision] = field(default_factory=list)
    collisions: list[Collision] = field(default_factory=list)
    planned: dict[str, Any] = field(default_factory=dict)  # dry runs: what would happen
    requests: dict[str, int] = field(default_factory=dict)
    s3_writes: int = 0
    progress_records: int = 0  # writes of the progress record (.cloudpypi/progress.json) during the run
    transfer_processes: int = 0  # processes that shared the downloads (0: all ran in the sync's own threads)
    # The mirror's totals when the run ended (projects, files, bytes, ...: State.counts()), so that a
    # directory of reports is the mirror's history: `cloudpypi report` draws its size over time from it.
    mirror: dict[str, int] = field(default_factory=dict)
    started_at: str = ""
    finished_at: str = ""
    duration_s: float = 0.0
    _t0: float = field(default=0.0, repr=False)

    def start(self) -> None:
        self._t0 = time.monotonic()
        self.started_at = _utc_now()

    def finish(self) -> None:
        self.finished_at = _utc_now()
        self.duration_s = round(time.monotonic() - self._t0, 3)

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("_t0", None)
        data["ok"] = self.ok
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        """The report a ``to_dict`` wrote (a stored JSON report); keys it does not know are ignored."""
        known = {f.name for f in fields(cls) if f.init and not f.name.startswith("_")}
        values = {key: value for key, value in data.items() if key in known}
        values["failures"] = [Failure(project=str(f.get("project", "")), reason=str(f.get("reason", "")))
                              for f in data.get("failures") or []]
        values["skipped"] = [Skipped(project=str(s.get("project", "")), filename=str(s.get("filename", "")),
                                     size=int(s.get("size") or 0), reason=str(s.get("reason", "")))
                             for s in data.get("skipped") or []]
        values.setdefault("origin", "")
        values.setdefault("target", "")
        return cls(**values)

    def summary_lines(self) -> list[str]:
        verb = "would sync" if self.dry_run else "synced"
        lines = [
            f"{verb} {self.projects_synced} project(s) from {self.origin} to {self.target} "
            f"[{self.mode}] in {self.duration_s:.1f}s: serial {self.serial_before} -> {self.serial_after}",
            f"  files added {self.files_added} ({_human(self.bytes_added)}), deleted {self.files_deleted}, "
            f"pages written {self.pages_written}, projects removed {self.projects_removed}, "
            f"origin requests {sum(self.requests.values())}",
        ]
        if self.skipped:
            lines.append(f"  skipped {len(self.skipped)} file(s) over the size cap (not mirrored, not a failure):")
            lines.extend(f"    {s.project}: {s.filename} ({_human(s.size)})" for s in self.skipped[:20])
            if len(self.skipped) > 20:
                lines.append(f"    ... and {len(self.skipped) - 20} more (see the JSON report)")
        for collision in self.collisions:
            lines.append(f"  COLLISION: the origin has the private name {collision.project} (origin serial "
                         f"{collision.origin_serial}); its files are kept out of the private project")
        if self.guard:
            lines.append(f"  private projects: {len(self.guard)} guard decision(s) (see the JSON report's guard)")
        if self.failures:
            lines.append(f"  FAILED: {len(self.failures)} project(s):")
            lines.extend(f"    {f.project}: {f.reason}" for f in self.failures[:50])
            if len(self.failures) > 50:
                lines.append(f"    ... and {len(self.failures) - 50} more (see the JSON report)")
        return lines

    def write(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        os.replace(tmp, path)

    def write_to_dir(self, directory: str | Path) -> Path:
        directory = Path(directory)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        path = directory / f"sync-{stamp}.json"
        self.write(path)
        self.write(directory / "latest.json")
        return path


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"
