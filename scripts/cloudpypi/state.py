"""The mirror's state: serials, per-project counts, projects to retry and pending deletions.

State is an SQLite database.  For a folder target it lives in the target itself
(``.cloudpypi/state.sqlite``).  For an S3 target the same file is an object in the bucket, and a
local working copy is kept in the state directory; the working copy is reused only while it still
descends from the bucket's current copy (tracked by ETag), so any host can continue a mirror.
SQLite keeps memory flat however many projects there are, and answers the planner's lookups
without loading anything whole.  See docs/DESIGN.md for the alternatives.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from cloudpypi.errors import StorageError
from cloudpypi.layout import STATE_KEY
from cloudpypi.model import DistFile, ProjectResult, RootEntry
from cloudpypi.paths import default_state_dir
from cloudpypi.storage import Storage
from cloudpypi.storage.folder import FolderStorage

log = logging.getLogger(__name__)

# 2: private projects and collisions.  An older cloudpypi refuses a version-2 state rather than sync over
# private names that it does not know to guard.
SCHEMA_VERSION = 2

# Made on first use by a closure mirror, not by every state.
_CLOSURE_METADATA_TABLE = """CREATE TABLE IF NOT EXISTS closure_metadata (
    sha256 TEXT PRIMARY KEY, requires_python TEXT, requires_dist TEXT NOT NULL) WITHOUT ROWID"""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS projects (
    name TEXT PRIMARY KEY,
    serial INTEGER,
    files INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS retry (name TEXT PRIMARY KEY, reason TEXT, since REAL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS deletions (key TEXT PRIMARY KEY, due REAL NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deletions_due ON deletions (due);
CREATE TABLE IF NOT EXISTS journal_pages (name TEXT PRIMARY KEY, after INTEGER NOT NULL, removed INTEGER NOT NULL)
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS journal_keys (key TEXT PRIMARY KEY, after INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS private_projects (name TEXT PRIMARY KEY, since REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS private_files (
    filename TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    requires_python TEXT,
    metadata_sha256 TEXT,
    upload_time TEXT,
    removed REAL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS private_files_name ON private_files (name);
CREATE TABLE IF NOT EXISTS collisions (name TEXT PRIMARY KEY, origin_serial INTEGER, seen REAL NOT NULL)
    WITHOUT ROWID;
"""
JOURNAL_SINCE = "journal_since"  # meta: the serial from which the change journal is complete
FILES_ACCOUNTED = "files_accounted"  # meta: "1" once a run ended with every stored file recorded


