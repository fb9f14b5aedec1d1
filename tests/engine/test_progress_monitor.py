"""The progress counters, the run monitor (record, watchdog, heartbeat) and the `running` member, piece by
piece: pure logic with a fake clock, a real folder target for the record, and a moto server for CloudWatch."""

from __future__ import annotations

import json
import os
import socket
import time
from typing import Any

import pytest

from cloudpypi import runrecord
from cloudpypi.lock import LOCK_KEY, Holder, TargetLock, _boot_id, holder_stale
from cloudpypi.monitoring import HEARTBEAT_METRIC, METRIC_NAMES, Heartbeat
from cloudpypi.progress import Progress, estimate_total, eta_seconds, human_duration, summary
from cloudpypi.storage.folder import FolderStorage
from cloudpypi.watchdog import EXIT_STALLED, RunMonitor, stop_grace


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_eta_is_remaining_bytes_over_the_rate_and_unknown_without_a_rate():
    assert eta_seconds(1000, 100.0) == 10.0
    assert eta_seconds(1000, None) is None
    assert eta_seconds(1000, 0.0) is None
    assert eta_seconds(0, None) == 0.0, "nothing left: done now, whatever the rate"


def test_the_total_is_extrapolated_from_the_projects_planned_so_far():
    assert estimate_total(planned=500, visited=10, total_to_visit=100) == 5000
    assert estimate_total(planned=500, visited=100, total_to_visit=100) == 500
    assert estimate_total(planned=500, visited=0, total_to_visit=100) is None
    assert estimate_total(planned=500, visited=10, total_to_visit=None) is None


def test_human_duration_reads_like_a_clock():
    assert [human_duration(s) for s in (5, 65, 3700, 90000)] == ["5s", "1m05s", "1h01m", "1d01h"]


def test_progress_snapshot_has_rate_and_eta_once_the_plan_is_complete():
    clock = Clock()
    progress = Progress(enabled=False, clock=clock)
    progress.set_total(2)
    progress.planned(2, 2000)
    assert progress.snapshot()["eta_seconds"] is None, "no rate yet"
    progress.planned(0, 0)
    progress.finish_walk(2)
    clock.now += 10
    progress.file_done(1000)
    snap = progress.snapshot()
    assert snap["plan_complete"] is True
    assert snap["rate_bytes_per_second"] == 100.0, snap
    assert snap["eta_seconds"] == 10.0, snap
    assert (snap["files_done"], snap["files_total"], snap["bytes_done"], snap["bytes_total"]) == (1, 2, 1000, 2000)


def test_progress_estimates_the_total_while_projects_are_still_being_planned():
    clock = Clock()
    progress = Progress(enabled=False, clock=clock)
    progress.set_total(10)
    progress.planned(1, 1000)
    snap = progress.snapshot()
    assert snap["plan_complete"] is False
    assert (snap["bytes_total"], snap["bytes_total_estimate"]) == (1000, 10000)
    assert "planned so far, about 9.8 KiB in all" in summary(snap)


def test_a_failed_project_is_no_progress_but_a_done_one_is():
    clock = Clock()
    progress = Progress(enabled=False, clock=clock)
    clock.now += 50
    progress.project_done("broken", ok=False)
    assert progress.last_progress == 1000.0
    progress.project_done("fine", ok=True)
    assert progress.last_progress == 1050.0


def monitor(progress: Progress, clock: Clock, **kwargs: Any) -> tuple[RunMonitor, dict[str, list[Any]]]:
    calls: dict[str, list[Any]] = {"records": [], "stalls": [], "beats": [], "exits": []}
    options: dict[str, Any] = {
        "stall_timeout": 30.0,
        "on_stall": calls["stalls"].append,
        "write_record": lambda snap, seq: calls["records"].append((seq, snap)),
        "heartbeat": calls["beats"].append,
        "hard_exit": calls["exits"].append,
        "clock": clock,
        "heartbeat_every": 60.0,
        **kwargs,
    }
    return RunMonitor(progress, **options), calls


