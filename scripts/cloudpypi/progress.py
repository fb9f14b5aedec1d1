"""Progress: the run's counters, shown as a rich bar on a terminal and as periodic log lines otherwise.

The same counters feed the progress record that `cloudpypi status` reads (cloudpypi.runrecord) and the
watchdog that stops a run making no progress (cloudpypi.watchdog): ``snapshot()`` is their one view.

Totals grow while the run plans: projects are planned as they are visited, so ``files_total`` and
``bytes_total`` are what the plan holds so far, exact once every project is planned.  Before that, the
bytes still to come are estimated from the bytes planned per project visited (``bytes_total_estimate``).
"""

from __future__ import annotations

import collections
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("cloudpypi.progress")

RATE_WINDOW_SECONDS = 60.0  # the rate is the bytes done over about this long: steady, yet current


def eta_seconds(remaining_bytes: float, rate: float | None) -> float | None:
    """Seconds until remaining_bytes are done at rate bytes/s; None when the rate is unknown or zero."""
    if remaining_bytes <= 0:
        return 0.0
    if not rate or rate <= 0:
        return None
    return remaining_bytes / rate


def estimate_total(planned: int, visited: int, total_to_visit: int | None) -> int | None:
    """The bytes of the whole plan, extrapolated from the part planned so far; None when unknowable."""
    if total_to_visit is None or visited <= 0:
        return None
    if visited >= total_to_visit:
        return planned
    return round(planned * total_to_visit / visited)


def human_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def human_duration(seconds: float) -> str:
    seconds = round(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def summary(running: dict[str, Any]) -> str:
    """One line for a run in flight, from a progress record: what `status` and `fab status` print."""
    files_total = running.get("files_total") or 0
    bytes_total = running.get("bytes_total") or 0
    estimate = running.get("bytes_total_estimate")
    total_text = human_bytes(bytes_total)
    if not running.get("plan_complete") and estimate:
        total_text += f" planned so far, about {human_bytes(estimate)} in all"
    elif not running.get("plan_complete"):
        total_text += " planned so far"
    rate = running.get("rate_bytes_per_second")
    eta = running.get("eta_seconds")
    parts = [
        f"{running.get('phase', 'running')}: {running.get('files_done', 0)} of {files_total} files, "
        f"{human_bytes(running.get('bytes_done') or 0)} of {total_text}",
        f"{human_bytes(rate)}/s" if rate is not None else "rate unknown",
        f"ETA {human_duration(eta)}" if eta is not None else "ETA unknown",
    ]
    if running.get("projects_total") is not None:
        parts.append(f"projects {running.get('projects_done', 0)} of {running['projects_total']}")
    return ", ".join(parts)


class Progress:
    def __init__(self, enabled: bool = True, interval: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.projects_done = 0
        self.projects_total: int | None = None
        self.projects_planned = 0
        self.files_done = 0
        self.files_total = 0
        self.files_failed = 0
        self.bytes_done = 0
        self.bytes_total = 0
        self.bytes_failed = 0
        self._walked: int | None = None  # projects handed out, once the last one is
        self.phase = "starting"
        self.started = time.time()
        self._clock = clock
        self.last_progress = clock()  # monotonic time of the last sign of progress (the watchdog's input)
        self._samples: collections.deque[tuple[float, int]] = collections.deque()
        self._lock = threading.Lock()
        self._interval = interval
        self._last_log = clock()
        self._bar: Any = None
        if enabled and sys.stdout.isatty():
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )
            from rich.progress import Progress as RichProgress

            # One bar over the bytes of the plan (its total grows while projects are planned), with the
            # rate and the time remaining; files and projects as text beside it.
            self._bar = RichProgress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
                                     TransferSpeedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[detail]}"),
                                     TimeElapsedColumn(), transient=False)
            self._task = self._bar.add_task("sync", total=None, detail="")

    def __enter__(self) -> Progress:
        if self._bar:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar:
            self._bar.stop()

    # -- what the sync reports ------------------------------------------------------------------------
    def beat(self) -> None:
        """Something moved forward (bytes arrived, a file or project finished, a phase began)."""
        self.last_progress = self._clock()

    def set_phase(self, phase: str) -> None:
        self.phase = phase
        self.beat()

    def set_total(self, total: int | None) -> None:
        self.projects_total = total
        self._show()

    def planned(self, files: int, size: int) -> None:
        """One project planned: files (of size bytes in all) to fetch or check."""
        with self._lock:
            self.projects_planned += 1
            self.files_total += files
            self.bytes_total += size
        self.beat()
        self._show()

    def finish_walk(self, handed_out: int) -> None:
        """Every project to visit is handed out: the plan is complete once they are all planned."""
        self._walked = handed_out
        self._show()

    @property
    def plan_complete(self) -> bool:
        return self._walked is not None and self.projects_planned >= self._walked

    def file_done(self, size: int) -> None:
        """A file is present and verified (downloaded now, or found already there)."""
        with self._lock:
            self.files_done += 1
            self.bytes_done += size
        self.beat()
        self._show()

    def file_failed(self, size: int) -> None:
        with self._lock:
            self.files_failed += 1
            self.bytes_failed += size

    def project_done(self, name: str, ok: bool = True) -> None:
        self.projects_done += 1
        if ok:
            self.beat()  # a failed project is no progress: a run where everything fails is stopped too
        if self._bar:
            self._show()
        elif self._clock() - self._last_log >= self._interval:
            self._last_log = self._clock()
            log.info("progress: %s (last: %s)", summary(self.snapshot()), name)

    def _show(self) -> None:
        if not self._bar:
            return
        total = self.bytes_total_estimate or self.bytes_total or None
        projects = f"/{self.projects_total}" if self.projects_total is not None else ""
        detail = f"files {self.files_done}/{self.files_total}, projects {self.projects_done}{projects}"
        self._bar.update(self._task, total=total, completed=self.bytes_done, detail=detail)

    # -- what others read -----------------------------------------------------------------------------
    @property
    def bytes_total_estimate(self) -> int | None:
        if self.plan_complete:
            return self.bytes_total
        return estimate_total(self.bytes_total, self.projects_planned, self.projects_total)

    def rate(self) -> float | None:
        """Bytes per second over the last RATE_WINDOW_SECONDS; samples are taken by snapshot()."""
        now = self._clock()
        with self._lock:
            done = self.bytes_done
            self._samples.append((now, done))
            while len(self._samples) > 2 and now - self._samples[1][0] >= RATE_WINDOW_SECONDS:
                self._samples.popleft()
            first_time, first_done = self._samples[0]
        if now - first_time < 1.0:
            return None
        return (done - first_done) / (now - first_time)

    def snapshot(self) -> dict[str, Any]:
        """The counters, the rate and the ETA: the body of the progress record."""
        rate = self.rate()
        estimate = self.bytes_total_estimate
        remaining = (estimate if estimate is not None else 0) - self.bytes_done - self.bytes_failed
        eta = eta_seconds(remaining, rate) if estimate is not None else None
        return {
            "phase": self.phase,
            "started": _iso(self.started),
            "projects_done": self.projects_done,
            "projects_total": self.projects_total,
            "files_done": self.files_done,
            "files_total": self.files_total,
            "files_failed": self.files_failed,
            "bytes_done": self.bytes_done,
            "bytes_total": self.bytes_total,
            "bytes_total_estimate": estimate,
            "plan_complete": self.plan_complete,
            "rate_bytes_per_second": round(rate, 1) if rate is not None else None,
            "eta_seconds": round(eta, 1) if eta is not None else None,
            "seconds_since_progress": round(self._clock() - self.last_progress, 1),
        }


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
