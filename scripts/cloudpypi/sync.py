"""Coordinating a sync: hand each changed project to a job, collect the results, keep the order.

What changed is decided by cloudpypi.decide, pages are published by the page store (cloudpypi.pages),
and the state (cloudpypi.state) records each result.  The Syncer hands each project to a job that
fetches its files and publishes its pages, and collects every job's result in one place
(Syncer.collect), on the coordinator's thread.

Order of writes, always: files, then the project's pages, then (for all projects) the root index,
then the state.  A reader therefore never sees a page linking a file that is not there yet, and a
run killed at any moment leaves a mirror that the next run completes without re-downloading what
is already verified.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import functools
import logging
import os
import queue
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from cloudpypi import runrecord
from cloudpypi.config import Config
from cloudpypi.decide import Asked, Decision, Todo, decide
from cloudpypi.errors import CloudPyPIError, ConfigError, OriginError, Stopping, UnsafeInput
from cloudpypi.extras import ApiExtras
from cloudpypi.fetch import Fetched, FileFetcher
from cloudpypi.layout import FILES_PREFIX, page_url_path
from cloudpypi.lock import TargetLock
from cloudpypi.model import DistFile, ProjectPage, ProjectResult
from cloudpypi.origin import OriginClient, ProjectGone
from cloudpypi.pages import PageStore
from cloudpypi.plan import ProjectPlan, plan_project, removal_keys
from cloudpypi.private import Guard
from cloudpypi.progress import Progress
from cloudpypi.report import Failure, Report, Skipped
from cloudpypi.state import FILES_ACCOUNTED, State
from cloudpypi.storage import Storage, open_target
from cloudpypi.transfers import Transfers
from cloudpypi.watchdog import RunMonitor

log = logging.getLogger(__name__)

CHECKPOINT_SECONDS = 300.0
BATCH_SECONDS = 0.5  # project records are committed to the state at most this long after the fact


@dataclass
class SyncOptions:
    projects: list[str] | None = None
    full: bool = False
    dry_run: bool = False
    lock_wait: float = 0.0
    force: bool = False  # re-plan projects even when their serial matches (repair)
    progress: bool = True


#: A project's outcome: (project name, its result or the exception that ended it).
Outcome = tuple[str, "ProjectResult | BaseException"]
#: How an outcome travels back to the coordinator.  Locally a queue the coordinator drains (see
#: Syncer.take_outcomes); Syncer.collect is where it is accounted.
Deliver = Callable[[Outcome], None]


class _ProjectJob:
    """One project's files in flight.  Whichever worker completes the last file publishes the pages.

    So no thread sits waiting for a project's downloads: with a few hundred thousand files that
    waiting cost a thread wake-up per file, and a second pool of mostly idle threads.

    The job is given what it uses: the transfers to fetch with, the progress to report to, the page
    store to publish in, the Simple API 1.4 extras to carry (``extras``: provenance fetched once the
    files are in, published by the page store with the pages), a way to run its last step on a worker
    (``run_later``) and the way its outcome travels back (``deliver``).  It knows nothing of the
    coordinator.
    """

    def __init__(self, plan: ProjectPlan, mirror_page: ProjectPage | None, result: ProjectResult,
                 check_target: bool, *, transfers: Transfers, progress: Progress, pages: PageStore,
                 rewrite: bool, run_later: Callable[[Callable[[], None]], object], deliver: Deliver,
                 extras: ApiExtras | None = None) -> None:
        self.plan = plan
        self.mirror_page = mirror_page
        self.result = result
        self.check_target = check_target
        self.transfers = transfers
        self.progress = progress
        self.pages = pages
        self.rewrite = rewrite  # repair: all three pages are written whatever is stored
        self.run_later = run_later
        self.deliver = deliver
        self.extras = extras
        self.fetched: dict[str, DistFile] = {}
        self.reasons: list[str] = []
        self._left = len(plan.to_fetch)
        self._lock = threading.Lock()

    def start(self) -> None:
        for item in self.plan.to_fetch:
            future = self.transfers.submit(item, self.check_target)
            future.add_done_callback(functools.partial(self._file_done, item))

    def _file_done(self, item: DistFile, future: cf.Future[Fetched]) -> None:
        result = self.result
        with self._lock:
            try:
                fetched = future.result()
            except BaseException as exc:  # also cancelled at shutdown, or a bug: the project fails either way
                expected = isinstance(exc, CloudPyPIError | OSError)
                result.failed_files += 1
                self.progress.file_failed(item.size or 0)
                self.reasons.append(f"{item.filename}: {exc}" if expected
                                    else f"{item.filename}: {type(exc).__name__}: {exc}")
            else:
                if fetched.bytes_added:
                    result.files_added += 1
                    result.bytes_added += fetched.bytes_added
                self.progress.file_done(fetched.stored.size or fetched.bytes_added)
                if not fetched.metadata_ok:
                    self.reasons.append(f"{item.filename}: core metadata could not be verified; listed without it")
                    result.failed_files += 1
                result.objects_written += fetched.writes
                self.fetched[item.key] = fetched.stored
            self._left -= 1
            last = self._left == 0
        if last:
            # The pages are published by a pool thread: this callback may run in the thread that routes
            # the transfer processes' results, which must not wait for page writes.
            try:
                self.run_later(self._finish_and_deliver)
            except RuntimeError:
                pass  # the pool is shutting down after a run-level failure: nobody waits for this project

    def _finish_and_deliver(self) -> None:
        try:
            outcome: ProjectResult | BaseException = self.finish()
        except BaseException as exc:  # handed to the coordinator, which decides
            outcome = exc
        self.deliver((self.plan.name, outcome))

    def finish(self) -> ProjectResult:
        """After a project's files: its pages, listing what is present and verified."""
        plan, result = self.plan, self.result
        files = tuple(item if item.key in plan.present else self.fetched[item.key]
                      for item in plan.desired.files if item.key in plan.present or item.key in self.fetched)
        reasons = self.reasons
        final = plan.desired.with_files(files)
        if self.extras is not None:  # provenance: fetched now, published by the page store before the pages
            final = self.extras.carry(final, self.mirror_page, reasons)
        result.file_count = len(files)
        result.total_bytes = sum(f.size or 0 for f in files)
        result.dropped_keys = list(plan.to_drop)
        result.kept_keys = [k for f in final.files for k in f.stored_keys]
        if reasons:
            result.ok = False
            result.reason = "; ".join(reasons[:5]) + (f"; and {len(reasons) - 5} more" if len(reasons) > 5 else "")
        # repair rewrites all three pages; so does a project whose page was missing or unreadable
        try:
            if self.pages.publish_project(final, rewrite=self.rewrite or self.mirror_page is None):
                result.page_written = True
        finally:
            if self.extras is not None:
                self.extras.forget(final)
        return result


