"""A fleet worker: takes projects from the work queue, syncs each as a single-host sync would, reports.

For each message the worker:

1. checks that the run it names still holds the target's lock (a message of a finished or dead run is
   dropped: nothing downloaded, nothing published);
2. plans the project against the origin and the mirror's page, downloads its files (write-once, so a
   second delivery of the same project stores nothing twice), then publishes the pages, after checking
   the lock again: a straggler of an old run never replaces a page;
3. sends the project's result to the results queue (a large one through the target, see messages), and
   only then deletes the message.

While a project is in hand its message's visibility is extended, so a slow project is not handed to a
second worker; a worker that dies stops extending, and the message returns to the queue after the
visibility timeout for another worker.  A project that crashes the worker itself (not a failed
download: those are reported as failures) is never deleted, and after ``max_receives`` deliveries SQS
moves it to the dead-letter queue, where the coordinator finds it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cloudpypi.config import Config
from cloudpypi.decide import Todo
from cloudpypi.errors import CloudPyPIError, ConfigError, Stopping, UnsafeInput
from cloudpypi.fleet.messages import MAX_MESSAGE_BYTES, ResultEnvelope, WorkItem, spill_key
from cloudpypi.fleet.queues import FleetQueues
from cloudpypi.lock import read_holder
from cloudpypi.model import ProjectPage, ProjectResult
from cloudpypi.origin import OriginClient
from cloudpypi.pages import PageStore
from cloudpypi.storage import Storage, open_target
from cloudpypi.sync import Syncer, SyncOptions

log = logging.getLogger(__name__)

PAGE_THREADS = 8  # at most, for reading and publishing the pages of the projects in hand
POLL_SECONDS = 2  # long-poll wait while idle: short enough to notice a stop, long enough to stay cheap


class StaleRun(CloudPyPIError):
    """The run a message belongs to no longer holds the target's lock."""


def require_shared_target(config: Config) -> None:
    if not config.target.startswith("s3://"):
        raise ConfigError(f"--fleet needs a target every worker can reach, an s3:// bucket; {config.target!r} is a "
                          "folder on one machine (sync it without --fleet)")


def current_run(storage: Storage) -> str | None:
    """The token of the run that holds the target's lock, or None."""
    holder, _ = read_holder(storage)
    return holder.token if holder is not None and holder.token else None


class RunGuardedPages(PageStore):
    """A page store that publishes a project's pages only while its run still holds the target's lock."""

    def __init__(self, storage: Storage, index_max_age: int, **kwargs: Any) -> None:
        super().__init__(storage, index_max_age, **kwargs)
        self.runs: dict[str, str] = {}  # project -> the run token its message carried
        self._runs_lock = threading.Lock()

    def hold(self, project: str, run: str) -> None:
        with self._runs_lock:
            self.runs[project] = run

    def release(self, project: str) -> None:
        with self._runs_lock:
            self.runs.pop(project, None)

    def publish_project(self, page: ProjectPage, *, rewrite: bool = False) -> bool:
        with self._runs_lock:
            run = self.runs.get(page.name)
        if run is None or current_run(self.storage) != run:
            raise StaleRun(f"{page.name}: its run no longer holds the target's lock; its pages are left as they are")
        return super().publish_project(page, rewrite=rewrite)


@dataclass
class _Held:
    item: WorkItem
    receipt: str
    extended: float = field(default_factory=time.monotonic)


