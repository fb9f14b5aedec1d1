"""Run one child process and measure it: wall time, CPU seconds and peak RSS of the child and its own children.

CPU seconds come from `os.wait4`, the rusage of the child we waited for, which includes the processes it
waited for in turn (cloudpypi's transfer processes).  Peak RSS does not come from there: on Linux a
child's `ru_maxrss` also covers the image it had between fork and exec, a copy of this harness (about
90 MB once boto3 is loaded), and it is one process's figure, not the sum.  So every 20 ms the watcher
reads the child's own `VmHWM` (high-water mark of its post-exec resident set) and the sum of `VmRSS`
over the child and all its descendants; peak RSS is the larger of the two maxima.  The single-process
figure can only miss growth in its last 20 ms; the sum can miss a spike shorter than 20 ms.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


class BenchError(RuntimeError):
    """A benchmark step failed; the message says which and where its log is."""


@dataclass(frozen=True)
class Measured:
    argv: tuple[str, ...]
    returncode: int
    wall_s: float
    cpu_s: float
    max_rss_mb: float
    log: Path
    timed_out: bool = False
    user_s: float = 0.0  # cpu_s split into user and system time
    sys_s: float = 0.0

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


POLL_S = 0.02


def _status_kb(pid: int, field: bytes) -> int:
    """A kB figure of /proc/<pid>/status (VmHWM, VmRSS), or 0 when the process is gone."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(field + b":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as handle:
                    children = [int(child) for child in handle.read().split()]
            except (OSError, ValueError):
                continue
            found.extend(children)
            todo.extend(children)
    return found


def _watch_hwm(pid: int, done: threading.Event, peak: list[int]) -> None:
    while True:
        tree = _status_kb(pid, b"VmRSS") + sum(_status_kb(child, b"VmRSS") for child in _descendants(pid))
        peak[0] = max(peak[0], _status_kb(pid, b"VmHWM"), tree)
        if done.wait(POLL_S):
            return


def run_measured(argv: Sequence[str], *, log: Path, env: Mapping[str, str] | None = None,
                 timeout: float | None = None, cwd: Path | None = None) -> Measured:
    """Run argv to completion with stdout+stderr in `log`; kill it after `timeout` seconds."""
    log.parent.mkdir(parents=True, exist_ok=True)
    timed_out = threading.Event()
    with open(log, "wb") as out:
        started = time.perf_counter()
        process = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=dict(env) if env is not None else None, cwd=cwd)

        def kill() -> None:
            timed_out.set()
            process.kill()

        peak = [0]
        finished = threading.Event()
        watcher = threading.Thread(target=_watch_hwm, args=(process.pid, finished, peak), daemon=True)
        watcher.start()
        watchdog = threading.Timer(timeout, kill) if timeout else None
        if watchdog:
            watchdog.daemon = True
            watchdog.start()
        try:
            _pid, status, usage = os.wait4(process.pid, 0)
        finally:
            finished.set()
            if watchdog:
                watchdog.cancel()
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait for it again
    return Measured(
        argv=tuple(argv),
        returncode=process.returncode,
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        max_rss_mb=peak[0] / 1024.0,
        log=log,
        timed_out=timed_out.is_set(),
        user_s=usage.ru_utime,
        sys_s=usage.ru_stime,
    )


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) a running process has used so far, from /proc/<pid>/stat."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def check(result: Measured, what: str, ok_codes: Sequence[int] = (0,)) -> Measured:
    if result.timed_out:
        raise BenchError(f"{what} was killed after {result.wall_s:.0f} s; log: {result.log}\n{result.tail()}")
    if result.returncode not in ok_codes:
        raise BenchError(f"{what} exited with {result.returncode}; log: {result.log}\n{result.tail()}")
    return result