class Syncer:
    def __init__(self, config: Config, storage: Storage, origin: OriginClient, options: SyncOptions, *,
                 page_threads: int = 0) -> None:
        self.config = config
        self.storage = storage
        self.origin = origin
        self.options = options
        # the Simple API 1.4 objects (provenance, the JSON API document): published by the page store
        self.extras = ApiExtras(storage, origin, config.public_url)
        self.pages = PageStore(storage, config.index_max_age, extra_objects=self.extras, public_url=config.public_url)
        self.report = Report(origin=origin.base, target=storage.url, dry_run=options.dry_run)
        self.progress = Progress(enabled=options.progress)
        self._stop = threading.Event()
        self._stalled = ""  # the watchdog's reason, once it stopped the run
        # One pool does every project's page work and every file download.  No worker ever waits for
        # another: the worker that finishes a project's last file publishes its pages (see _ProjectJob).
        self._pool = cf.ThreadPoolExecutor(config.workers, thread_name_prefix="worker")
        # With ``page_threads``, the page work (reading a project's pages, publishing them) gets threads of its
        # own and the downloads keep all of ``config.workers``: a fleet worker, whose link is what it is there
        # for, holds more projects than downloads, so a project being published never leaves a download idle.
        self._downloads = self._pool
        if page_threads:
            self._pool = cf.ThreadPoolExecutor(page_threads, thread_name_prefix="pages")
        # Where the jobs' outcomes wait for the coordinator (see collect).
        self._inbox: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
        self._state: State | None = None  # the open state, while run() runs
        self.lock: TargetLock | None = None  # the target's lock, while run() runs (its token names the run)
        self.fetcher = FileFetcher(config, storage, origin, self._stop)
        self.fetcher.on_bytes = self.progress.beat
        self.transfers = Transfers(config, self.fetcher, self._downloads, on_bytes=self.progress.beat)
        self._planned = {"projects": 0, "files": 0, "bytes": 0, "pages": 0, "deletions": 0}
        self._planned_lock = threading.Lock()
        self._only_filenames: dict[str, frozenset[str]] | None = None
        self._closure_pages: dict[str, ProjectPage] = {}  # fetched by the closure: not fetched twice
        # When the state accounts for every stored file (see _can_trust_absence), a file that no mirror
        # page lists is known to be absent: it is downloaded without asking the target first.
        self._trust_absence = False
        self._guard = Guard({}, frozenset(), origin.base)  # the run's, once the state is open (cloudpypi.private)

    def _decide(self, state: State) -> Decision:
        """What changed (cloudpypi.decide); a closure's selection is kept for the projects' jobs."""
        options = self.options
        decision = decide(self.config, self.origin, state, Asked(projects=options.projects, full=options.full,
                                                                 force=options.force, dry_run=options.dry_run))
        self._only_filenames = decision.only_filenames
        self._closure_pages = decision.pages
        self.report.failures.extend(Failure(subject, reason) for subject, reason in decision.failures)
        return decision

    # =====================================================================
    # the seam: start one project, take the outcomes that came back
    # =====================================================================
    def start_project(self, todo: Todo, known_serial: int | None, known: bool, *,
                      trust_absence: bool | None = None, only: frozenset[str] | None = None) -> None:
        """Start one project on the pool; its outcome comes back once, through take_outcomes.

        ``only`` limits the project to these filenames (a closure's selection, as a fleet message
        carries it); ``trust_absence`` overrides the run's own judgement (see sync_project).
        """
        if only is not None:
            if self._only_filenames is None:
                self._only_filenames = {}
            self._only_filenames[todo.name] = only
        self._pool.submit(self._project_task, todo, known_serial, known, trust_absence)

    def take_outcomes(self, wait: float | None = None) -> list[Outcome]:
        """The outcomes that came back: waits for the first up to ``wait`` seconds (None: until one comes)."""
        try:
            outcomes = [self._inbox.get(timeout=wait) if wait != 0 else self._inbox.get_nowait()]
        except queue.Empty:
            return []
        with contextlib.suppress(queue.Empty):
            while True:
                outcomes.append(self._inbox.get_nowait())
        return outcomes

    def selection(self, name: str) -> frozenset[str] | None:
        """The filenames a project is limited to in this run (a closure's selection), or None for all."""
        return self._only_filenames.get(name) if self._only_filenames is not None else None

    def end_selection(self, name: str) -> None:
        """Forget a project's selection once its outcome is taken (a fleet worker's next message may differ)."""
        if self._only_filenames is not None:
            self._only_filenames.pop(name, None)

    def shutdown(self, *, cancel: bool) -> dict[str, int]:
        """Stop the transfers and the pool; returns the transfer processes' origin request counts."""
        try:
            return self.transfers.close(cancel=cancel)
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
            if self._downloads is not self._pool:  # a pool of its own only with page_threads
                self._downloads.shutdown(wait=True, cancel_futures=True)

    # =====================================================================
    # one project (runs in a worker thread)
    # =====================================================================
    def _project_task(self, todo: Todo, known_serial: int | None, known: bool,
                      trust_absence: bool | None = None) -> None:
        """A worker's part of one project: the result always reaches the coordinator's queue once."""
        try:
            job = self.sync_project(todo, known_serial, known, trust_absence)
        except BaseException as exc:  # handed to the coordinator, which decides
            self.progress.planned(0, 0)
            self._inbox.put((todo.name, exc))
            return
        if isinstance(job, ProjectResult):
            self.progress.planned(0, 0)
            self._inbox.put((todo.name, job))
        else:
            self.progress.planned(len(job.plan.to_fetch), sum(item.size or 0 for item in job.plan.to_fetch))
            job.start()

    def sync_project(self, todo: Todo, known_serial: int | None, known: bool,
                     trust_absence: bool | None = None) -> ProjectResult | _ProjectJob:
        """Fetch and plan one project.  Returns its result, or the job that fetches its files.

        ``trust_absence`` overrides the run's own judgement (see _can_trust_absence): a fleet worker is
        told the coordinator's.
        """
        name = todo.name
        result = ProjectResult(name=name, serial=known_serial)
        try:
            page = self._closure_pages.pop(name, None) or self.origin.project_page(name)
        except ProjectGone as exc:
            if not known and self.options.projects is not None:
                result.ok, result.reason = False, f"not found on the origin ({exc})"
            else:
                result.removed = True
            return result
        except (OriginError, UnsafeInput) as exc:
            result.ok, result.reason = False, str(exc)
            return result
        result.serial = page.last_serial
        if known and not todo.force and page.last_serial is not None and page.last_serial == known_serial:
            return result  # the changelog mentioned it, but our copy is current
        check_target = todo.force or not (self._trust_absence if trust_absence is None else trust_absence)
        # A project the state does not know has no pages in the target, unless a run died after writing
        # them (and then the absence is not trusted): one GET (S3) saved per new project.
        mirror_page = self.pages.mirror_page(name) if known or check_target else None
        only = self.selection(name)
        plan = plan_project(page, mirror_page, self.config.filters, only, max_file_size=self.config.max_file_size)
        plan = self._guard.plan(plan)  # a private project that tracks the origin keeps its uploads
        result.skipped = [(f.filename, f.size or 0) for f in plan.skipped]
        if self.options.force:
            # repair: trust no page, check every file in the target (present ones are not downloaded again)
            plan = dataclasses.replace(plan, present=frozenset(), to_fetch=plan.desired.files)
        if self.options.dry_run:
            return self._dry_run_project(plan, result)
        job = _ProjectJob(plan, mirror_page, result, check_target, transfers=self.transfers, progress=self.progress,
                          pages=self.pages, rewrite=self.options.force, run_later=self._pool.submit,
                          deliver=self._inbox.put, extras=self.extras)
        if not plan.to_fetch:
            return job.finish()
        return job

    def _dry_run_project(self, plan: ProjectPlan, result: ProjectResult) -> ProjectResult:
        missing = [f for f in plan.to_fetch if not self.fetcher.already_stored(f)]
        size = sum(f.size or 0 for f in missing)
        with self._planned_lock:
            self._planned["projects"] += 1
            self._planned["files"] += len(missing)
            self._planned["bytes"] += size
            self._planned["pages"] += 0 if plan.unchanged else 3
            self._planned["deletions"] += len(plan.to_drop)
        print(f"{plan.name}: fetch {len(missing)} file(s) ({size} bytes), "
              f"{'keep' if plan.unchanged else 'write'} pages, drop {len(plan.to_drop)} file(s) after grace")
        result.file_count = len(plan.desired.files)
        return result

    # =====================================================================
    # the coordinator (main thread): state updates happen only here
    # =====================================================================
    def collect(self, result: ProjectResult) -> None:
        """Where a project's result comes back, whichever way it travelled.

        Today the workers' outcomes wait in the coordinator's inbox, which the run loop drains into
        this method; a fleet delivers results from other hosts here just the same.  It runs on the
        coordinator's thread, the one place that updates the report, the progress and the state.
        """
        if self._state is None:
            raise RuntimeError("collect() is for results of a running sync")
        self._record(self._state, result, time.time())
        self.progress.project_done(result.name, ok=result.ok)

    def _record(self, state: State, result: ProjectResult, now: float) -> None:
        report = self.report
        if result.removed:
            self._remove_project(state, result.name, now)
            return
        for filename, size in result.skipped:
            log.warning("%s: %s skipped: %d bytes is over max_file_size (%d)", result.name, filename, size,
                        self.config.max_file_size)
            report.skipped.append(Skipped(result.name, filename, size, "over max_file_size"))
        if not result.ok:
            report.projects_failed += 1
            report.failures.append(Failure(result.name, result.reason))
            report.files_failed += result.failed_files
        report.files_added += result.files_added
        report.bytes_added += result.bytes_added
        report.s3_writes += result.objects_written
        if self.options.dry_run:
            report.projects_synced += 1
            return
        if (not result.page_written and not state.project_serial(result.name)[0]
                and self.pages.has_pages(result.name)):
            # Pages an interrupted run wrote but never recorded: record them now, or the root never lists them.
            result.page_written = True
        if result.page_written or result.files_added:
            report.projects_synced += 1
            report.pages_written += 3 if result.page_written else 0
            if result.page_written:
                report.changed_paths.append(page_url_path(result.name))
        else:
            report.projects_unchanged += 1
        state.record(result, now, self.config.deletion_grace)

    def _remove_project(self, state: State, name: str, now: float) -> None:
        known, _ = state.project_serial(name)
        if not known or self._guard.keep_from_removal(name):
            return
        self.report.projects_removed += 1
        if self.options.dry_run:
            print(f"{name}: remove project (pages now, files after grace)")
            return
        mirror_page = self.pages.mirror_page(name)
        # The files' deletion is scheduled, and committed, before the pages go: once the JSON page is gone
        # nothing else lists them, so a crash between the two steps would otherwise leak them for good.
        state.schedule_removal(removal_keys(mirror_page), now + self.config.deletion_grace)
        self.pages.remove_project(name)
        with state.transaction():
            state.forget_project(name)
        self.report.changed_paths.append(page_url_path(name))

    def _republish_private(self, state: State, name: str) -> None:
        """A private project that stopped tracking the origin: its pages from its uploads alone (the guard's)."""
        from cloudpypi.upload.store import republish_private  # private uploads are rare: loaded when one is

        republish_private(self.config, self.pages, state, name)
        self.report.changed_paths.append(page_url_path(name))

    def _write_root(self, state: State, serial: int | None) -> None:
        self.pages.publish_root(state.iter_project_rows(), serial)
        self.report.changed_paths.append(page_url_path(None))
        self.report.pages_written += 3

    def _can_trust_absence(self, state: State, lock: TargetLock | None) -> bool:
        """True when every stored file is either listed by its project's page or already recorded.

        That holds after a run that ended cleanly (its records cover all it stored) and for a brand-new
        mirror over an empty target.  It does not hold after a run that died (its stale lock was taken
        over, or it never marked its end): files it stored may not be on any page yet, and must not be
        downloaded twice, so every file is looked up first.  `--force` (repair) looks everything up too.
        """
        if self.options.force or (lock is not None and lock.took_over):
            return False
        accounted = state.get(FILES_ACCOUNTED)
        if accounted is not None:
            return accounted == "1"
        brand_new = state.serial is None and next(state.project_names(), None) is None
        return brand_new and next(iter(self.storage.iter_keys(FILES_PREFIX)), None) is None

    def _checkpoint(self, state: State, serial: int | None, final: bool) -> None:
        """Root index first, then the state: the root never lists a project whose page is missing."""
        if state.get("root_dirty") == "1" or (final and not self.pages.has_root()):
            self._write_root(state, serial if final else state.serial)
            state.set("root_dirty", None)
        if final and serial is not None:
            state.set("serial", serial)
        state.save()

    def _delete_due(self, state: State, now: float) -> None:
        for key in state.due_deletions(now):
            if self.options.dry_run:
                self._planned["deletions"] += 1
                continue
            self.storage.delete(key)
            state.deletion_done(key)
            self.report.files_deleted += 1

    def run(self) -> Report:
        report = self.report
        report.start()
        lock = self.lock = None if self.options.dry_run else TargetLock(self.storage, wait=self.options.lock_wait)
        if lock:
            lock.acquire()
        state: State | None = None
        monitor = self._start_monitor(lock)
        try:
            state = self._state = State.open(self.storage, self.config.state_dir or None,
                                             read_only=self.options.dry_run)
            if not self.options.dry_run:
                removed = self.storage.cleanup_staging()
                if removed:
                    log.info("removed %d staging file(s) left by an interrupted run", removed)
            report.serial_before = state.serial
            self.progress.set_phase("planning")
            if not self.options.dry_run:
                self._trust_absence = self._can_trust_absence(state, lock)
                state.set(FILES_ACCOUNTED, "0")  # until this run ends cleanly
            decision = self._decide(state)
            # the dependency-confusion guard: private names stay out of the todo unless they track the origin
            self._guard = Guard.for_run(state, self.config, self.origin.base, report, dry_run=self.options.dry_run,
                                        republish=functools.partial(self._republish_private, state))
            decision.todo = self._guard.todo(decision.todo, decision.origin_serial, None if decision.mode in (
                "projects", "closure") else lambda name: Todo(name, force=True))
            report.mode = decision.mode
            report.origin_serial = decision.origin_serial
            now = time.time()
            self.progress.set_total(decision.total)
            self.progress.set_phase("syncing")
            with self.progress:
                for name in decision.removed:
                    self._remove_project(state, name, now)
                self._run_todo(state, decision.todo, decision.new_serial)
                if decision.finish is not None and not self._stop.is_set():
                    for name in decision.finish():
                        self._remove_project(state, name, now)
            if self._stop.is_set():
                self.progress.set_phase("stopping")
                if not self.options.dry_run:
                    self._checkpoint(state, None, final=False)
                raise Stopping(self._stalled
                               or "stopped by a signal; what was complete is published, the next run resumes")
            self.progress.set_phase("publishing")
            self._delete_due(state, time.time())
            if self.options.dry_run:
                report.planned = dict(self._planned)
                report.serial_after = decision.new_serial
            else:
                full_run = self.options.projects is None
                state.set(FILES_ACCOUNTED, "1")
                state.set("origin", self.origin.base)
                state.set("filters", self.config.filters_fingerprint())
                # Recorded before the final checkpoint so that its save carries them: one state upload
                # per run on S3, not two (a failure in the checkpoint still ends as "failed" below).
                state.set("last_run", time.time())
                state.set("last_result", "ok" if report.ok else "failed")
                if report.ok:
                    state.set("last_success", time.time())
                self._checkpoint(state, decision.new_serial if full_run else state.serial, final=True)
                state.save()  # uploads nothing when the checkpoint's save already holds every change
                report.serial_after = state.serial
        except Stopping as exc:
            report.stopped = True
            report.stalled = bool(self._stalled)
            report.failures.append(Failure("(run)", str(exc)))
        except ConfigError:
            raise  # a usage error, not a failed run: the CLI answers with exit 2
        except (CloudPyPIError, OSError, sqlite3.Error) as exc:
            # A run-level failure (origin down, bucket unreachable) still yields a report and exit 1.
            report.failures.append(Failure("(run)", str(exc) or type(exc).__name__))
            if state is not None and not self.options.dry_run:
                with contextlib.suppress(CloudPyPIError, OSError, sqlite3.Error):
                    state.set("last_run", time.time())
                    state.set("last_result", "failed")
                    state.save()
        finally:
            if monitor is not None:
                monitor.stop()
                report.progress_records = monitor.records_written
                with contextlib.suppress(CloudPyPIError, OSError):
                    runrecord.remove(self.storage)  # before the lock goes: a record is never left live
            report.transfer_processes = self.transfers.started_processes
            self.origin.requests.update(self.shutdown(cancel=self._stop.is_set()))
            if state is not None:
                with contextlib.suppress(sqlite3.Error):
                    report.mirror = state.counts()
                state.close()
                self._state = None
            if lock:
                lock.release()
            report.requests = dict(self.origin.requests)
            report.finish()
        return report

    def _start_monitor(self, lock: TargetLock | None) -> RunMonitor | None:
        """The progress record, the watchdog and the heartbeat (cloudpypi.watchdog); not for dry runs."""
        if lock is None:
            return None
        from cloudpypi.monitoring import Heartbeat

        self.progress.set_phase("starting")  # the time spent waiting for the lock is no stall

        pid = os.getpid()

        def write_record(snapshot: dict[str, Any], seq: int) -> None:
            runrecord.write(self.storage, runrecord.encode(snapshot, token=lock.token, pid=pid, seq=seq))

        namespace = self.config.cloudwatch_namespace
        return RunMonitor(self.progress, stall_timeout=self.config.stall_timeout, on_stall=self.stall,
                          write_record=write_record, heartbeat=Heartbeat(namespace) if namespace else None).start()

    def stall(self, quiet: float) -> None:
        """The watchdog's verdict: no progress for `quiet` seconds.  Stop as a signal would, and say why."""
        self._stalled = (f"no progress for {quiet:.0f} s (stall_timeout {self.config.stall_timeout:g} s): "
                         "stopped; what was complete is published, the next run resumes")
        self.stop()

    def _run_todo(self, state: State, todo: Iterator[Todo], serial: int | None) -> None:
        in_flight = 0
        max_in_flight = self.config.workers * 2
        last_checkpoint = time.monotonic()
        seen: set[str] = set()
        if not self.options.dry_run:
            state.begin_batch()

        def drain() -> None:
            """Wait for at least one project's result; record it and any others already waiting."""
            nonlocal in_flight, last_checkpoint
            outcomes = self.take_outcomes()
            if not self.options.dry_run:
                state.begin_batch()  # no-op while one is open; a checkpoint closes it
            for name, outcome in outcomes:
                in_flight -= 1
                if isinstance(outcome, ProjectResult):
                    result = outcome
                elif isinstance(outcome, Stopping):
                    continue
                elif isinstance(outcome, (CloudPyPIError, OSError)):
                    result = ProjectResult(name=name, serial=None, ok=False, reason=str(outcome))
                else:
                    raise outcome  # a bug, not a project failure: fail loudly
                self.collect(result)
            state.flush_batch(max_age=BATCH_SECONDS, reopen=True)
            if not self.options.dry_run and time.monotonic() - last_checkpoint > CHECKPOINT_SECONDS:
                self._checkpoint(state, serial, final=False)
                last_checkpoint = time.monotonic()

        for item in todo:
            if self._stop.is_set():
                break
            if item.name in seen:
                continue
            seen.add(item.name)
            known, known_serial = state.project_serial(item.name)
            self.start_project(item, known_serial, known)
            in_flight += 1
            while in_flight >= max_in_flight:
                drain()
        else:
            self.progress.finish_walk(len(seen))
        while in_flight:
            drain()
        state.flush_batch()

    def stop(self) -> None:
        self._stop.set()
        self.transfers.stop()


@contextlib.contextmanager
def _graceful_signals(syncer: Syncer) -> Iterator[None]:
    """SIGTERM/SIGINT: finish the files in flight, write what is complete, release the lock."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: object) -> None:
        log.warning("received signal %d: stopping after the files in flight", signum)
        syncer.stop()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_sync(config: Config, options: SyncOptions) -> Report:
    storage = open_target(config)
    origin = OriginClient.from_config(config)
    syncer = Syncer(config, storage, origin, options)
    try:
        with _graceful_signals(syncer):
            return syncer.run()
    finally:
        origin.close()
        storage.close()
