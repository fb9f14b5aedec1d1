"""A sync fleet on a real moto server (SQS FIFO, visibility timeouts, dead letters), with real worker
processes and a real coordinator process, against the fake origin."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Callable

import pytest

from cloudpypi.fleet.messages import WorkItem
from engine.conftest import cloudpypi

pytestmark = [pytest.mark.moto, pytest.mark.slow, pytest.mark.timeout(600)]


def wait_for(condition: Callable[[], object], what: str, timeout: float = 120) -> object:
    """Poll a real condition (queue depths, objects, requests) until it holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def finish(proc, timeout: float = 300) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def file_count(corpus) -> int:
    return sum(len(release.files) for project in corpus.projects.values() for release in project.releases.values())


def report(fleet) -> dict:
    return json.loads((fleet.tmp / "report.json").read_text())


def verify_against_origin(fleet) -> None:
    config = fleet.tmp / "verify.toml"
    config.write_text(f'[mirror]\norigin = "{fleet.origin.url}"\n')
    run = cloudpypi("verify", "--target", fleet.target, "--config", str(config), "--origin", env=fleet.env())
    assert run.returncode == 0, run


def test_two_workers_and_a_coordinator_build_the_mirror_a_single_host_sync_builds(fleet, moto, corpus):
    fleet.start_worker()
    fleet.start_worker()
    code, out, err = finish(fleet.coordinator())
    assert code == 0, f"{out}\n{err}"
    assert report(fleet)["files_added"] == file_count(corpus)
    verify_against_origin(fleet)
    single_target = f"s3://{fleet.bucket}/single"
    single = cloudpypi("sync", "--origin", fleet.origin.url, "--target", single_target, "--no-progress",
                       env=fleet.env("single-state"))
    assert single.returncode == 0, single
    s3 = moto.client("s3")
    for name in corpus.projects:
        key = f"simple/{name}/index.v1_json"
        fleet_page = s3.get_object(Bucket=fleet.bucket, Key=f"pypi/{key}")["Body"].read()
        single_page = s3.get_object(Bucket=fleet.bucket, Key=f"single/{key}")["Body"].read()
        assert fleet_page == single_page, f"{name}: the fleet's page differs from a single-host sync's"
    root = s3.get_object(Bucket=fleet.bucket, Key="pypi/simple/index.v1_json")["Body"].read()
    assert {p["name"] for p in json.loads(root)["projects"]} == set(corpus.projects)


def test_the_root_index_waits_for_every_result_and_a_second_run_downloads_nothing(fleet, corpus):
    coordinator = fleet.coordinator()
    projects = len(corpus.projects)
    wait_for(lambda: fleet.depths()["work"]["waiting"] == projects or coordinator.poll() is not None,
             "the coordinator to send every project")
    assert coordinator.poll() is None, finish(coordinator)
    assert not fleet.keys("simple/index"), "no root index while the projects are only queued"
    fleet.start_worker()
    code, out, err = finish(coordinator)
    assert code == 0, f"{out}\n{err}"
    assert {"simple/index.html", "simple/index.v1_json"} <= fleet.keys("simple/index")
    fleet.origin.counters.reset()
    code, out, err = finish(fleet.coordinator())
    assert code == 0, f"{out}\n{err}"
    assert fleet.origin.counters.total("file") == 0, fleet.origin.counters.summary()
    assert report(fleet)["files_added"] == 0


def test_a_worker_killed_mid_project_is_replaced_and_the_run_still_completes(fleet, corpus):
    slow = "bulk-0"
    fleet.origin.faults.add("slow", on=("file",), path=slow.replace("-", "_"), bandwidth=2000)
    victim = fleet.start_worker()
    coordinator = fleet.coordinator()
    wait_for(lambda: any(slow.replace("-", "_") in path for path in fleet.origin.counters.paths("file")),
             "the worker to start downloading the slow project")
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
    fleet.origin.faults.clear()
    fleet.start_worker()  # takes the rest now, and the killed worker's project once its visibility ends
    code, out, err = finish(coordinator)
    assert code == 0, f"{out}\n{err}"
    assert f"simple/{slow}/index.v1_json" in fleet.keys(f"simple/{slow}/")
    verify_against_origin(fleet)


