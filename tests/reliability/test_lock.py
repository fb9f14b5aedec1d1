"""Concurrency: one sync per target, through a lease lock that works on a folder and on S3 (conditional
PutObject If-None-Match on moto).  A lock left by a SIGKILLed run on this host is taken over at once; a
lock held by another host is respected until its lease expires."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.fakeorigin import Corpus, OriginServer, running_origin

from .checker import assert_mirror_consistent
from .conftest import S3Target
from .harness import Cli, kill_group, known_good, small_corpus
from .mirrorview import FolderView, MirrorView

LOCK_KEY = ".cloudpypi/lock"
OTHER_HOST = "sync-runner-7.other.example"


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return small_corpus(2, big=1, big_size=2_000_000)


@pytest.fixture
def origin(corpus: Corpus) -> Iterator[OriginServer]:
    with running_origin(corpus) as server:
        server.faults.add("slow", on=("file",), bandwidth=1_000_000)  # a run holds the lock for ~2 s
        yield server


@dataclass
class Target:
    url: str
    view: MirrorView
    cli: Cli
    write_lock: Callable[[bytes], None]

    def lock_exists(self) -> bool:
        return self.view.read(LOCK_KEY) is not None


@pytest.fixture(params=["folder", "s3"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    if request.param == "folder":
        root = tmp_path / "mirror"

        def write_folder(data: bytes) -> None:
            (root / ".cloudpypi").mkdir(parents=True, exist_ok=True)
            (root / LOCK_KEY).write_bytes(data)

        return Target(str(root), FolderView(root), Cli(tmp_path), write_folder)
    s3: S3Target = request.getfixturevalue("s3")
    url, view = s3.new("lock")

    def write_s3(data: bytes) -> None:
        s3.client.put_object(Bucket=view.bucket, Key=LOCK_KEY, Body=data, ContentType="application/json")

    return Target(url, view, request.getfixturevalue("s3_cli"), write_s3)


def _foreign_lock(expires_in: float) -> bytes:
    now = time.time()
    return json.dumps({"host": OTHER_HOST, "boot_id": "0000-other-boot", "pid": 4242, "token": "f" * 32,
                       "started": now - 60, "expires": now + expires_in, "command": "sync"}).encode()


def _wait_lock(target: Target, proc: object) -> None:
    deadline = time.monotonic() + 30
    while not target.lock_exists():
        assert time.monotonic() < deadline, "expected the first sync to create the lock within 30 s"
        assert proc.poll() is None, "expected the first sync still running while the lock is checked"  # type: ignore[attr-defined]
        time.sleep(0.01)  # polling for the lock object to appear


def test_two_syncs_at_once_one_runs_and_the_other_exits_75_naming_the_holder(
        target: Target, origin: OriginServer, corpus: Corpus) -> None:
    config = target.cli.config()
    first = target.cli.start(origin.url, target.url, config=config)
    second = target.cli.start(origin.url, target.url, config=config)
    outputs = {proc.pid: proc.communicate(timeout=120) for proc in (first, second)}
    codes = {proc.pid: proc.returncode for proc in (first, second)}
    assert sorted(codes.values()) == [0, 75], f"expected one exit 0 and one exit 75, got {codes} {outputs}"
    winner = next(pid for pid, code in codes.items() if code == 0)
    loser = next(pid for pid, code in codes.items() if code == 75)
    message = outputs[loser][1]
    assert f"pid {winner} on {socket.gethostname()}" in message, (
        f"expected the refusal to name the holder (pid {winner} on {socket.gethostname()}), got {message!r}")
    assert not target.lock_exists(), "expected the winner to release the lock"
    assert_mirror_consistent(target.view, known_good=known_good(corpus))


def test_second_sync_with_lock_wait_waits_for_the_first_then_succeeds(
        target: Target, origin: OriginServer, corpus: Corpus) -> None:
    config = target.cli.config()
    first = target.cli.start(origin.url, target.url, config=config)
    _wait_lock(target, first)
    second = target.cli.sync(origin.url, target.url, config=config, extra=["--lock-wait", "60"])
    first.communicate(timeout=60)
    assert first.returncode == 0 and second.returncode == 0, (
        f"expected both to succeed, got {first.returncode} and {second.describe()}")
    assert_mirror_consistent(target.view, known_good=known_good(corpus))


def test_lock_left_by_a_sigkilled_run_on_this_host_is_taken_over_at_once(
        target: Target, origin: OriginServer, corpus: Corpus) -> None:
    config = target.cli.config()
    victim = target.cli.start(origin.url, target.url, config=config)
    _wait_lock(target, victim)
    kill_group(victim)
    victim.communicate(timeout=30)
    assert target.lock_exists(), "expected the SIGKILLed run to leave its lock behind"
    origin.faults.clear()
    result = target.cli.sync(origin.url, target.url, config=config)
    assert result.returncode == 0, f"expected the next run to take the stale lock over, got {result.describe()}"
    assert "taking over a stale lock" in result.stderr, f"expected a takeover warning, got {result.stderr!r}"
    assert result.duration < 20, f"expected no wait for a dead holder's lease, took {result.duration:.1f}s"
    assert_mirror_consistent(target.view, known_good=known_good(corpus))


def test_lock_held_by_another_host_is_respected_while_its_lease_runs(target: Target, origin: OriginServer) -> None:
    lock = _foreign_lock(expires_in=3600)
    target.write_lock(lock)
    result = target.cli.sync(origin.url, target.url, config=target.cli.config())
    assert result.returncode == 75, f"expected exit 75 while another host's lease runs, got {result.describe()}"
    assert OTHER_HOST in result.stderr, f"expected the message to name {OTHER_HOST}, got {result.stderr!r}"
    assert target.view.read(LOCK_KEY) == lock, "expected another host's lock left untouched"
    assert target.view.read("simple/index.v1_json") is None, "expected nothing synced while locked"


def test_lock_of_another_host_is_taken_over_once_its_lease_expires(
        target: Target, origin: OriginServer, corpus: Corpus) -> None:
    origin.faults.clear()
    target.write_lock(_foreign_lock(expires_in=-1))
    expired = target.cli.sync(origin.url, target.url, config=target.cli.config())
    assert expired.returncode == 0, f"expected an expired lease taken over at once, got {expired.describe()}"
    assert "taking over a stale lock" in expired.stderr, expired.stderr

    lease = 3.0
    target.write_lock(_foreign_lock(expires_in=lease))
    written = time.monotonic()
    waited = target.cli.sync(origin.url, target.url, config=target.cli.config(), extra=["--lock-wait", "30"])
    elapsed = time.monotonic() - written
    assert waited.returncode == 0, f"expected the lock taken over after its lease, got {waited.describe()}"
    assert elapsed >= lease - 0.5, f"expected the run to wait for the {lease}s lease, it finished in {elapsed:.1f}s"
    assert "taking over a stale lock" in waited.stderr and OTHER_HOST in waited.stderr, waited.stderr
    assert not target.lock_exists(), "expected the lock released after the run"
    assert_mirror_consistent(target.view, known_good=known_good(corpus))