def test_the_record_is_written_when_counters_move_and_refreshed_while_quiet():
    clock = Clock()
    progress = Progress(enabled=False, clock=clock)
    mon, calls = monitor(progress, clock)
    mon.tick()
    clock.now += 1
    mon.tick()  # nothing moved: no write
    assert [seq for seq, _ in calls["records"]] == [1]
    progress.planned(3, 300)
    clock.now += 1
    mon.tick()
    assert [seq for seq, _ in calls["records"]] == [1, 2]
    clock.now += 16
    mon.tick()  # quiet for longer than the refresh: written again, so `updated` stays live
    assert [seq for seq, _ in calls["records"]] == [1, 2, 3]


def test_the_watchdog_stops_a_run_without_progress_once_then_exits_after_the_grace():
    clock = Clock()
    progress = Progress(enabled=False, clock=clock)
    mon, calls = monitor(progress, clock, stall_timeout=30.0, grace=10.0)
    clock.now += 29
    mon.tick()
    assert calls["stalls"] == []
    clock.now += 1
    mon.tick()
    assert calls["stalls"] == [30.0]
    clock.now += 5
    mon.tick()
    assert calls["stalls"] == [30.0] and calls["exits"] == [], "asked once; the graceful stop has its grace"
    clock.now += 5
    mon.tick()
    assert calls["exits"] == [EXIT_STALLED]


def test_the_watchdog_never_stops_a_run_that_keeps_progressing():
    clock = Clock()
    progress = Progress(enabled=False, clock=clock)
    mon, calls = monitor(progress, clock, stall_timeout=30.0)
    for _ in range(100):  # 2000 s, far beyond the stall timeout, with progress every 20 s
        clock.now += 20
        progress.file_done(10)
        mon.tick()
    assert calls["stalls"] == [] and calls["exits"] == []


def test_a_zero_stall_timeout_turns_the_watchdog_off():
    clock = Clock()
    mon, calls = monitor(Progress(enabled=False, clock=clock), clock, stall_timeout=0)
    clock.now += 10**6
    mon.tick()
    assert calls["stalls"] == []


def test_the_grace_is_bounded():
    assert stop_grace(1800) == 120.0
    assert stop_grace(2) == 5.0


def test_the_heartbeat_carries_the_run_age_and_only_while_progressing():
    clock = Clock()
    progress = Progress(enabled=False, clock=clock)
    mon, calls = monitor(progress, clock, stall_timeout=0)
    clock.now += 30
    progress.file_done(1)
    clock.now += 30
    mon.tick()
    assert calls["beats"] == [60.0]
    clock.now += 60
    mon.tick()  # no progress in that minute: no heartbeat
    assert calls["beats"] == [60.0]
    clock.now += 30
    progress.file_done(1)
    clock.now += 30
    mon.tick()
    assert calls["beats"] == [60.0, 180.0]


def test_a_failing_record_write_does_not_stop_the_run():
    clock = Clock()

    def broken(_snap: dict[str, Any], _seq: int) -> None:
        raise OSError("disk full")

    mon, calls = monitor(Progress(enabled=False, clock=clock), clock, write_record=broken)
    mon.tick()
    mon.tick()
    assert calls["stalls"] == []


# ---------------------------------------------------------------- the `running` member, on a real folder


def holder(pid: int, expires: float) -> Holder:
    return Holder(socket.gethostname(), _boot_id(), pid, "tok", time.time() - 5, expires)


def test_a_holder_is_stale_when_its_process_is_gone_or_its_lease_ran_out():
    assert not holder_stale(holder(os.getpid(), time.time() + 600))
    assert holder_stale(holder(os.getpid(), time.time() - 1)), "lease ran out"
    assert holder_stale(holder(2**22 + 12345, time.time() + 600)), "no such process on this host"