class State:
    def __init__(self, db: sqlite3.Connection, storage: Storage, local_path: Path, remote: bool, *,
                 read_only: bool = False) -> None:
        self.db = db
        # A read-only state (a dry run, status) never writes the mirror's state file; it may still use
        # TEMP tables (the root-index diff's ``seen``), which live in memory, not in that file.
        self.read_only = read_only
        self.storage = storage
        self.local_path = local_path
        self.remote = remote
        self._batch_started = 0.0
        # S3: the row-change count (sqlite3 total_changes) at which the local copy equals the uploaded
        # one, or None when it may differ.  save() skips the upload while nothing changed since: a
        # no-op sync then makes no state PUT and HEAD.
        self._uploaded_at: int | None = None

    # -- opening and saving --------------------------------------------------
    @classmethod
    def open(cls, storage: Storage, state_dir: str | Path | None = None, *, read_only: bool = False) -> State:
        if isinstance(storage, FolderStorage):
            path = storage.root / STATE_KEY
            path.parent.mkdir(parents=True, exist_ok=True)
            return cls(cls._connect(path, read_only), storage, path, remote=False,
                       read_only=read_only)._start_journal(read_only)
        directory = Path(state_dir) if state_dir else default_state_dir()
        directory = directory / hashlib.sha256(storage.url.encode()).hexdigest()[:16]
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "state.sqlite"
        etag_file = directory / "state.etag"
        remote = storage.stat(STATE_KEY)
        local_etag = etag_file.read_text().strip() if etag_file.exists() and path.exists() else None
        if remote is None:
            if local_etag:  # the bucket lost its state, or this is another bucket: start clean
                path.unlink(missing_ok=True)
                etag_file.unlink(missing_ok=True)
        elif remote.etag != local_etag:
            log.info("fetching the mirror's state from %s%s", storage.url, STATE_KEY)
            tmp = path.with_suffix(".download")
            with storage.open_read(STATE_KEY) as stream, open(tmp, "wb") as out:
                while chunk := stream.read(1 << 20):
                    out.write(chunk)
            os.replace(tmp, path)
            for suffix in ("-wal", "-shm", "-journal"):
                Path(str(path) + suffix).unlink(missing_ok=True)
            etag_file.write_text(remote.etag or "")
        state = cls(cls._connect(path, read_only), storage, path, remote=True, read_only=read_only)
        if remote is not None:  # the local copy is now the uploaded state (same etag, or just fetched)
            state._uploaded_at = state.db.total_changes
        return state._start_journal(read_only)

    @staticmethod
    def _connect(path: Path, read_only: bool) -> sqlite3.Connection:
        if read_only and not path.exists():
            db = sqlite3.connect(":memory:")
        elif read_only:
            # Opened read-only by SQLite itself (not PRAGMA query_only, which refuses TEMP tables too): the
            # file is never written, and the scratch tables a dry run's decision needs still work.
            db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None,
                                 check_same_thread=False)
        else:
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
        if read_only and path.exists() and db.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone() is None:
            # a state file created by a run killed before its first write: as good as no state at all
            db.close()
            db = sqlite3.connect(":memory:")
            db.executescript(_SCHEMA)
        elif not read_only or not path.exists():
            db.executescript(_SCHEMA)
        version = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if version is not None and int(version[0]) > SCHEMA_VERSION:
            raise StorageError(f"{path}: state schema {version[0]} is newer than this cloudpypi understands")
        if (version is None or int(version[0]) < SCHEMA_VERSION) and not read_only:
            # the schema script above added any table an older state lacked: that is the migration
            db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        return db

    # -- transactions ------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing writes.  Inside a batch (or another transaction) they join it instead."""
        if self.db.in_transaction:
            yield
            return
        self.db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def begin_batch(self) -> None:
        """Group the coming writes into one transaction until flush_batch() commits it.

        Every SQLite commit takes and releases file locks; one commit per project cost the sync
        loop tens of thousands of syscalls.  A batch that a crash loses only makes the next run
        look at those projects again (their files are already stored, so nothing is downloaded).
        """
        if not self.db.in_transaction:
            self.db.execute("BEGIN")
            self._batch_started = time.monotonic()

    def flush_batch(self, max_age: float = 0.0, *, reopen: bool = False) -> None:
        """Commit the open batch when it is older than max_age seconds (always, with the default).

        With reopen, a new batch starts at once, so that reads between writes need no locks either.
        """
        if self.db.in_transaction and time.monotonic() - self._batch_started >= max_age:
            self.db.execute("COMMIT")
            if reopen:
                self.begin_batch()

    def save(self) -> None:
        """Make the state durable in the target.  Folder: already is.  S3: upload a consistent snapshot."""
        self.flush_batch()
        if not self.remote:
            self.db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            return
        if self._uploaded_at is not None and self.db.total_changes == self._uploaded_at:
            return  # nothing changed since the copy in the bucket was written or fetched
        fd, snapshot = tempfile.mkstemp(prefix="state-", suffix=".sqlite", dir=self.local_path.parent)
        os.close(fd)
        try:
            target = sqlite3.connect(snapshot)
            with target:
                self.db.backup(target)
            target.close()
            data = Path(snapshot).read_bytes()
        finally:
            Path(snapshot).unlink(missing_ok=True)
        etag = self.storage.write_bytes(STATE_KEY, data, content_type="application/vnd.sqlite3")
        if etag is None:
            info = self.storage.stat(STATE_KEY)
            etag = info.etag if info else ""
        (self.local_path.parent / "state.etag").write_text(etag or "")
        self._uploaded_at = self.db.total_changes

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.flush_batch()
            self.db.close()

    # -- meta ------------------------------------------------------------------
    def get(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set(self, key: str, value: str | int | float | None) -> None:
        if value is None:
            self.db.execute("DELETE FROM meta WHERE key=?", (key,))
        elif self.get(key) != str(value):  # an unchanged value is no change (see save())
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, str(value)))

    @property
    def serial(self) -> int | None:
        value = self.get("serial")
        return int(value) if value is not None else None

    # -- projects ----------------------------------------------------------------
    def project_serial(self, name: str) -> tuple[bool, int | None]:
        row = self.db.execute("SELECT serial FROM projects WHERE name=?", (name,)).fetchone()
        return (row is not None, row[0] if row else None)

    def record(self, result: ProjectResult, now: float, grace: float) -> None:
        """Apply one project's outcome, all or nothing: its row, its files' deletions, its retry.

        A project whose pages were written gets its new row (serial, files, bytes) and marks the root
        index for rewriting; a known project whose pages were not (unchanged, or failed) keeps its row,
        and a failed one its old serial, so that the next run tries it again.  Dropped files are due for
        deletion ``grace`` seconds after ``now``; files linked again are no longer due.
        """
        known, old_serial = self.project_serial(result.name)
        with self.transaction():
            if result.page_written or known:
                serial = result.serial if result.ok else old_serial
                self.db.execute("INSERT OR REPLACE INTO projects VALUES (?, ?, ?, ?)",
                                (result.name, serial, result.file_count, result.total_bytes))
                if result.page_written:
                    self.set("root_dirty", 1)
            self.schedule_deletions(result.dropped_keys, now + grace)
            self.cancel_deletions(result.kept_keys)
            if result.page_written:
                self.journal_page(result.name, result.kept_keys)  # what a bundle --since carries
            if result.ok:
                self.clear_retry(result.name)
            else:
                self.mark_retry(result.name, result.reason)

    def schedule_removal(self, keys: Iterable[str], due: float) -> None:
        """Schedule the deletion of a removed project's files, committed at once (before its pages go)."""
        with self.transaction():
            self.schedule_deletions(keys, due)
        self.flush_batch()

    def forget_project(self, name: str) -> None:
        with self.transaction():
            self.db.execute("DELETE FROM projects WHERE name=?", (name,))
            self.db.execute("DELETE FROM retry WHERE name=?", (name,))
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('root_dirty', '1')")
            self.db.execute("INSERT OR REPLACE INTO journal_pages VALUES (?, ?, 1)", (name, self.serial or 0))

    def iter_projects(self) -> Iterator[RootEntry]:
        cursor = self.db.execute("SELECT name, serial FROM projects ORDER BY name")
        while rows := cursor.fetchmany(8192):
            for name, serial in rows:
                yield RootEntry(name, serial)

    def iter_file_counts(self) -> Iterator[tuple[str, int]]:
        """(project, files its pages list), in name order: what `verify --origin --sample` draws from."""
        cursor = self.db.execute("SELECT name, files FROM projects ORDER BY name")
        while rows := cursor.fetchmany(8192):
            yield from rows

    def iter_project_rows(self, batch: int = 8192) -> Iterator[list[tuple[str, int | None]]]:
        """(name, serial) rows in name order, a batch at a time: the root index's fast path."""
        cursor = self.db.execute("SELECT name, serial FROM projects ORDER BY name")
        while rows := cursor.fetchmany(batch):
            yield rows

    def project_names(self) -> Iterator[str]:
        for entry in self.iter_projects():
            yield entry.name

    def counts(self) -> dict[str, int]:
        projects, files, size = self.db.execute(
            "SELECT count(*), coalesce(sum(files), 0), coalesce(sum(bytes), 0) FROM projects").fetchone()
        deletions = self.db.execute("SELECT count(*) FROM deletions").fetchone()[0]
        retry = self.db.execute("SELECT count(*) FROM retry").fetchone()[0]
        return {"projects": projects, "files": files, "bytes": size, "pending_deletions": deletions,
                "projects_to_retry": retry}

    def largest_projects(self, limit: int) -> list[tuple[str, int, int]]:
        """The ``limit`` projects holding the most bytes: (name, files, bytes), largest first."""
        return [tuple(row) for row in self.db.execute(
            "SELECT name, files, bytes FROM projects ORDER BY bytes DESC, name LIMIT ?", (limit,))]

    # -- retries ------------------------------------------------------------------
    def mark_retry(self, name: str, reason: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO retry VALUES (?, ?, coalesce((SELECT since FROM retry "
                        "WHERE name=?), ?))", (name, reason[:500], name, time.time()))

    def clear_retry(self, name: str) -> None:
        self.db.execute("DELETE FROM retry WHERE name=?", (name,))

    def retry_names(self) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT name FROM retry ORDER BY name")]

    # -- the root-index diff against the origin, without holding either side in memory --------
    def begin_seen(self) -> None:
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS seen (name TEXT PRIMARY KEY) WITHOUT ROWID")
        self.db.execute("DELETE FROM seen")

    def add_seen(self, names: Iterable[str]) -> None:
        self.db.executemany("INSERT OR IGNORE INTO seen VALUES (?)", ((n,) for n in names))

    def unseen_projects(self) -> list[str]:
        return [row[0] for row in self.db.execute(
            "SELECT name FROM projects WHERE name NOT IN (SELECT name FROM seen) ORDER BY name")]

    # -- deletions after the grace period -------------------------------------------
    def schedule_deletions(self, keys: Iterable[str], due: float) -> None:
        # A key already scheduled keeps its earlier due time.  An unlinked key leaves the change journal,
        # so that linking it again counts as new (a bundle carries it again).
        keys = list(keys)
        self.db.executemany("INSERT OR IGNORE INTO deletions VALUES (?, ?)", ((k, due) for k in keys))
        self.db.executemany("DELETE FROM journal_keys WHERE key=?", ((k,) for k in keys))

    def cancel_deletions(self, keys: Iterable[str]) -> None:
        self.db.executemany("DELETE FROM deletions WHERE key=?", ((k,) for k in keys))

    def due_deletions(self, now: float) -> list[str]:
        return [row[0] for row in self.db.execute(
            "SELECT key FROM deletions WHERE due <= ? ORDER BY key", (now,))]

    def deletion_done(self, key: str) -> None:
        self.db.execute("DELETE FROM deletions WHERE key=?", (key,))

    def pending_deletion(self, key: str) -> bool:
        return self.db.execute("SELECT 1 FROM deletions WHERE key=?", (key,)).fetchone() is not None

    # -- the change journal: what changed after which serial (for bundles) ---------------------------
    # Each entry holds the mirror's serial when the change was made ("after"): a change made by a run
    # going from serial A to B is recorded with A, so a bundle --since A carries it and one --since B
    # (made after that run) does not.
    def _start_journal(self, read_only: bool) -> State:
        if read_only or self.get(JOURNAL_SINCE) is not None:
            return self
        if next(self.project_names(), None) is None:
            self.set(JOURNAL_SINCE, 0)  # an empty mirror: the journal misses nothing
        elif self.serial is not None:
            self.set(JOURNAL_SINCE, self.serial)  # a mirror from before the journal: complete from now on
        return self

    def journal_since(self) -> int | None:
        """The serial from which the journal is complete, or None when it is not (yet) kept."""
        if not self._has_table("journal_pages"):
            return None
        value = self.get(JOURNAL_SINCE)
        return int(value) if value is not None else None

    def _has_table(self, name: str) -> bool:
        return self.db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                               (name,)).fetchone() is not None

    def journal_page(self, name: str, keys: Iterable[str]) -> None:
        """A project's pages were written, linking keys (already linked ones keep their first entry)."""
        after = self.serial or 0
        self.db.execute("INSERT OR REPLACE INTO journal_pages VALUES (?, ?, 0)", (name, after))
        self.db.executemany("INSERT OR IGNORE INTO journal_keys VALUES (?, ?)", ((k, after) for k in keys))

    def changed_projects(self, since: int) -> list[str]:
        """Projects whose pages were written at or after serial `since` and that are still mirrored."""
        return [row[0] for row in self.db.execute(
            "SELECT j.name FROM journal_pages j JOIN projects p ON p.name = j.name "
            "WHERE j.removed = 0 AND j.after >= ? ORDER BY j.name", (since,))]

    def removed_projects(self, since: int) -> list[str]:
        """Projects removed at or after serial `since` and not mirrored again since."""
        return [row[0] for row in self.db.execute(
            "SELECT name FROM journal_pages WHERE removed = 1 AND after >= ? "
            "AND name NOT IN (SELECT name FROM projects) ORDER BY name", (since,))]

    def key_linked_before(self, key: str, since: int) -> bool:
        """True when the journal knows key was linked before serial `since` (an earlier bundle carried it)."""
        row = self.db.execute("SELECT after FROM journal_keys WHERE key=?", (key,)).fetchone()
        return row is not None and row[0] < since

    def project_row(self, name: str) -> tuple[int | None, int, int] | None:
        """(serial, files, bytes) of a mirrored project, or None."""
        row = self.db.execute("SELECT serial, files, bytes FROM projects WHERE name=?", (name,)).fetchone()
        return (row[0], row[1], row[2]) if row else None

    # -- private projects (cloudpypi upload) and their collisions with the origin ----------------------
    def private_projects(self) -> list[str]:
        if not self._has_table("private_projects"):
            return []  # a state from before private projects, opened read-only
        return [row[0] for row in self.db.execute("SELECT name FROM private_projects ORDER BY name")]

    def is_private(self, name: str) -> bool:
        return self._has_table("private_projects") and self.db.execute(
            "SELECT 1 FROM private_projects WHERE name=?", (name,)).fetchone() is not None

    def private_files(self, name: str) -> list[DistFile]:
        """The files a private project lists (removed ones left out), as its page links them."""
        if not self._has_table("private_files"):
            return []
        return [DistFile(filename=filename, url=key, sha256=sha256, size=size, requires_python=requires_python,
                         metadata_sha256=metadata_sha256, has_metadata=metadata_sha256 is not None,
                         upload_time=upload_time, key=key)
                for filename, key, sha256, size, requires_python, metadata_sha256, upload_time in self.db.execute(
                    "SELECT filename, key, sha256, size, requires_python, metadata_sha256, upload_time "
                    "FROM private_files WHERE name=? AND removed IS NULL ORDER BY filename", (name,))]

    def private_file(self, filename: str) -> tuple[str, str, bool] | None:
        """(project, sha256, removed) of a filename ever uploaded: a filename is never reused for other bytes."""
        if not self._has_table("private_files"):
            return None
        row = self.db.execute("SELECT name, sha256, removed FROM private_files WHERE filename=?",
                              (filename,)).fetchone()
        return (row[0], row[1], row[2] is not None) if row else None

    def add_private_file(self, name: str, item: DistFile) -> None:
        with self.transaction():
            self.db.execute("INSERT OR IGNORE INTO private_projects VALUES (?, ?)", (name, time.time()))
            self.db.execute("INSERT OR REPLACE INTO private_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                            (item.filename, name, item.key, item.sha256, item.size, item.requires_python,
                             item.metadata_sha256 if item.has_metadata else None, item.upload_time))

    def remove_private_files(self, filenames: Iterable[str]) -> None:
        """Unlisted, but remembered: the filename stays taken (its bytes may come back, no other bytes)."""
        now = time.time()
        self.db.executemany("UPDATE private_files SET removed=? WHERE filename=?", ((now, f) for f in filenames))

    def forget_private_project(self, name: str) -> None:
        with self.transaction():
            self.db.execute("UPDATE private_files SET removed=? WHERE name=? AND removed IS NULL", (time.time(), name))
            self.db.execute("DELETE FROM private_projects WHERE name=?", (name,))
            self.db.execute("DELETE FROM collisions WHERE name=?", (name,))

    def record_collision(self, name: str, origin_serial: int | None) -> bool:
        """A private name the origin has too.  True when it is new (it is reported once)."""
        cursor = self.db.execute("INSERT OR IGNORE INTO collisions VALUES (?, ?, ?)",
                                 (name, origin_serial, time.time()))
        return cursor.rowcount == 1

    # -- the closure's metadata cache (cloudpypi.closure.store) ---------------------------------
    def closure_metadata(self) -> list[tuple[str, str | None, str]]:
        """(sha256, Requires-Python, Requires-Dist as JSON) of the files the last closure read; [] when none."""
        try:
            return self.db.execute("SELECT sha256, requires_python, requires_dist FROM closure_metadata").fetchall()
        except sqlite3.Error:  # no closure has run on this state yet, or it is opened read-only
            return []

    def replace_closure_metadata(self, rows: Iterable[tuple[str, str | None, str]]) -> None:
        """Keep exactly these rows, in one transaction."""
        with self.transaction():
            self.db.execute(_CLOSURE_METADATA_TABLE)
            self.db.execute("DELETE FROM closure_metadata")
            self.db.executemany("INSERT INTO closure_metadata VALUES (?, ?, ?)", rows)

    def collisions(self) -> list[tuple[str, int | None, float]]:
        """(name, the origin's serial when first seen, when), for the private names the origin has too."""
        if not self._has_table("collisions"):
            return []
        return [tuple(row) for row in self.db.execute("SELECT name, origin_serial, seen FROM collisions ORDER BY name")]
