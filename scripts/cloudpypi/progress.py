"""Progress: a rich bar on a terminal, plain periodic log lines otherwise (systemd, CI)."""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any

log = logging.getLogger("cloudpypi.progress")


class Progress:
    def __init__(self, enabled: bool = True, interval: float = 30.0) -> None:
        self.projects_done = 0
        self.projects_total: int | None = None
        self.bytes = 0
        self.files = 0
        self._lock = threading.Lock()
        self._interval = interval
        self._last = time.monotonic()
        self._bar: Any = None
        if enabled and sys.stdout.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), transient=False)
            self._task = self._bar.add_task("projects", total=None, detail="")

    def __enter__(self) -> Progress:
        if self._bar:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar:
            self._bar.stop()

    def set_total(self, total: int | None) -> None:
        self.projects_total = total
        if self._bar:
            self._bar.update(self._task, total=total)

    def file_done(self, size: int) -> None:
        with self._lock:
            self.files += 1
            self.bytes += size

    def project_done(self, name: str) -> None:
        self.projects_done += 1
        detail = f"{self.files} files, {self.bytes / 2**20:.1f} MiB"
        if self._bar:
            self._bar.update(self._task, completed=self.projects_done, detail=detail)
        elif time.monotonic() - self._last >= self._interval:
            self._last = time.monotonic()
            total = f"/{self.projects_total}" if self.projects_total else ""
            log.info("progress: %d%s projects, %s (last: %s)", self.projects_done, total, detail, name)