def test_running_is_null_without_a_lock_and_the_record_with_one(tmp_path):
    storage = FolderStorage(str(tmp_path))
    assert runrecord.running(storage) is None
    progress = Progress(enabled=False)
    progress.planned(4, 4000)
    with TargetLock(storage) as lock:
        starting = runrecord.running(storage)
        assert starting is not None and starting["phase"] == "starting" and starting["pid"] == os.getpid()
        runrecord.write(storage, runrecord.encode(progress.snapshot(), token=lock.token, pid=os.getpid(), seq=1))
        running = runrecord.running(storage)
        assert running is not None
        assert (running["files_total"], running["bytes_total"], running["pid"]) == (4, 4000, os.getpid())
        assert "token" not in running
    assert (tmp_path / ".cloudpypi" / "progress.json").exists()
    assert runrecord.running(storage) is None, "a record whose run released the lock is not running"


def test_a_record_from_an_earlier_run_is_not_taken_for_the_current_holders(tmp_path):
    storage = FolderStorage(str(tmp_path))
    runrecord.write(storage, runrecord.encode({"phase": "syncing", "files_done": 99}, token="old", pid=1, seq=7))  # noqa: S106
    with TargetLock(storage):
        running = runrecord.running(storage)
    assert running is not None and running["phase"] == "starting" and running["files_done"] == 0


def test_a_garbled_lock_means_no_run_in_flight(tmp_path):
    storage = FolderStorage(str(tmp_path))
    storage.write_bytes(LOCK_KEY, b"not json", content_type="application/json")
    assert runrecord.running(storage) is None


# ---------------------------------------------------------------- CloudWatch, on the moto server


def test_the_metric_list_names_every_metric_the_sync_publishes():
    assert METRIC_NAMES == ("FailedFiles", "FailedProjects", "SerialLag", "LastSuccessTime", "ProgressHeartbeat")


def test_the_heartbeat_reaches_cloudwatch_from_a_monitored_run(moto, monkeypatch):
    for key, value in moto.env().items():
        monkeypatch.setenv(key, value)
    namespace = f"CloudPyPI-test-{os.getpid()}-{time.monotonic_ns()}"
    progress = Progress(enabled=False)
    mon = RunMonitor(progress, stall_timeout=0, on_stall=lambda _q: None, heartbeat=Heartbeat(namespace),
                     interval=0.05, heartbeat_every=0.1)
    cloudwatch = moto.client("cloudwatch")
    with mon:
        deadline = time.monotonic() + 30
        names: list[str] = []
        while time.monotonic() < deadline and HEARTBEAT_METRIC not in names:
            progress.file_done(1)  # the run progresses
            time.sleep(0.05)
            names = [m["MetricName"] for m in cloudwatch.list_metrics(Namespace=namespace)["Metrics"]]
    # moto lists a metric once per datapoint, so two quick heartbeats show the name twice
    assert set(names) == {HEARTBEAT_METRIC}, f"expected only the heartbeat metric in {namespace}, got {names}"
    stats = cloudwatch.get_metric_statistics(Namespace=namespace, MetricName=HEARTBEAT_METRIC,
                                             StartTime=time.time() - 600, EndTime=time.time() + 60, Period=60,
                                             Statistics=["SampleCount", "Maximum"])["Datapoints"]
    assert stats and stats[0]["SampleCount"] >= 1 and stats[0]["Unit"] == "Seconds", stats


def test_the_heartbeat_survives_an_unreachable_cloudwatch(monkeypatch, caplog):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIACLOUDPYPITESTKEY01")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "cloudpypi-test-secret-key-not-a-real-credential-0123456789")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    Heartbeat("CloudPyPI")(12.0)
    assert "could not publish the progress heartbeat" in caplog.text


@pytest.mark.parametrize("record", [b"{", b"[]"])
def test_an_unreadable_record_reads_as_none(tmp_path, record):
    storage = FolderStorage(str(tmp_path))
    storage.write_bytes(runrecord.PROGRESS_KEY, record, content_type="application/json")
    assert runrecord.read(storage) is None
    assert json.loads(runrecord.encode({"a": 1}, token="t", pid=2, seq=3))["seq"] == 3  # noqa: S106
