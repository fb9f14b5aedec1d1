"""Transfer processes: the same mirror as in-process threads, and no process outlives the sync or
takes a file down with it (SIGKILL of the sync, of one transfer process, SIGTERM)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from subprocess import Popen

import pytest

from cloudpypi.config import Config
from cloudpypi.transfers import AUTO_PROCESS_AFTER_FILES, PROCESS_AFTER_FILES, Transfers, auto_processes, split
from support.fakeorigin import Corpus, OriginServer, running_origin

from .checker import assert_mirror_consistent
from .harness import Cli, known_good, small_corpus
from .mirrorview import FolderView

WAIT_S = 60.0


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    # 40 projects, about 140 files: enough that a run passes PROCESS_AFTER_FILES and starts its processes
    return small_corpus(40, big=2, big_size=2_000_000)


@pytest.fixture(scope="module")
def origin(corpus: Corpus) -> Iterator[OriginServer]:
    with running_origin(corpus) as server:
        yield server


@pytest.fixture(autouse=True)
def _clear_faults(origin: OriginServer) -> Iterator[None]:
    origin.faults.clear()
    yield
    origin.faults.clear()


def children(pid: int) -> set[int]:
    found: set[int] = set()
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            found.update(int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split())
        except (OSError, ValueError):
            continue
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_for(condition, what: str, timeout: float = WAIT_S) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f}s waiting for {what}"
        time.sleep(0.01)


def stored_files(target: Path) -> set[str]:
    packages = target / "packages"
    return {str(p.relative_to(target)) for p in packages.rglob("*") if p.is_file() and p.suffix != ".metadata"} \
        if packages.exists() else set()


@contextlib.contextmanager
def sync_with_busy_processes(cli: Cli, origin: OriginServer, target: Path) -> Iterator[tuple[Popen[str], set[int]]]:
    """A slowed `--processes 2` sync, handed over once both transfer processes exist and have stored files."""
    origin.faults.add("slow", on=("file",), bandwidth=2_000_000)
    proc = cli.start(origin.url, str(target), extra=["--processes", "2"])
    try:
        wait_for(lambda: len(children(proc.pid)) >= 2 and len(stored_files(target)) > PROCESS_AFTER_FILES,
                 "the transfer processes to store files")
        yield proc, children(proc.pid)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        origin.faults.clear()


def test_split_and_the_automatic_process_count(tmp_path: Path) -> None:
    from cloudpypi.storage.folder import FolderStorage
    from cloudpypi.storage.s3 import S3Storage

    folder, bucket = FolderStorage(tmp_path), S3Storage("s3://bucket")
    assert bucket.network_bound and not folder.network_bound, "expected S3 network-bound and a folder not"
    assert split(10, 3) == [4, 3, 3]
    assert split(10, 2) == [5, 5]
    assert sum(split(7, 4)) == 7
    assert Transfers(Config(target="/srv/mirror", workers=2, processes=4), None, None).processes == 2, (  # type: ignore[arg-type]
        "never more processes than concurrent downloads")
    assert auto_processes(Config(target="s3://bucket", workers=10), bucket) == 1, (
        "an S3 sync keeps its transfers in-process")
    assert auto_processes(Config(target="/srv/mirror", workers=1), folder) == 1, "one download needs no second process"
    assert auto_processes(Config(target="/srv/mirror", workers=10, processes=3), folder) == 3, "config wins"
    cpus = len(os.sched_getaffinity(0))
    assert auto_processes(Config(target="/srv/mirror", workers=10), folder) == max(1, min(cpus, 4, 5))


@pytest.mark.parametrize(("size", "processes", "expect_started"), [
    (100_000, None, True),  # small files, automatic: the processes pay for themselves
    (5_000_000, None, False),  # big files, automatic: downloads stay in the sync's own threads
    (5_000_000, 2, True),  # asked for: started whatever the sizes
], ids=["small-auto", "big-auto", "big-asked-for"])
def test_automatic_transfer_processes_start_only_for_runs_of_small_files(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, size: int, processes: int | None,
        expect_started: bool) -> None:
    import cloudpypi.transfers as transfers
    from cloudpypi.model import DistFile
    from cloudpypi.storage.folder import FolderStorage

    started: list[int] = []

    class Group:
        count = 2

        def submit(self, item: DistFile, check_target: bool) -> str:
            return "in a transfer process"

    class Pool:
        def submit(self, function: object, *args: object) -> str:
            return "in-process"

    monkeypatch.setattr(transfers, "ProcessGroup",
                        lambda config, count, on_bytes=None: started.append(count) or Group())
    class Fetcher:
        storage = FolderStorage(tmp_path)

        def ensure(self, item: DistFile, check_target: bool) -> None: ...

    chosen = Transfers(Config(target="/srv/mirror", workers=10), Fetcher(), Pool(), processes)  # type: ignore[arg-type]
    chosen.processes = 2  # as on a 2-core host, whatever this one has
    after = PROCESS_AFTER_FILES if processes else AUTO_PROCESS_AFTER_FILES
    where = [chosen.submit(DistFile(f"f{n}.whl", f"https://o/f{n}.whl", "0" * 64, size=size), False)
             for n in range(after + 5)]
    assert bool(started) == expect_started, (
        f"expected transfer processes {'started' if expect_started else 'not started'} for {size}-byte files "
        f"(processes={processes}), got {started}")
    assert where[:after] == ["in-process"] * after, "the first files stay in-process"
    assert where[-1] == ("in a transfer process" if expect_started else "in-process")


def test_processes_build_the_same_mirror_as_threads(cli: Cli, origin: OriginServer, corpus: Corpus,
                                                    tmp_path: Path) -> None:
    by_threads = cli.sync(origin.url, str(tmp_path / "threads"), extra=["--processes", "1"])
    by_processes = cli.sync(origin.url, str(tmp_path / "processes"), extra=["--processes", "2"])
    assert by_threads.returncode == 0, by_threads.describe()
    assert by_processes.returncode == 0, by_processes.describe()
    assert by_threads.report and by_processes.report
    assert by_threads.report["transfer_processes"] == 0
    assert by_processes.report["transfer_processes"] == 2, "expected the run to hand files to 2 processes"
    assert by_processes.report["files_added"] > PROCESS_AFTER_FILES
    # the origin requests the processes made are counted in the sync's report
    assert by_processes.report["requests"] == by_threads.report["requests"]
    a, b = FolderView(tmp_path / "threads"), FolderView(tmp_path / "processes")
    assert_mirror_consistent(b, known_good=known_good(corpus))
    for prefix in ("simple/", "packages/"):
        keys = sorted(a.keys(prefix))
        assert keys == sorted(b.keys(prefix)), f"expected the same {prefix} keys from both runs"
        for key in keys:
            assert a.read(key) == b.read(key), f"{key} differs between thread and process runs"


def test_sigkill_of_the_sync_ends_its_processes_and_the_next_run_downloads_only_what_is_missing(
        cli: Cli, origin: OriginServer, corpus: Corpus, tmp_path: Path) -> None:
    target = tmp_path / "mirror"
    with sync_with_busy_processes(cli, origin, target) as (proc, workers):
        os.kill(proc.pid, signal.SIGKILL)  # the sync alone, not its process group
        proc.communicate(timeout=WAIT_S)
        wait_for(lambda: not any(alive(pid) for pid in workers), "the orphaned transfer processes to exit")
    present = stored_files(target)
    resumed = cli.sync(origin.url, str(target), extra=["--processes", "2"])
    assert resumed.returncode == 0, resumed.describe()
    total = len(stored_files(target))
    assert resumed.report and resumed.report["files_added"] == total - len(present), (
        f"expected the resumed run to download only the {total - len(present)} missing files, "
        f"it downloaded {resumed.report and resumed.report['files_added']}")
    assert_mirror_consistent(FolderView(target), known_good=known_good(corpus))


def test_a_dead_transfer_process_fails_the_run_cleanly_and_the_next_run_converges(
        cli: Cli, origin: OriginServer, corpus: Corpus, tmp_path: Path) -> None:
    target = tmp_path / "mirror"
    with sync_with_busy_processes(cli, origin, target) as (proc, workers):
        os.kill(min(workers), signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 1, f"expected exit 1 after a transfer process died, got {proc.returncode}\n{stderr}"
    assert "transfer process" in stdout + stderr, f"expected the failure to name the transfer process:\n{stdout}"
    assert not any(alive(pid) for pid in workers), "expected no transfer process left behind"
    assert_mirror_consistent(FolderView(target), settled=False)
    again = cli.sync(origin.url, str(target))
    assert again.returncode == 0, again.describe()
    assert_mirror_consistent(FolderView(target), known_good=known_good(corpus))


def test_sigterm_stops_the_processes_with_the_sync(cli: Cli, origin: OriginServer, corpus: Corpus,
                                                   tmp_path: Path) -> None:
    target = tmp_path / "mirror"
    with sync_with_busy_processes(cli, origin, target) as (proc, workers):
        os.killpg(proc.pid, signal.SIGTERM)  # as systemd stops a unit: every process of the group
        _stdout, stderr = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 143, f"expected the graceful-stop exit code 143, got {proc.returncode}\n{stderr}"
    assert not any(alive(pid) for pid in workers), "expected the transfer processes to have exited with the sync"
    again = cli.sync(origin.url, str(target))
    assert again.returncode == 0, again.describe()
    assert_mirror_consistent(FolderView(target), known_good=known_good(corpus))
