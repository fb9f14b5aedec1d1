"""The run monitor: one thread beside a sync that publishes its progress and stops it when it is stuck.

Every second it
- writes the progress record (cloudpypi.runrecord) when the counters moved, and at least every
  RECORD_REFRESH_SECONDS while the run is quiet, so a reader sees a live ``updated``;
- checks the watchdog: a run that made no progress for ``stall_timeout`` seconds is asked to stop (the
  graceful path: what is complete is published, the lock is released, exit 1).  A run still not ended
  ``grace`` seconds later exits at once: a killed run loses nothing, the next one resumes;
- hands a heartbeat (the run's age in seconds) to CloudWatch once a minute while the run progresses, so
  the stale-sync alarm can tell a long first sync from a stuck or failing one.

Progress is measured, not assumed: a file verified, a project done, bytes arriving, a new phase.  A run
that is merely long is never stopped; docs/DESIGN.md has the choice against a fixed run timeout.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from cloudpypi.progress import Progress

log = logging.getLogger(__name__)

RECORD_INTERVAL_SECONDS = 1.0  # the progress record is written at most this often
RECORD_REFRESH_SECONDS = 15.0  # and at least this often while the run is quiet
HEARTBEAT_SECONDS = 60.0  # CloudWatch's standard resolution: one datapoint a minute is all it keeps
MAX_GRACE_SECONDS = 120.0
EXIT_STALLED = 1


def stop_grace(stall_timeout: float) -> float:
    """How long a stalled run may take to stop gracefully before it exits at once."""
    return min(MAX_GRACE_SECONDS, max(5.0, stall_timeout))


class RunMonitor:
    def __init__(self, progress: Progress, *, stall_timeout: float, on_stall: Callable[[float], None],
                 write_record: Callable[[dict[str, Any], int], None] | None = None,
                 heartbeat: Callable[[float], None] | None = None,
                 interval: float = RECORD_INTERVAL_SECONDS, heartbeat_every: float = HEARTBEAT_SECONDS,
                 grace: float | None = None,
                 hard_exit: Callable[[int], Any] = os._exit, clock: Callable[[], float] = time.monotonic) -> None:
        self.progress = progress
        self.stall_timeout = stall_timeout
        self.on_stall = on_stall
        self.write_record = write_record
        self.heartbeat = heartbeat
        self.interval = interval
        self.heartbeat_every = heartbeat_every
        self.grace = stop_grace(stall_timeout) if grace is None else grace
        self.hard_exit = hard_exit
        self.clock = clock
        self.records_written = 0
        self.stalled_at: float | None = None
        self._started = clock()
        self._last_written: dict[str, Any] | None = None
        self._last_write_time = float("-inf")
        self._last_heartbeat = clock()
        self._write_failed = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> RunMonitor:
        self._thread = threading.Thread(target=self._loop, name="run-monitor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def __enter__(self) -> RunMonitor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _loop(self) -> None:
        while True:
            self.tick()
            if self._stop.wait(self.interval):
                return

    def tick(self) -> None:
        """One round: the record, the watchdog, the heartbeat.  Never raises: the run must go on."""
        now = self.clock()
        try:
            self._write(now)
        except Exception as exc:  # a storage hiccup costs one record, not the run
            if not self._write_failed:
                log.warning("could not write the progress record: %s", exc)
            self._write_failed = True
        self._watch(now)
        if self.heartbeat is not None and now - self._last_heartbeat >= self.heartbeat_every:
            progressed = self.progress.last_progress > self._last_heartbeat
            self._last_heartbeat = now
            if progressed and self.stalled_at is None:
                try:
                    self.heartbeat(now - self._started)
                except Exception as exc:
                    log.warning("could not publish the progress heartbeat: %s", exc)

    def _write(self, now: float) -> None:
        if self.write_record is None:
            return
        snapshot = self.progress.snapshot()
        moving = {k: v for k, v in snapshot.items()
                  if k not in ("rate_bytes_per_second", "eta_seconds", "seconds_since_progress")}
        if moving == self._last_written and now - self._last_write_time < RECORD_REFRESH_SECONDS:
            return
        self.records_written += 1
        self.write_record(snapshot, self.records_written)
        self._last_written = moving
        self._last_write_time = now

    def _watch(self, now: float) -> None:
        if not self.stall_timeout:
            return
        if self.stalled_at is None:
            quiet = now - self.progress.last_progress
            if quiet >= self.stall_timeout:
                self.stalled_at = now
                log.error("no progress for %.0f s (stall_timeout %.0f s): stopping the run; what is complete "
                          "stays published and the next run resumes", quiet, self.stall_timeout)
                self.on_stall(quiet)
        elif now - self.stalled_at >= self.grace:
            log.error("the stalled run did not stop within %.0f s: exiting now (the next run resumes; "
                      "a killed run loses nothing)", self.grace)
            for handler in logging.getLogger().handlers:
                handler.flush()
            sys.stderr.flush()
            self.hard_exit(EXIT_STALLED)
