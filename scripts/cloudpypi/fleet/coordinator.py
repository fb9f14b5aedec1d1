"""The fleet's coordinator: a sync whose projects are done by workers on other machines.

It is the single-host sync (cloudpypi.sync.Syncer) with one part replaced: instead of handing each
project to a thread of its own pool, it sends it to the work queue, and the results come back from the
results queue into the same ``Syncer.collect``.  Everything else is the sync's own: the lock (whose
token names the run), deciding what changed, the state, removals, deletions after the grace period.

- The root index and the state are written only when every project sent is either reported or
  dead-lettered: no intermediate checkpoint publishes a root index while workers are still at work.
- A result of another run, a second result for one project, or a malformed message is dropped.
- A project in the dead-letter queue becomes a failure of this run, so the state marks it for retry.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

from cloudpypi.config import Config
from cloudpypi.decide import Todo
from cloudpypi.errors import ConfigError, UnsafeInput
from cloudpypi.fleet.messages import ResultEnvelope, WorkItem
from cloudpypi.fleet.queues import FleetQueues
from cloudpypi.fleet.worker import require_shared_target
from cloudpypi.model import ProjectResult
from cloudpypi.origin import OriginClient
from cloudpypi.report import Report
from cloudpypi.state import State
from cloudpypi.storage import Storage, open_target
from cloudpypi.sync import BATCH_SECONDS, Syncer, SyncOptions, _graceful_signals

log = logging.getLogger(__name__)

RESULT_WAIT_SECONDS = 2  # long poll on the results queue: short enough to notice a stop
SEND_BATCH = 10  # SQS's most messages per SendMessageBatch
COLLECT_EVERY = 500  # projects sent between two looks at the results queue while sending
# While results flow, the dead-letter queue is looked at this often; whenever the results queue is empty, too.
DEAD_LETTER_CHECK_SECONDS = 5.0


class FleetCoordinator(Syncer):
    def __init__(self, config: Config, storage: Storage, origin: OriginClient, options: SyncOptions,
                 queues: FleetQueues) -> None:
        require_shared_target(config)
        if options.dry_run:
            raise ConfigError("--fleet with --dry-run: plan on one machine (sync --dry-run without --fleet)")
        if options.force:
            raise ConfigError("--fleet with a repair run: repair on one machine (without --fleet)")
        super().__init__(config, storage, origin, options)
        self.queues = queues
        self.pending: set[str] = set()
        self.sent = 0
        self.dead_lettered = 0
        self.dropped = 0
        self._dead_letters_checked = 0.0

    @property
    def run_token(self) -> str:
        if self.lock is None:
            raise RuntimeError("the coordinator runs only while it holds the target's lock")
        return self.lock.token

    def _run_todo(self, state: State, todo: Iterator[Todo], serial: int | None) -> None:
        seen: set[str] = set()
        batch: list[WorkItem] = []
        state.begin_batch()
        for item in todo:
            if self._stop.is_set():
                break
            if item.name in seen:
                continue
            seen.add(item.name)
            known, known_serial = state.project_serial(item.name)
            only = self.selection(item.name)
            batch.append(WorkItem(run=self.run_token, project=item.name, known=known, known_serial=known_serial,
                                  force=item.force, check_target=item.force or not self._trust_absence,
                                  only=tuple(sorted(only)) if only is not None else None))
            if len(batch) == SEND_BATCH:
                self._send(batch)
                batch = []
                if self.sent % COLLECT_EVERY == 0:
                    # Results of the first projects, while the rest is sent.  Not after every batch: each
                    # collect is two more queue calls, and the workers wait for the work, not the results.
                    self._collect(state, wait=0)
        self._send(batch)
        if not self._stop.is_set():
            self.progress.finish_walk(len(seen))
        log.info("fleet %s: %d project(s) sent; waiting for the workers", self.queues.fleet, self.sent)
        while self.pending and not self._stop.is_set():
            self._collect(state, wait=RESULT_WAIT_SECONDS)
        state.flush_batch()

    # -- sending ---------------------------------------------------------------------------------
    def _send(self, batch: list[WorkItem]) -> None:
        if not batch:
            return
        entries = [{"Id": str(i), "MessageBody": w.encode(), "MessageGroupId": w.group,
                    "MessageDeduplicationId": w.deduplication_id} for i, w in enumerate(batch)]
        answer = self.queues.client.send_message_batch(QueueUrl=self.queues.work, Entries=entries)
        if answer.get("Failed"):
            failed = ", ".join(f"{batch[int(f['Id'])].project}: {f.get('Message', f.get('Code'))}"
                               for f in answer["Failed"])
            raise ConfigError(f"fleet {self.queues.fleet}: the work queue refused messages ({failed})")
        for work in batch:
            self.pending.add(work.project)
        self.sent += len(batch)
        self.progress.planned(0, 0)

    # -- collecting ------------------------------------------------------------------------------
    def _collect(self, state: State, wait: int) -> None:
        client, queues = self.queues.client, self.queues
        answer = client.receive_message(QueueUrl=queues.results, MaxNumberOfMessages=10, WaitTimeSeconds=wait)
        messages = answer.get("Messages", [])
        for message in messages:
            result = self._accept_result(message["Body"])
            if result is not None:
                self.pending.discard(result.name)
                self.collect(result)
        if messages:  # one request for up to ten: SQS is priced per request
            client.delete_message_batch(QueueUrl=queues.results, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
        now = time.monotonic()
        if not messages or now - self._dead_letters_checked >= DEAD_LETTER_CHECK_SECONDS:
            self._dead_letters_checked = now
            self._collect_dead_letters()
        state.flush_batch(max_age=BATCH_SECONDS, reopen=True)

    def _accept_result(self, body: str) -> ProjectResult | None:
        """The result a message carries, when it is one this run is waiting for."""
        try:
            envelope = ResultEnvelope.decode(body)
        except UnsafeInput as exc:
            log.warning("fleet %s: dropping a malformed result: %s", self.queues.fleet, exc)
            self.dropped += 1
            return None
        if envelope.run != self.run_token or envelope.result.name not in self.pending:
            self.dropped += 1  # another run's, or a second delivery of a project already accounted
            return None
        if envelope.spilled is None:
            return envelope.result
        raw = self.storage.read_bytes(envelope.spilled)
        try:
            full = ResultEnvelope.decode((raw or b"").decode())
            result = full.result if full.run == self.run_token and full.result.name == envelope.result.name else None
        except (UnsafeInput, UnicodeDecodeError) as exc:
            log.warning("fleet %s: the stored result of %s is unreadable (%s)", self.queues.fleet,
                        envelope.result.name, exc)
            result = None
        self.storage.delete(envelope.spilled)
        if result is None:
            return ProjectResult(name=envelope.result.name, serial=None, ok=False,
                                 reason="its worker's stored result was missing or unreadable")
        return result

    def _collect_dead_letters(self) -> None:
        client, queues = self.queues.client, self.queues
        answer = client.receive_message(QueueUrl=queues.dead, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                        AttributeNames=["ApproximateReceiveCount"])
        for message in answer.get("Messages", []):
            try:
                work = WorkItem.decode(message["Body"])
            except UnsafeInput:
                work = None
            if work is not None and work.run == self.run_token and work.project in self.pending:
                self.pending.discard(work.project)
                self.dead_lettered += 1
                log.warning("fleet %s: %s was dead-lettered: no worker completed it; it is retried next run",
                            queues.fleet, work.project)
                self.collect(ProjectResult(name=work.project, serial=None, ok=False,
                                           reason="dead-lettered: no worker completed it (retried next run)"))
            client.delete_message(QueueUrl=queues.dead, ReceiptHandle=message["ReceiptHandle"])


def result_summary(coordinator: FleetCoordinator) -> dict[str, Any]:
    return {"fleet": coordinator.queues.fleet, "sent": coordinator.sent, "dead_lettered": coordinator.dead_lettered,
            "dropped_messages": coordinator.dropped}


def run_fleet_sync(config: Config, options: SyncOptions, fleet: str) -> Report:
    require_shared_target(config)
    queues = FleetQueues.find(fleet)
    storage = open_target(config)
    origin = OriginClient.from_config(config)
    coordinator = FleetCoordinator(config, storage, origin, options, queues)
    try:
        with _graceful_signals(coordinator):
            report = coordinator.run()
        log.info("fleet run: %s", json.dumps(result_summary(coordinator)))
        return report
    finally:
        origin.close()
        storage.close()


