"""Where the sync's file downloads run: its own threads, then transfer processes for big runs.

CPython runs one thread at a time.  A download is mostly system calls (recv, write, rename), and each
call hands the interpreter lock to another thread and back.  With ten downloads in one process on a
2-core host, that hand-off, not the network or the disk, set the pace (docs/BENCHMARKS.md has the
measurements).  Transfer processes split the same concurrency over P interpreters of T threads each.

A run starts with the sync's own threads, and only once it has handed out AUTO_PROCESS_AFTER_FILES
files (PROCESS_AFTER_FILES when processes were asked for) does it start the processes, so small runs
(a few projects, an incremental run) pay nothing for them; nor do runs whose files average a MiB or
more (PROCESS_MAX_MEAN_BYTES), unless processes were asked for.  Each process builds its own storage
and origin clients from the run's Config and takes files from one shared queue, so a process busy with a
300 MB wheel does not hold others back.

Processes are plain `python -c` children fed over two pipes (no multiprocessing start method, so no
resource-tracker process and nothing forked from a threaded parent).  They ignore SIGINT/SIGTERM (the
sync stops them with a message, after its graceful stop) and exit at once when the sync process dies,
even by SIGKILL, because their task pipe then reads end-of-file: they never outlive it.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import contextlib
import itertools
import logging
import multiprocessing.connection
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from cloudpypi.config import Config
from cloudpypi.errors import CloudPyPIError, OriginError, Stopping
from cloudpypi.fetch import Fetched, FileFetcher
from cloudpypi.model import DistFile
from cloudpypi.storage import Storage

log = logging.getLogger(__name__)

PROCESS_AFTER_FILES = 32  # processes asked for (`--processes N`): started after this many files
# Automatic processes: the size rule below judges the files handed out so far, so it needs enough of them
# to see the run's mix.  With 2% of a PyPI-like run's files over 20 MB, 32 files held none of them about
# half the time (0.98**32 = 0.52) and the processes started in about half the large-file runs; 256 files
# hold none 0.6% of the time (docs/DESIGN.md, "O_DIRECT staging and one PUT per file").
AUTO_PROCESS_AFTER_FILES = 256
ALIVE_SECONDS = 1.0  # a transfer process says "bytes are arriving" at most this often (the run's watchdog)
# Automatic processes only for runs of small files: with a mean of a MiB or more per file, a download
# is mostly recv, SHA-256 and write in C with the interpreter lock released, and the processes' start-up
# and hand-off cost more CPU than they save (docs/DESIGN.md, "CPU per byte on the large-file path").
PROCESS_MAX_MEAN_BYTES = 1 << 20


class TransferError(CloudPyPIError):
    """A transfer process died: the files it may have been working on are reported failed."""


def auto_processes(config: Config, storage: Storage) -> int:
    """How many transfer processes a run uses: config `processes`, else one per CPU (at most 4),
    each with at least 2 of the `workers` concurrent downloads; for a network-bound storage (S3), one.

    An S3 sync waits on the endpoint, not on the interpreter, and each process would carry its own
    boto3 stack and multipart buffers: measured on moto, 2 processes were no faster and took 213 MB
    against 92 MB (docs/BENCHMARKS.md).
    """
    if config.processes:
        return config.processes
    if storage.network_bound:
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cpus, 4, config.workers // 2))


def split(total: int, parts: int) -> list[int]:
    """total spread over parts as evenly as possible: split(10, 3) == [4, 3, 3]."""
    return [total // parts + (1 if index < total % parts else 0) for index in range(parts)]


class Transfers:
    """Hands files to the sync's thread pool first, then to transfer processes (see the module doc)."""

    def __init__(self, config: Config, fetcher: FileFetcher, pool: cf.ThreadPoolExecutor,
                 processes: int | None = None, on_bytes: Any = None) -> None:
        self.config = config
        self.fetcher = fetcher
        self.pool = pool
        self.on_bytes = on_bytes  # called when a transfer process reports bytes arriving
        # never more processes than downloads: a process without a thread would only hold files back
        asked = processes
        if processes is None:  # the storage is asked only when the config leaves it open
            processes = config.processes or auto_processes(config, fetcher.storage)
        self.processes = min(processes, config.workers)
        self._chosen = asked is not None or bool(config.processes)  # asked for: no size rule
        self._handed_out = 0
        self._handed_bytes = 0
        self._group: ProcessGroup | None = None
        self._lock = threading.Lock()

    def submit(self, item: DistFile, check_target: bool) -> cf.Future[Fetched]:
        with self._lock:
            if self._group is None:
                if self.processes <= 1 or not self._processes_pay():
                    self._handed_out += 1
                    self._handed_bytes += item.size or 0
                    return self.pool.submit(self.fetcher.ensure, item, check_target)
                self._group = ProcessGroup(self.config, self.processes, self.on_bytes)
        return self._group.submit(item, check_target)

    def _processes_pay(self) -> bool:
        """Enough files handed out, and (unless processes were asked for) small ones on average."""
        if self._handed_out < (PROCESS_AFTER_FILES if self._chosen else AUTO_PROCESS_AFTER_FILES):
            return False
        return self._chosen or self._handed_bytes < PROCESS_MAX_MEAN_BYTES * self._handed_out

    @property
    def started_processes(self) -> int:
        return self._group.count if self._group else 0

    def stop(self) -> None:
        if self._group:
            self._group.stop()

    def close(self, cancel: bool = False) -> Counter[str]:
        """Wait for the processes to finish and exit; returns the origin requests they made."""
        with self._lock:
            group, self._group = self._group, None
        return group.close(cancel) if group else Counter()