class FleetWorker:
    def __init__(self, config: Config, queues: FleetQueues, storage: Storage, origin: OriginClient, *,
                 projects_at_once: int | None = None, exit_when_idle: float | None = None,
                 worker_id: str | None = None) -> None:
        require_shared_target(config)
        self.config = config
        self.queues = queues
        self.storage = storage
        # Twice as many projects in hand as downloads, and page work on threads of its own: while one
        # project's pages are read or published (a few requests to the target each), the others' files
        # keep every download busy.  Downloads stay at config.workers, the link's share.
        self.projects_at_once = max(1, projects_at_once or 2 * config.workers)
        self.syncer = Syncer(config, storage, origin, SyncOptions(progress=False),
                             page_threads=min(self.projects_at_once, PAGE_THREADS))
        self.pages = RunGuardedPages(storage, config.index_max_age, extra_objects=self.syncer.pages.extra_objects)
        self.syncer.pages = self.pages
        self.exit_when_idle = exit_when_idle
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        self.visibility = queues.visibility_timeout()
        self.held: dict[str, _Held] = {}
        self.completed = 0
        self._stop = threading.Event()

    # -- the loop --------------------------------------------------------------------------------
    def run(self) -> int:
        """Work until stopped, or until idle for ``exit_when_idle`` seconds.  Returns projects completed."""
        idle_since = time.monotonic()
        # Said once, when the worker is ready: scripts and operators wait for this line, not for a guess.
        log.info("worker %s: ready; waiting for work on fleet %s", self.worker_id, self.queues.fleet)
        try:
            while not self._stop.is_set():
                if len(self.held) < self.projects_at_once:
                    taken = self._take(wait=0 if self.held else POLL_SECONDS)
                    if taken:
                        idle_since = time.monotonic()
                self._report_outcomes(wait=0.2 if self.held else 0)
                self._extend_visibility()
                if self.held:
                    idle_since = time.monotonic()
                elif self.exit_when_idle is not None and time.monotonic() - idle_since >= self.exit_when_idle:
                    log.info("worker %s: no work for %.0f s; exiting", self.worker_id, self.exit_when_idle)
                    break
        finally:
            self.syncer.stop()
            self.syncer.shutdown(cancel=True)
        return self.completed

    def stop(self) -> None:
        self._stop.set()

    def _take(self, wait: int) -> int:
        room = min(10, self.projects_at_once - len(self.held))
        answer = self.queues.client.receive_message(QueueUrl=self.queues.work, MaxNumberOfMessages=room,
                                                    WaitTimeSeconds=wait, AttributeNames=["ApproximateReceiveCount"])
        taken = 0
        for message in answer.get("Messages", []):
            receipt = message["ReceiptHandle"]
            try:
                item = WorkItem.decode(message["Body"])
            except UnsafeInput as exc:
                log.warning("worker %s: dropping a malformed work message: %s", self.worker_id, exc)
                self._delete(receipt)
                continue
            if current_run(self.storage) != item.run:
                log.info("worker %s: %s belongs to a run that no longer holds the lock; dropped",
                         self.worker_id, item.project)
                self._delete(receipt)
                continue
            if item.project in self.held:  # a second delivery while we hold it: keep the first
                continue
            self.held[item.project] = _Held(item, receipt)
            self.pages.hold(item.project, item.run)
            self._start(item)
            taken += 1
        return taken

    def _start(self, item: WorkItem) -> None:
        self.syncer.start_project(Todo(item.project, item.force), item.known_serial, item.known,
                                  trust_absence=not item.check_target,
                                  only=frozenset(item.only) if item.only is not None else None)

    def _report_outcomes(self, wait: float) -> None:
        for name, outcome in self.syncer.take_outcomes(wait):
            held = self.held.get(name)
            if held is None:
                continue
            if isinstance(outcome, StaleRun):
                log.info("worker %s: %s", self.worker_id, outcome)
                self._finish(held, None)
            elif isinstance(outcome, Stopping):
                self._let_go(held)  # back to the queue after the visibility timeout
            elif isinstance(outcome, ProjectResult):
                self._finish(held, outcome)
            elif isinstance(outcome, (CloudPyPIError, OSError)):
                self._finish(held, ProjectResult(name=name, serial=None, ok=False, reason=str(outcome)))
            else:
                # A bug, not a project failure: the message is not deleted, so after max_receives
                # deliveries it is dead-lettered and the coordinator marks the project for retry.
                log.error("worker %s: %s crashed the worker (%s: %s); leaving it to the queue", self.worker_id,
                          name, type(outcome).__name__, outcome)
                self._let_go(held)

    def _finish(self, held: _Held, result: ProjectResult | None) -> None:
        if result is not None:
            self._send_result(ResultEnvelope(run=held.item.run, worker=self.worker_id, result=result))
            self.completed += 1
        self._delete(held.receipt)
        self._forget(held)

    def _let_go(self, held: _Held) -> None:
        self._forget(held)

    def _forget(self, held: _Held) -> None:
        self.held.pop(held.item.project, None)
        self.pages.release(held.item.project)
        self.syncer.end_selection(held.item.project)

    def _send_result(self, envelope: ResultEnvelope) -> None:
        body = envelope.encode()
        if len(body.encode()) > MAX_MESSAGE_BYTES:
            key = spill_key(envelope.run, envelope.result.name)
            self.storage.write_bytes(key, body.encode(), content_type="application/json")
            body = envelope.spill_message(key)
        self.queues.client.send_message(QueueUrl=self.queues.results, MessageBody=body)

    def _delete(self, receipt: str) -> None:
        self.queues.client.delete_message(QueueUrl=self.queues.work, ReceiptHandle=receipt)

    def _extend_visibility(self) -> None:
        now = time.monotonic()
        for held in list(self.held.values()):
            if now - held.extended >= self.visibility / 3:
                with contextlib.suppress(Exception):  # a message already gone: its outcome decides
                    self.queues.client.change_message_visibility(QueueUrl=self.queues.work, ReceiptHandle=held.receipt,
                                                                 VisibilityTimeout=self.visibility)
                held.extended = now


@contextlib.contextmanager
def _stop_on_signals(worker: FleetWorker) -> Iterator[None]:
    def handler(signum: int, _frame: object) -> None:
        log.warning("worker: signal %d: stopping; projects in hand return to the queue", signum)
        worker.stop()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_worker(config: Config, fleet: str, *, exit_when_idle: float | None = None) -> int:
    require_shared_target(config)
    queues = FleetQueues.find(fleet)
    storage = open_target(config)
    origin = OriginClient.from_config(config)
    try:
        worker = FleetWorker(config, queues, storage, origin, exit_when_idle=exit_when_idle)
        with _stop_on_signals(worker):
            return worker.run()
    finally:
        origin.close()
        storage.close()
