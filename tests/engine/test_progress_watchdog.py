"""A sync in flight, seen from another process: `status --json` shows its progress; the watchdog stops it
only when it makes no progress.  Real parts: the CLI as subprocesses, the fake origin slowed or stalled,
a folder target and a moto S3 target."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from support.cli import run_cli, start_cli
from support.fakeorigin import Corpus, running_origin

FILE_BYTES = 100_000
BANDWIDTH = 100_000  # bytes/s per file: each wheel takes about a second


def slow_corpus(projects: int = 4) -> Corpus:
    corpus = Corpus()
    for number in range(projects):
        corpus.add_project(f"slow-{number}", [{"version": "1.0", "files": [("py3-none-any", FILE_BYTES), "sdist"]}])
    return corpus


@pytest.fixture
def origin() -> Iterator[Any]:
    with running_origin(slow_corpus()) as server:
        yield server


def status(target: str, env: dict[str, str]) -> dict[str, Any]:
    run = run_cli("status", "--target", target, "--offline", "--json", env=env, timeout=60)
    assert run.returncode == 0, f"status failed: exit {run.returncode}\n{run.stderr[-2000:]}"
    return json.loads(run.stdout)


@contextmanager
def sync_in_background(origin: Any, target: str, env: dict[str, str], *extra: str) -> Iterator[subprocess.Popen[str]]:
    proc = start_cli("sync", "--origin", origin.url, "--target", target, "--no-progress", "--workers", "2",
                     "--processes", "1", *extra, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=60)


def poll_running(proc: subprocess.Popen[str], target: str, env: dict[str, str], deadline_s: float = 60):
    """Status answers polled from another process until `running` shows files done, and the time of each."""
    seen: list[tuple[float, dict[str, Any]]] = []
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline and proc.poll() is None:
        running = status(target, env)["running"]
        if running is not None:
            seen.append((time.time(), running))
            if running["files_done"] > 0 and running["bytes_total"] > 0:
                return seen
    raise AssertionError(f"expected `running` with files_done > 0 while the sync ran (exit {proc.poll()}); "
                         f"saw {[r for _t, r in seen][-3:]}")


def epoch(iso: str) -> float:
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def check_running_member(proc: subprocess.Popen[str], seen: list[tuple[float, dict[str, Any]]],
                         launched: float) -> None:
    when, running = seen[-1]
    assert running["pid"] == proc.pid, f"expected the sync's pid {proc.pid}, got {running['pid']}"
    assert running["command"] == "sync"
    assert running["files_total"] >= running["files_done"] > 0
    assert running["bytes_total"] >= running["bytes_done"] > 0
    assert isinstance(running["eta_seconds"], int | float), f"expected a number, got {running['eta_seconds']!r}"
    assert isinstance(running["rate_bytes_per_second"], int | float) and running["rate_bytes_per_second"] > 0
    assert running["phase"] == "syncing"
    assert launched - 1 <= epoch(running["started"]) <= when + 1
    assert epoch(running["updated"]) <= when + 1
    # at most one record a second: the record counts its own writes
    assert running["seq"] <= (when - launched) + 2, (
        f"expected at most one progress record a second: {running['seq']} records in {when - launched:.1f} s")
    assert "token" not in running, "the lock's token is not shown"
    assert f"{running['files_done']} of {running['files_total']} files" in running["summary"]


def test_status_json_shows_a_running_folder_sync_then_null(origin, tmp_path):
    origin.faults.add("slow", on=("file",), bandwidth=BANDWIDTH // 4)  # about 4 s a wheel: room for polling
    target, env = str(tmp_path / "mirror"), dict(os.environ)
    launched = time.time()
    with sync_in_background(origin, target, env) as proc:
        seen = poll_running(proc, target, env)
        check_running_member(proc, seen, launched)
        assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
    after = status(target, env)
    assert after["running"] is None, f"expected no run in flight after the sync, got {after['running']}"
    assert not (tmp_path / "mirror" / ".cloudpypi" / "progress.json").exists(), "a finished run removes its record"


def test_status_json_shows_a_running_s3_sync_then_null(origin, moto, tmp_path):
    bucket = moto.make_bucket(f"progress-{os.getpid()}-{int(time.time() * 1000) % 100000}")
    origin.faults.add("slow", on=("file",), bandwidth=BANDWIDTH // 4)
    target = f"{bucket}/pypi"
    env = moto.env({**os.environ, "CLOUDPYPI_STATE_DIR": str(tmp_path / "state")})
    launched = time.time()
    with sync_in_background(origin, target, env) as proc:
        seen = poll_running(proc, target, env)
        check_running_member(proc, seen, launched)
        assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
    assert status(target, env)["running"] is None
    keys = [o["Key"] for o in moto.client("s3").list_objects_v2(Bucket=bucket.removeprefix("s3://"))
            .get("Contents", [])]
    assert "pypi/.cloudpypi/progress.json" not in keys, "a finished run removes its record"


def test_a_sigkilled_run_leaves_a_stale_record_that_status_does_not_call_running(origin, tmp_path):
    origin.faults.add("slow", on=("file",), bandwidth=BANDWIDTH // 4)
    target, env = str(tmp_path / "mirror"), dict(os.environ)
    with sync_in_background(origin, target, env) as proc:
        poll_running(proc, target, env)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    record = tmp_path / "mirror" / ".cloudpypi" / "progress.json"
    assert record.exists(), "expected the killed run's record to be left behind (the case under test)"
    assert (tmp_path / "mirror" / ".cloudpypi" / "lock").exists(), "expected the killed run's lock left behind"
    assert status(target, env)["running"] is None, "a record whose run no longer holds the lock is not running"


def test_the_watchdog_stops_a_stalled_run_and_the_next_run_redownloads_nothing(origin, tmp_path):
    # slow-3's wheel stalls after 1000 bytes, far longer than the stall timeout and the read timeout
    origin.faults.add("timeout", on=("file",), path=r"slow_3-1\.0-py3", after_bytes=1000, stall_s=120)
    target = str(tmp_path / "mirror")
    started = time.monotonic()
    stalled = run_cli("sync", "--origin", origin.url, "--target", target, "--no-progress",
                      "--workers", "2", "--processes", "1", "--stall-timeout", "2", timeout=120)
    took = time.monotonic() - started
    assert stalled.returncode == 1, f"expected exit 1 from a stalled run, got {stalled.returncode}\n{stalled.stderr}"
    assert "no progress for" in stalled.stderr and "stall_timeout 2 s" in stalled.stderr, stalled.stderr
    # stall_timeout, then at most the grace (5 s for so short a timeout), plus start-up and a tick
    assert took < 2 + 5 + 10, f"expected the stalled run to end within the stall time and grace, took {took:.1f} s"
    done_before = {path for path in origin.counters.paths("file") if "slow_3-1.0-py3" not in path}
    assert done_before, "expected the other files to be downloaded before the stall"

    origin.faults.clear()
    origin.counters.reset()
    resumed = run_cli("sync", "--origin", origin.url, "--target", target, "--no-progress", timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    again = set(origin.counters.paths("file"))
    assert again == {p for p in again if "slow_3-1.0-py3" in p} and again, (
        f"expected only the stalled file fetched again (0 re-downloads of verified files), got {sorted(again)}")
    assert (Path(target) / "simple" / "slow-3" / "index.html").exists()


def test_a_slow_run_that_keeps_progressing_is_not_stopped_by_the_watchdog(origin, tmp_path):
    origin.faults.add("slow", on=("file",), bandwidth=BANDWIDTH)
    target = str(tmp_path / "mirror")
    started = time.monotonic()
    run = run_cli("sync", "--origin", origin.url, "--target", target, "--no-progress",
                  "--workers", "1", "--processes", "1", "--stall-timeout", "2", timeout=120)
    took = time.monotonic() - started
    assert run.returncode == 0, f"expected a slow but progressing run to finish, got {run.returncode}\n{run.stderr}"
    assert took > 2 * 2, f"expected the run to last longer than twice the stall timeout (it took {took:.1f} s)"
    assert "no progress" not in run.stderr


def test_a_long_file_in_a_transfer_process_counts_as_progress(tmp_path):
    # 40 small projects hand out more than 32 files, so the big one (last in the walk) goes to a transfer
    # process; it takes about 11 s at 1.5 MB/s, more than twice the 5 s stall timeout, with nothing else
    # left to do: only the process's "bytes are arriving" messages keep the watchdog quiet.
    corpus = Corpus()
    for number in range(40):
        corpus.add_project(f"small-{number:02d}", [{"version": "1.0", "files": ["py3-none-any"]}])
    corpus.add_project("zz-big", [{"version": "1.0", "files": [("py3-none-any", 16_000_000)]}])
    with running_origin(corpus) as origin:
        warm_up(origin, "zz-big")  # the fake origin builds a file on its first request: not part of the test
        origin.faults.add("slow", on=("file",), path="zz_big", bandwidth=1_500_000)
        run = run_cli("sync", "--origin", origin.url, "--target", str(tmp_path / "mirror"),
                      "--no-progress", "--workers", "4", "--processes", "2", "--stall-timeout", "5",
                      "--report", str(tmp_path / "report.json"), timeout=180)
    assert run.returncode == 0, f"expected the run to finish, got exit {run.returncode}\n{run.stderr[-3000:]}"
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["transfer_processes"] == 2, "expected the downloads to run in transfer processes"
    assert report["duration_s"] > 2 * 5, f"expected a run longer than the stall timeout, took {report['duration_s']}"


def warm_up(origin: Any, project: str) -> None:
    import urllib.request
    from urllib.parse import urljoin

    page_url = f"{origin.url}/simple/{project}/"
    request = urllib.request.Request(page_url, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        files = json.load(response)["files"]
    for item in files:
        with urllib.request.urlopen(urljoin(page_url, item["url"]), timeout=120) as response:
            response.read()


def test_time_spent_waiting_for_the_lock_is_no_stall(origin, tmp_path):
    import threading

    from cloudpypi.lock import TargetLock
    from cloudpypi.storage.folder import FolderStorage

    target = tmp_path / "mirror"
    holder = TargetLock(FolderStorage(str(target)))
    holder.acquire()
    releaser = threading.Timer(5.0, holder.release)  # longer than the stall timeout below
    releaser.start()
    try:
        run = run_cli("sync", "--origin", origin.url, "--target", str(target), "--no-progress",
                      "--lock-wait", "60", "--stall-timeout", "2", timeout=120)
    finally:
        releaser.join()
    assert run.returncode == 0, f"expected the run to start once the lock is free, got {run.returncode}\n{run.stderr}"
    assert "no progress" not in run.stderr


def run_on_a_terminal(*args: str) -> tuple[int, str]:
    """Run `cloudpypi ARGS` with stdout on a pseudo-terminal (rich draws its bar there); all it printed, and the
    exit code."""
    import pty
    import select

    leader, follower = pty.openpty()
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "200"}
    proc = start_cli(*args, env=env, stdout=follower, stderr=subprocess.DEVNULL)
    os.close(follower)
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([leader], [], [], 1.0)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the terminal closed: the process ended
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(leader)
    return proc.wait(timeout=60), b"".join(chunks).decode(errors="replace")


def test_on_a_terminal_the_bar_shows_bytes_rate_and_time_left_and_not_in_a_pipe(origin, tmp_path):
    origin.faults.add("slow", on=("file",), bandwidth=BANDWIDTH)
    args = ("sync", "--origin", origin.url, "--workers", "2", "--processes", "1")
    code, shown = run_on_a_terminal(*args, "--target", str(tmp_path / "tty"))
    assert code == 0, shown[-2000:]
    assert "kB/s" in shown and "/404.7 kB" in shown, f"expected bytes of the total and a rate:\n{shown[-2000:]}"
    assert "files 8/8" in shown and "projects 4/4" in shown, shown[-2000:]
    assert "0:00:0" in shown, f"expected the time remaining and elapsed:\n{shown[-2000:]}"
    piped = run_cli(*args, "--target", str(tmp_path / "pipe"), timeout=120)
    assert piped.returncode == 0 and "kB/s" not in piped.stdout and "\x1b[" not in piped.stdout, piped.stdout