class ProcessGroup:
    """Transfer processes fed over pipes.  Each holds at most 2 x its threads files; the rest wait here."""

    def __init__(self, config: Config, count: int, on_bytes: Any = None) -> None:
        self.count = count
        self._on_bytes = on_bytes
        # re-entrant: stop() runs in the SIGTERM handler, which may interrupt the main thread inside close()
        self._lock = threading.RLock()
        self._futures: dict[int, cf.Future[Fetched]] = {}
        self._ids = itertools.count()
        self._backlog: collections.deque[tuple[int, DistFile, bool]] = collections.deque()
        self._broken = ""
        self._closing = False
        self._requests: Counter[str] = Counter()
        shares = split(config.workers, count)
        self._workers = [_Worker(config, number, threads) for number, threads in enumerate(shares)]
        log.debug("started %d transfer processes (%s threads)", count,
                  "+".join(str(worker.threads) for worker in self._workers))
        self._reader = threading.Thread(target=self._read, name="transfer-results", daemon=True)
        self._reader.start()

    def submit(self, item: DistFile, check_target: bool) -> cf.Future[Fetched]:
        future: cf.Future[Fetched] = cf.Future()
        with self._lock:
            if self._broken:
                future.set_exception(TransferError(self._broken))
                return future
            task = next(self._ids)
            self._futures[task] = future
            worker = max(self._workers, key=lambda w: w.capacity - w.in_flight)
            if worker.in_flight < worker.capacity:
                worker.send_task(task, item, check_target)
            else:
                self._backlog.append((task, item, check_target))
        return future

    def stop(self) -> None:
        with self._lock:
            waiting, self._backlog = list(self._backlog), collections.deque()
            for worker in self._workers:
                worker.send(("stop",))
            futures = [self._futures.pop(task) for task, _item, _check in waiting]
        for future in futures:
            future.set_exception(Stopping("stopping"))

    def _read(self) -> None:
        """Route results to their futures and refill each process, until every process has exited."""
        open_pipes = {worker.results: worker for worker in self._workers}
        while open_pipes:
            for connection in multiprocessing.connection.wait(list(open_pipes)):
                worker = open_pipes[connection]  # type: ignore[index]
                try:
                    message = worker.results.recv()
                except (EOFError, OSError):
                    del open_pipes[connection]  # type: ignore[arg-type]
                    code = worker.process.wait()
                    if code != 0 or not self._closing:
                        self._fail_all(f"transfer process {worker.number} exited early (exit code {code})")
                    continue
                if message[0] == "done":
                    self._requests.update(message[1])
                    continue
                if message[0] == "alive":
                    if self._on_bytes is not None:
                        self._on_bytes()
                    continue
                kind, task, value = message
                with self._lock:
                    future = self._futures.pop(task, None)
                    worker.in_flight -= 1
                    if self._backlog and not self._broken:
                        worker.send_task(*self._backlog.popleft())
                if future is None:
                    continue
                if kind == "result":
                    future.set_result(value)
                else:
                    future.set_exception(value)
        self._fail_all("the transfer processes have exited")  # anything still waiting will never be answered

    def _fail_all(self, reason: str) -> None:
        with self._lock:
            self._broken = self._broken or reason
            waiting, self._futures, self._backlog = self._futures, {}, collections.deque()
            if waiting:
                for worker in self._workers:
                    worker.send(("stop",))  # the others stop early: this run is already failing
        if waiting:
            log.error("%s: %d file(s) in flight fail", reason, len(waiting))
        for future in waiting.values():
            future.set_exception(TransferError(reason))

    def close(self, cancel: bool) -> Counter[str]:
        if cancel:
            self.stop()
        with self._lock:
            self._closing = True
            for worker in self._workers:
                worker.send(("close",))
        self._reader.join()
        for worker in self._workers:
            worker.tasks.close()
            worker.results.close()
        return self._requests