def test_a_duplicate_delivery_changes_nothing(fleet, corpus):
    coordinator = fleet.coordinator()
    projects = len(corpus.projects)
    wait_for(lambda: fleet.depths()["work"]["waiting"] == projects or coordinator.poll() is not None,
             "the coordinator to send every project")
    holder = json.loads(fleet.moto.client("s3").get_object(Bucket=fleet.bucket, Key="pypi/.cloudpypi/lock")
                        ["Body"].read())
    duplicate = WorkItem(run=holder["token"], project="idna", known=False, known_serial=None)
    fleet.queues.client.send_message(QueueUrl=fleet.queues.work, MessageBody=duplicate.encode(),
                                     MessageGroupId=duplicate.group, MessageDeduplicationId=uuid.uuid4().hex)
    fleet.start_worker()
    fleet.start_worker()
    code, out, err = finish(coordinator)
    assert code == 0, f"{out}\n{err}"
    assert report(fleet)["files_added"] == file_count(corpus)
    verify_against_origin(fleet)
    wait_for(lambda: fleet.depths()["work"]["waiting"] + fleet.depths()["work"]["in_flight"] == 0,
             "the duplicate to be consumed")
    verify_against_origin(fleet)


def test_a_message_of_a_run_that_no_longer_holds_the_lock_changes_nothing(fleet, corpus):
    fleet.start_worker()
    code, out, err = finish(fleet.coordinator())
    assert code == 0, f"{out}\n{err}"
    page_before = fleet.moto.client("s3").get_object(Bucket=fleet.bucket, Key="pypi/simple/idna/index.v1_json")[
        "Body"].read()
    corpus.add_release("idna", "9.0", files=["py3-none-any"])
    fleet.origin.counters.reset()
    stale = WorkItem(run=uuid.uuid4().hex, project="idna", known=True, known_serial=1)
    fleet.queues.client.send_message(QueueUrl=fleet.queues.work, MessageBody=stale.encode(),
                                     MessageGroupId=stale.group, MessageDeduplicationId=stale.deduplication_id)
    wait_for(lambda: fleet.depths()["work"]["waiting"] + fleet.depths()["work"]["in_flight"] == 0,
             "the worker to take the stale message")
    page_after = fleet.moto.client("s3").get_object(Bucket=fleet.bucket, Key="pypi/simple/idna/index.v1_json")[
        "Body"].read()
    assert page_after == page_before
    assert fleet.origin.counters.total("file") == 0, fleet.origin.counters.summary()


def test_a_poison_project_is_dead_lettered_and_retried_by_the_next_run(fleet, corpus):
    """A project that no worker completes (each delivery dies) lands in the dead-letter queue; the run
    reports it and exits 1; the next run retries it and completes."""
    poison = "tiny-pkg"
    coordinator = fleet.coordinator()
    projects = len(corpus.projects)
    wait_for(lambda: fleet.depths()["work"]["waiting"] == projects or coordinator.poll() is not None,
             "the coordinator to send every project")
    sqs, work = fleet.queues.client, fleet.queues.work
    deliveries = 0
    # Stand in for workers that die on the poison project: take it and give it back, max_receives (3) times.
    # The next receive, the real worker's below, moves it to the dead-letter queue, where the coordinator
    # takes it (so the test does not look there itself: the coordinator may be first).
    deadline = time.monotonic() + 240
    while deliveries < 3:
        assert time.monotonic() < deadline, f"the poison project was delivered {deliveries} time(s) only"
        for message in sqs.receive_message(QueueUrl=work, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                "Messages", []):
            if WorkItem.decode(message["Body"]).project == poison:
                deliveries += 1
            sqs.change_message_visibility(QueueUrl=work, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    fleet.start_worker()
    code, out, err = finish(coordinator)
    assert code == 1, f"{out}\n{err}"
    failures = {f["project"]: f["reason"] for f in report(fleet)["failures"]}
    assert "dead-lettered" in failures.get(poison, ""), failures
    assert f"simple/{poison}/index.v1_json" not in fleet.keys(f"simple/{poison}/")
    code, out, err = finish(fleet.coordinator())
    assert code == 0, f"{out}\n{err}"
    assert f"simple/{poison}/index.v1_json" in fleet.keys(f"simple/{poison}/")
    verify_against_origin(fleet)


def test_a_folder_target_is_refused_for_a_fleet(fleet, tmp_path):
    run = cloudpypi("sync", "--fleet", fleet.name, "--origin", fleet.origin.url, "--target", str(tmp_path / "m"),
                    env=fleet.env())
    assert run.returncode == 2, run
    assert "s3://" in run.stderr
    assert not (tmp_path / "m").exists()
