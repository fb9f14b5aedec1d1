"""Running a sync: decide what changed, fetch it concurrently, publish in a crash-safe order.

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
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cloudpypi import runrecord
from cloudpypi.config import Config
from cloudpypi.errors import CloudPyPIError, ConfigError, OriginError, Stopping, UnsafeInput
from cloudpypi.extras import extra_keys, publish_extras
from cloudpypi.fetch import Fetched, FileFetcher
from cloudpypi.filters import project_allowed
from cloudpypi.lock import TargetLock
from cloudpypi.model import DistFile, ProjectPage, ProjectResult, RootEntry, checked_project_name
from cloudpypi.origin import OriginClient, ProjectGone
from cloudpypi.plan import ProjectPlan, plan_project, removal_keys
from cloudpypi.progress import Progress
from cloudpypi.render import page_keys, parse_mirror_json, render_project
from cloudpypi.report import Failure, Report, Skipped
from cloudpypi.rootindex import publish_root_index
from cloudpypi.state import State
from cloudpypi.storage import Storage, open_target
from cloudpypi.storage.content import content_type_for, page_cache_control
from cloudpypi.transfers import Transfers
from cloudpypi.watchdog import RunMonitor

log = logging.getLogger(__name__)

CHECKPOINT_SECONDS = 300.0
FILES_ACCOUNTED = "files_accounted"  # state flag: "1" once a run ended with every stored file recorded
CHANGELOG_UNUSABLE = "the origin's changelog is unusable (%s); comparing its root index instead"
BATCH_SECONDS = 0.5  # project records are committed to the state at most this long after the fact


@dataclass
class SyncOptions:
    projects: list[str] | None = None
    full: bool = False
    dry_run: bool = False
    lock_wait: float = 0.0
    force: bool = False  # re-plan projects even when their serial matches (repair)
    progress: bool = True


@dataclass
class _Todo:
    name: str
    force: bool = False


@dataclass
class _Decision:
    mode: str
    todo: Iterator[_Todo]
    removed: list[str] = field(default_factory=list)
    new_serial: int | None = None
    origin_serial: int | None = None
    finish: Any = None  # called after the todo iterator is drained: returns more removals
    total: int | None = None  # projects to visit, when known up front (progress bar)


class _ProjectJob:
    """One project's files in flight.  Whichever worker completes the last file publishes the pages.

    So no thread sits waiting for a project's downloads: with a few hundred thousand files that
    waiting cost a thread wake-up per file, and a second pool of mostly idle threads.
    """

    def __init__(self, syncer: Syncer, plan: ProjectPlan, mirror_page: ProjectPage | None,
                 result: ProjectResult, check_target: bool) -> None:
        self.syncer = syncer
        self.plan = plan
        self.mirror_page = mirror_page
        self.result = result
        self.check_target = check_target
        self.fetched: dict[str, DistFile] = {}
        self.reasons: list[str] = []
        self._left = len(plan.to_fetch)
        self._lock = threading.Lock()

    def start(self) -> None:
        for item in self.plan.to_fetch:
            future = self.syncer.transfers.submit(item, self.check_target)
            future.add_done_callback(functools.partial(self._file_done, item))

    def _file_done(self, item: DistFile, future: cf.Future[Fetched]) -> None:
        result = self.result
        with self._lock:
            try:
                fetched = future.result()
            except BaseException as exc:  # also cancelled at shutdown, or a bug: the project fails either way
                expected = isinstance(exc, CloudPyPIError | OSError)
                result.failed_files += 1
                self.syncer.progress.file_failed(item.size or 0)
                self.reasons.append(f"{item.filename}: {exc}" if expected
                                    else f"{item.filename}: {type(exc).__name__}: {exc}")
            else:
                if fetched.bytes_added:
                    result.files_added += 1
                    result.bytes_added += fetched.bytes_added
                self.syncer.progress.file_done(fetched.stored.size or fetched.bytes_added)
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
                self.syncer._pool.submit(self._finish_and_report)
            except RuntimeError:
                pass  # the pool is shutting down after a run-level failure: nobody waits for this project

    def _finish_and_report(self) -> None:
        try:
            outcome: ProjectResult | BaseException = self.finish()
        except BaseException as exc:  # handed to the coordinator, which decides
            outcome = exc
        self.syncer._results.put((self.plan.name, outcome))

    def finish(self) -> ProjectResult:
        return self.syncer._publish_pages(self.plan, self.mirror_page, self.fetched, self.reasons, self.result)


class Syncer:
    def __init__(self, config: Config, storage: Storage, origin: OriginClient, options: SyncOptions) -> None:
        self.config = config
        self.storage = storage
        self.origin = origin
        self.options = options
        self.report = Report(origin=origin.base, target=storage.url, dry_run=options.dry_run)
        self.progress = Progress(enabled=options.progress)
        self._stop = threading.Event()
        self._stalled = ""  # the watchdog's reason, once it stopped the run
        # One pool does every project's page work and every file download.  No worker ever waits for
        # another: the worker that finishes a project's last file publishes its pages (see _ProjectJob).
        self._pool = cf.ThreadPoolExecutor(config.workers, thread_name_prefix="worker")
        self._results: queue.SimpleQueue[tuple[str, ProjectResult | BaseException]] = queue.SimpleQueue()
        self.fetcher = FileFetcher(config, storage, origin, self._stop)
        self.fetcher.on_bytes = self.progress.beat
        self.transfers = Transfers(config, self.fetcher, self._pool, on_bytes=self.progress.beat)
        self._planned = {"projects": 0, "files": 0, "bytes": 0, "pages": 0, "deletions": 0}
        self._planned_lock = threading.Lock()
        self._only_filenames: dict[str, frozenset[str]] | None = None
        self._closure_pages: dict[str, ProjectPage] = {}  # fetched by the closure: not fetched twice
        # When the state accounts for every stored file (see _can_trust_absence), a file that no mirror
        # page lists is known to be absent: it is downloaded without asking the target first.
        self._trust_absence = False

    # =====================================================================
    # deciding what to do
    # =====================================================================
    def _decide(self, state: State) -> _Decision:
        filters = self.config.filters
        fingerprint = self.config.filters_fingerprint()
        filters_changed = state.get("filters") not in (None, fingerprint) or (
            state.get("filters") is None and state.serial is not None)
        retry = [_Todo(n, force=True) for n in state.retry_names()]

        if self.config.closure:
            return self._decide_closure(state, filters_changed)

        if self.options.projects is not None:
            names = []
            for raw in self.options.projects:
                try:
                    names.append(checked_project_name(raw))
                except UnsafeInput as exc:
                    raise ConfigError(f"--project {raw!r}: {exc}") from None
            force = self.options.force or filters_changed
            unique = list(dict.fromkeys(names))
            return _Decision("projects", iter([_Todo(n, force) for n in unique]), total=len(unique))

        origin_serial = None
        if self.options.full or state.get("origin_changelog") != "0":
            try:
                origin_serial = self.origin.changelog_last_serial()
            except OriginError as exc:
                log.warning(CHANGELOG_UNUSABLE, exc)
        if self.origin.supports_changelog is not None:
            state.set("origin_changelog", "1" if self.origin.supports_changelog else "0")

        if (origin_serial is not None and state.serial is not None and not self.options.full
                and not filters_changed and state.get("origin") == self.origin.base):
            if origin_serial == state.serial:
                return _Decision("no-op", iter(retry), new_serial=origin_serial, origin_serial=origin_serial)
            if origin_serial < state.serial:
                log.warning("the origin's serial %d is behind the mirror's %d; checking every project",
                            origin_serial, state.serial)
            else:
                try:
                    changed, removed = self.origin.changed_since(state.serial, origin_serial)
                except OriginError as exc:
                    log.warning(CHANGELOG_UNUSABLE, exc)
                    return self._decide_by_root(state, origin_serial, filters_changed, retry)
                todo = [_Todo(n) for n in sorted(changed) if project_allowed(n, filters)]
                gone = [n for n in sorted(removed) if state.project_serial(n)[0]]
                # a changed project that filters now exclude is removed from the mirror as well
                gone += [n for n in sorted(changed) if not project_allowed(n, filters) and state.project_serial(n)[0]]
                return _Decision("changelog", iter(retry + todo), removed=gone, new_serial=origin_serial,
                                 origin_serial=origin_serial, total=len(retry) + len(todo))

        return self._decide_by_root(state, origin_serial, filters_changed, retry)

    def _decide_by_root(self, state: State, origin_serial: int | None, filters_changed: bool,
                        retry: list[_Todo]) -> _Decision:
        """Compare the origin's root index (each project's _last-serial) with the state."""
        filters = self.config.filters
        root = self.origin.root_index()
        new_serial = origin_serial if origin_serial is not None else root.serial
        if (not self.options.full and not filters_changed and state.serial is not None
                and root.serial is not None and root.serial == state.serial
                and state.get("origin") == self.origin.base):
            return _Decision("no-op", iter(retry), new_serial=new_serial, origin_serial=new_serial)

        force_all = filters_changed or self.options.force
        state.begin_seen()

        def wanted(entry: RootEntry) -> bool:
            known, serial = state.project_serial(entry.name)
            return force_all or not known or entry.last_serial is None or serial != entry.last_serial

        def walk() -> Iterator[_Todo]:
            yield from retry
            batch: list[str] = []
            for entry in root.entries():
                if not project_allowed(entry.name, filters):
                    continue
                batch.append(entry.name)
                if len(batch) >= 5000:
                    state.add_seen(batch)
                    batch.clear()
                if wanted(entry):
                    yield _Todo(entry.name, force=force_all)
            state.add_seen(batch)

        # One more pass over the parsed index (seconds for pypi.org's) tells the progress record and the
        # ETA how many projects this run visits: a first sync's plan is otherwise known only at its end.
        total = len(retry) + sum(1 for entry in root.entries()
                                 if project_allowed(entry.name, filters) and wanted(entry))
        return _Decision("root-index", walk(), new_serial=new_serial, origin_serial=new_serial,
                         finish=state.unseen_projects, total=total)

    def _decide_closure(self, state: State, filters_changed: bool) -> _Decision:
        """A dependency-closure mirror: cloudpypi.closure picks the projects and files."""
        from cloudpypi.closure import select_closure

        origin_serial = self.origin.changelog_last_serial()
        selection = select_closure(self.config, self.origin, state, origin_serial, dry_run=self.options.dry_run)
        self._only_filenames = selection.files_by_project
        self._closure_pages = selection.pages
        for subject, reason in selection.failures:
            self.report.failures.append(Failure(subject, reason))
        wanted = sorted(selection.files_by_project)
        wanted_set = set(wanted)
        gone = [name for name in state.project_names() if name not in wanted_set]
        everything = filters_changed or self.options.force or selection.resync is None
        todo = [_Todo(name, force=True) for name in wanted if everything or name in selection.resync]
        return _Decision("closure", iter(todo), removed=gone, new_serial=origin_serial, origin_serial=origin_serial)

    # =====================================================================
    # one project (runs in a worker thread)
    # =====================================================================
    def _mirror_page(self, name: str) -> ProjectPage | None:
        raw = self.storage.read_bytes(page_keys(name)["index.v1_json"])
        if raw is None:
            return None
        try:
            return parse_mirror_json(raw, name)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("project %s: the mirror's own page is unreadable (%s); rebuilding it", name, exc)
            return None

    def _project_task(self, todo: _Todo, known_serial: int | None, known: bool) -> None:
        """A worker's part of one project: the result always reaches the coordinator's queue once."""
        try:
            job = self.sync_project(todo, known_serial, known)
        except BaseException as exc:  # handed to the coordinator, which decides
            self.progress.planned(0, 0)
            self._results.put((todo.name, exc))
            return
        if isinstance(job, ProjectResult):
            self.progress.planned(0, 0)
            self._results.put((todo.name, job))
        else:
            self.progress.planned(len(job.plan.to_fetch), sum(item.size or 0 for item in job.plan.to_fetch))
            job.start()

    def sync_project(self, todo: _Todo, known_serial: int | None, known: bool) -> ProjectResult | _ProjectJob:
        """Fetch and plan one project.  Returns its result, or the job that fetches its files."""
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
        check_target = todo.force or not self._trust_absence
        # A project the state does not know has no pages in the target, unless a run died after writing
        # them (and then the absence is not trusted): one GET (S3) saved per new project.
        mirror_page = self._mirror_page(name) if known or check_target else None
        only = self._only_filenames.get(name) if self._only_filenames is not None else None
        plan = plan_project(page, mirror_page, self.config.filters, only, max_file_size=self.config.max_file_size)
        result.skipped = [(f.filename, f.size or 0) for f in plan.skipped]
        if self.options.force:
            # repair: trust no page, check every file in the target (present ones are not downloaded again)
            plan = dataclasses.replace(plan, present=frozenset(), to_fetch=plan.desired.files)
        if self.options.dry_run:
            return self._dry_run_project(plan, result)
        job = _ProjectJob(self, plan, mirror_page, result, check_target)
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

    def _publish_pages(self, plan: ProjectPlan, mirror_page: ProjectPage | None, fetched: dict[str, DistFile],
                       reasons: list[str], result: ProjectResult) -> ProjectResult:
        """After a project's files: its pages, listing what is present and verified."""
        files = tuple(item if item.key in plan.present else fetched[item.key]
                      for item in plan.desired.files if item.key in plan.present or item.key in fetched)
        # provenance objects and the JSON API document: after the files, before the pages that link them
        final = publish_extras(self.storage, self.origin, plan.desired.with_files(files), mirror_page, reasons,
                               public_url=self.config.public_url, index_max_age=self.config.index_max_age)
        result.file_count = len(files)
        result.total_bytes = sum(f.size or 0 for f in files)
        result.dropped_keys = list(plan.to_drop)
        result.kept_keys = [k for f in final.files for k in f.stored_keys]
        if reasons:
            result.ok = False
            result.reason = "; ".join(reasons[:5]) + (f"; and {len(reasons) - 5} more" if len(reasons) > 5 else "")
        pages = render_project(final, self.config.public_url)
        # repair (force) rewrites all three pages: a tampered HTML page beside an intact JSON page is not
        # noticed by comparing the JSON page alone
        if self.options.force or mirror_page is None or self.storage.read_bytes(
                page_keys(plan.name)["index.v1_json"]) != pages["index.v1_json"]:
            cache_control = page_cache_control(self.config.index_max_age)
            # index.v1_json last: it is the page the next run compares, so after a crash between the three
            # writes it still differs and all three are written again.
            for filename, key in reversed(page_keys(plan.name).items()):
                self.storage.write_bytes(key, pages[filename], content_type=content_type_for(key),
                                         cache_control=cache_control)
            result.page_written = True
        return result

    # =====================================================================
    # the coordinator (main thread): state updates happen only here
    # =====================================================================
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
        known, old_serial = state.project_serial(result.name)
        if not known and not result.page_written and self.storage.stat(page_keys(result.name)["index.v1_json"]):
            # Pages an interrupted run wrote but never recorded: record them now, or the root never lists them.
            result.page_written = True
        if result.page_written or result.files_added:
            report.projects_synced += 1
            report.pages_written += 3 if result.page_written else 0
            if result.page_written:
                report.changed_paths.append(f"/simple/{result.name}/")
        else:
            report.projects_unchanged += 1
        with state.transaction():
            if result.page_written or known:
                # a failed project keeps its old serial, so the next run tries it again
                serial = result.serial if result.ok else old_serial
                state.db.execute("INSERT OR REPLACE INTO projects VALUES (?, ?, ?, ?)",
                                 (result.name, serial, result.file_count, result.total_bytes))
                if result.page_written:
                    state.set("root_dirty", 1)
            state.schedule_deletions(result.dropped_keys, now + self.config.deletion_grace)
            state.cancel_deletions(result.kept_keys)
            if result.page_written:
                state.journal_page(result.name, result.kept_keys)  # what a bundle --since carries
            if result.ok:
                state.clear_retry(result.name)
            else:
                state.mark_retry(result.name, result.reason)

    def _remove_project(self, state: State, name: str, now: float) -> None:
        known, _ = state.project_serial(name)
        if not known:
            return
        self.report.projects_removed += 1
        if self.options.dry_run:
            print(f"{name}: remove project (pages now, files after grace)")
            return
        mirror_page = self._mirror_page(name)
        # The files' deletion is scheduled, and committed, before the pages go: once the JSON page is gone
        # nothing else lists them, so a crash between the two steps would otherwise leak them for good.
        with state.transaction():
            state.schedule_deletions(removal_keys(mirror_page), now + self.config.deletion_grace)
        state.flush_batch()
        for key in (*extra_keys(name), *reversed(page_keys(name).values())):  # JSON page last: a crash repeats it
            self.storage.delete(key)
        with state.transaction():
            state.forget_project(name)
        self.report.changed_paths.append(f"/simple/{name}/")

    def _write_root(self, state: State, serial: int | None) -> None:
        publish_root_index(self.storage, state.iter_project_rows(), serial,
                           page_cache_control(self.config.index_max_age))
        self.report.changed_paths.append("/simple/")
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
        return brand_new and next(iter(self.storage.iter_keys("packages/")), None) is None

    def _checkpoint(self, state: State, serial: int | None, final: bool) -> None:
        """Root index first, then the state: the root never lists a project whose page is missing."""
        if state.get("root_dirty") == "1" or (final and self.storage.stat("simple/index.v1_json") is None):
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
        lock = None if self.options.dry_run else TargetLock(self.storage, wait=self.options.lock_wait)
        if lock:
            lock.acquire()
        state: State | None = None
        monitor = self._start_monitor(lock)
        try:
            state = State.open(self.storage, self.config.state_dir or None, read_only=self.options.dry_run)
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
            try:
                self.origin.requests.update(self.transfers.close(cancel=self._stop.is_set()))
            finally:
                self._pool.shutdown(wait=True, cancel_futures=True)
            if state is not None:
                with contextlib.suppress(sqlite3.Error):
                    report.mirror = state.counts()
                state.close()
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

    def _run_todo(self, state: State, todo: Iterator[_Todo], serial: int | None) -> None:
        in_flight = 0
        max_in_flight = self.config.workers * 2
        last_checkpoint = time.monotonic()
        seen: set[str] = set()
        if not self.options.dry_run:
            state.begin_batch()

        def drain() -> None:
            """Wait for at least one project's result; record it and any others already waiting."""
            nonlocal in_flight, last_checkpoint
            outcomes = [self._results.get()]
            with contextlib.suppress(queue.Empty):
                while True:
                    outcomes.append(self._results.get_nowait())
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
                self._record(state, result, time.time())
                self.progress.project_done(name, ok=result.ok)
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
            self._pool.submit(self._project_task, item, known_serial, known)
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
    storage = open_target(config.target, config)
    origin = OriginClient(config.origin, allowed_hosts=config.file_hosts(), workers=config.workers,
                          timeout=config.timeout, retries=config.retries, max_file_size=config.max_file_size,
                          caps=config.answer_caps())
    syncer = Syncer(config, storage, origin, options)
    try:
        with _graceful_signals(syncer):
            return syncer.run()
    finally:
        origin.close()
        storage.close()