class _Worker:
    """One transfer process, as the sync sees it: its pipes and how many files it holds."""

    def __init__(self, config: Config, number: int, threads: int) -> None:
        self.number = number
        self.threads = threads
        self.capacity = 2 * threads
        self.in_flight = 0
        task_read, task_write = os.pipe()
        result_read, result_write = os.pipe()
        env = dict(os.environ)
        # the child imports cloudpypi from where this process did, installed or not
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", "from cloudpypi.transfers import serve; serve()",
                 str(task_read), str(result_write)],
                pass_fds=(task_read, result_write), env=env, stdin=subprocess.DEVNULL)
        finally:
            os.close(task_read)
            os.close(result_write)
        self.tasks = multiprocessing.connection.Connection(task_write, readable=False)
        self.results = multiprocessing.connection.Connection(result_read, writable=False)
        self.send(("config", config, threads))

    def send(self, message: tuple[Any, ...]) -> None:
        with contextlib.suppress(OSError):  # a process that died is noticed by the result reader
            self.tasks.send(message)

    def send_task(self, task: int, item: DistFile, check_target: bool) -> None:
        self.in_flight += 1
        self.send(("task", task, item, check_target))


_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)


# ---------------------------------------------------------------------------------------------------------
# inside a transfer process:  python -c "from cloudpypi.transfers import serve; serve()" TASK_FD RESULT_FD
# ---------------------------------------------------------------------------------------------------------
def _portable(exc: BaseException) -> BaseException:
    """The exception itself when it survives pickling, else an OriginError that says what it was."""
    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own bytes, a moment old
        return exc
    except Exception:  # any pickling failure
        return OriginError(f"{type(exc).__name__}: {exc}")


def serve() -> None:
    from cloudpypi.origin import OriginClient
    from cloudpypi.storage import open_target

    # The sync handles signals and tells its processes to stop; systemd's SIGTERM to the whole unit
    # must not kill a process halfway through a file behind the sync's back.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    tasks = multiprocessing.connection.Connection(int(sys.argv[1]), writable=False)
    results = multiprocessing.connection.Connection(int(sys.argv[2]), readable=False)
    try:
        _kind, config, threads = tasks.recv()
    except EOFError:
        os._exit(1)
    storage = open_target(config)
    origin = OriginClient.from_config(config, workers=threads)
    stop = threading.Event()
    fetcher = FileFetcher(config, storage, origin, stop)
    local: queue.SimpleQueue[tuple[int, DistFile, bool] | None] = queue.SimpleQueue()
    sending = threading.Lock()
    last_alive = [0.0]

    def send(message: tuple[Any, ...]) -> None:
        with sending:
            results.send(message)

    def alive() -> None:
        """Bytes arrived: tell the sync, at most once per ALIVE_SECONDS (its watchdog sees a long file move)."""
        now = time.monotonic()
        if now - last_alive[0] >= ALIVE_SECONDS:
            last_alive[0] = now
            with contextlib.suppress(OSError):
                send(("alive",))

    fetcher.on_bytes = alive

    def work() -> None:
        while (task := local.get()) is not None:
            number, item, check_target = task
            try:
                send(("result", number, fetcher.ensure(item, check_target)))
            except BaseException as exc:  # every failure goes back to the sync
                send(("error", number, _portable(exc)))

    pool = [threading.Thread(target=work, name=f"transfer-{n}") for n in range(threads)]
    for thread in pool:
        thread.start()
    while True:
        try:
            message = tasks.recv()
        except (EOFError, OSError):
            os._exit(1)  # the sync is gone (maybe SIGKILL): stop now; its next run cleans the staging area
        if message[0] == "task":
            local.put(message[1:])
        elif message[0] == "stop":
            stop.set()
        elif message[0] == "close":
            break
    for _ in pool:
        local.put(None)
    for thread in pool:
        thread.join()
    send(("done", dict(origin.requests)))
    origin.close()
    storage.close()
