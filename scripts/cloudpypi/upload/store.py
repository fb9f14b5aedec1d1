"""Storing validated distributions beside the mirror, and removing them.

The order of writes is a sync's: the files (and their ``.metadata``), then the project's pages (the
JSON page last), then the root index, then the state.  Pages and the root index are published by the
page store (:class:`cloudpypi.pages.PageStore`), as a sync publishes them; keys come from
:mod:`cloudpypi.layout` and the state is written through :class:`cloudpypi.state.State`.  A run killed
at any point leaves nothing listed that is not stored, and running the same upload again completes it.
The target's lock is held throughout, so an upload never interleaves with a sync or another upload.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cloudpypi.config import Config
from cloudpypi.errors import ConfigError, UnsafeInput
from cloudpypi.layout import private_file_key
from cloudpypi.lock import TargetLock
from cloudpypi.model import DistFile, ProjectPage, ProjectResult, checked_project_name
from cloudpypi.pages import PageStore
from cloudpypi.plan import file_keys, removal_keys
from cloudpypi.private import private_page
from cloudpypi.state import State
from cloudpypi.storage import Storage
from cloudpypi.storage.content import FILE_CACHE_CONTROL, content_type_for
from cloudpypi.upload.validate import Distribution, UploadRefused, validate

Say = Callable[[str], None]


@dataclass
class Outcome:
    stored: list[str]
    unchanged: list[str]
    collisions: list[str]  # names that were mirrored from the origin before they became private


def upload(config: Config, storage: Storage, paths: Sequence[Path], *, lock_wait: float = 0.0,
           say: Say = print) -> Outcome:
    """Validate every file, then (under the target's lock) store them and publish their projects."""
    dists = _distinct([validate(Path(p), config.max_upload_size) for p in paths])
    lock = TargetLock(storage, wait=lock_wait, command="upload")
    lock.acquire()
    try:
        state = State.open(storage, config.state_dir or None)
        try:
            return _upload(config, storage, PageStore(storage, config.index_max_age), state, dists, say)
        finally:
            state.close()
    finally:
        lock.release()


def _distinct(dists: list[Distribution]) -> list[Distribution]:
    by_name: dict[str, Distribution] = {}
    for dist in dists:
        other = by_name.setdefault(dist.filename, dist)
        if other.sha256 != dist.sha256:
            raise UploadRefused(f"{dist.filename} is given twice with different bytes ({other.path}, {dist.path})")
    return list(by_name.values())


def _upload(config: Config, storage: Storage, pages: PageStore, state: State, dists: list[Distribution],
            say: Say) -> Outcome:
    # Every refusal first: nothing is written unless every file may be.
    current: dict[str, ProjectPage | None] = {}
    for dist in dists:
        prior = state.private_file(dist.filename)
        if prior is not None and prior[1] != dist.sha256:
            raise UploadRefused(f"{dist.filename} was uploaded before with other bytes (sha256 {prior[1]}); a "
                                "filename is never reused for other bytes: publish a new version instead")
        key = private_file_key(dist.name, dist.filename)
        stored = storage.sha256(key)
        if stored is not None and stored != dist.sha256:
            raise UploadRefused(f"{dist.filename} is stored with other bytes (sha256 {stored}) at {key}: "
                                "a filename is never reused for other bytes")
        if dist.name not in current:
            current[dist.name] = pages.mirror_page(dist.name)  # unreadable: rebuilt from the state's uploads

    outcome = Outcome([], [], [])
    todo: dict[str, list[DistFile]] = {}
    for dist in dists:
        key = private_file_key(dist.name, dist.filename)
        page = current[dist.name]
        listed = page is not None and any(f.filename == dist.filename and f.sha256 == dist.sha256 for f in page.files)
        prior = state.private_file(dist.filename)
        if listed and prior is not None and not prior[2]:
            outcome.unchanged.append(dist.filename)
            say(f"{dist.filename}: unchanged (uploaded before with the same bytes)")
            continue
        item = _store(storage, dist, key)
        todo.setdefault(dist.name, []).append(item)
        outcome.stored.append(dist.filename)
        say(f"{dist.filename}: stored as {key} (sha256 {dist.sha256}, {dist.size} bytes)")
    if not todo:
        return outcome

    now = time.time()
    origin = state.get("origin") or config.origin
    for name, items in todo.items():
        known, serial = state.project_serial(name)
        was_public = known and not state.is_private(name)
        tracked = name in config.private_track_origin
        if was_public:
            outcome.collisions.append(name)
            say(f"{name}: was mirrored from the origin; the name is private from now on"
                + (" (the origin's releases stay listed: [private] track_origin)" if tracked
                   else " (the origin's files leave its page)"))
        uploaded = {f.filename for f in items}
        own = [f for f in state.private_files(name) if f.filename not in uploaded] + items
        final = private_page(name, own, current[name], tracked=tracked, origin=origin)
        pages.publish_project(final, rewrite=current[name] is None)
        with state.transaction():
            for item in items:
                state.add_private_file(name, item)
            if was_public:
                state.record_collision(name, state.serial)
            _record_page(config, state, current[name], final, serial if tracked else None, now)
    _publish_root(pages, state)
    return outcome


def _store(storage: Storage, dist: Distribution, key: str) -> DistFile:
    """The file, then its .metadata, each verified against the digest taken at validation."""
    if storage.sha256(key) != dist.sha256:
        with open(dist.path, "rb") as handle:
            _publish_stream(storage, iter(lambda: handle.read(1 << 20), b""), key, dist.sha256)
    metadata_sha256 = None
    if dist.metadata is not None:
        metadata_sha256 = hashlib.sha256(dist.metadata).hexdigest()
        if storage.sha256(key + ".metadata") != metadata_sha256:
            _publish_stream(storage, iter([dist.metadata]), key + ".metadata", metadata_sha256)
    upload_time = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    return DistFile(filename=dist.filename, url=key, sha256=dist.sha256, size=dist.size,
                    requires_python=dist.requires_python, metadata_sha256=metadata_sha256,
                    has_metadata=metadata_sha256 is not None, upload_time=upload_time, key=key)


def _publish_stream(storage: Storage, chunks: Iterable[bytes], key: str, sha256: str) -> None:
    """Streamed into a staging file while hashed; published only when the bytes are the validated ones."""
    staging = storage.new_staging()
    digest, size = hashlib.sha256(), 0
    try:
        for chunk in chunks:
            staging.write(chunk)
            digest.update(chunk)
            size += len(chunk)
        if digest.hexdigest() != sha256:
            raise UploadRefused(f"{key.rsplit('/', 1)[-1]} changed while it was being uploaded; nothing was listed")
    except BaseException:
        storage.discard(staging)
        raise
    storage.publish(staging, key, sha256=sha256, size=size, content_type=content_type_for(key),
                    cache_control=FILE_CACHE_CONTROL)


def _record_page(config: Config, state: State, old: ProjectPage | None, new: ProjectPage, serial: int | None,
                 now: float, gone: Iterable[str] = ()) -> None:
    """What a sync records for a written page (State.record): its row, the files it no longer lists (and
    ``gone``) due for deletion after the grace period, the files it lists no longer due, the journal."""
    kept = sorted(file_keys(new))
    dropped = (file_keys(old) if old else set()) - set(kept) | set(gone)
    state.record(ProjectResult(name=new.name, serial=serial, page_written=True, file_count=len(new.files),
                               total_bytes=sum(f.size or 0 for f in new.files), dropped_keys=sorted(dropped),
                               kept_keys=kept), now, config.deletion_grace)


def _publish_root(pages: PageStore, state: State) -> None:
    """Root index, then the state (as a sync's checkpoint): the root never lists a project without pages."""
    pages.publish_root(state.iter_project_rows(), state.serial)
    state.set("root_dirty", None)
    state.save()


def republish_private(config: Config, pages: PageStore, state: State, name: str) -> None:
    """A private project's pages from its uploads alone (after it stopped tracking the origin); the files
    they no longer list go after the grace period.  The caller (a sync) holds the lock and writes the root."""
    old = pages.mirror_page(name)
    final = private_page(name, state.private_files(name), old, tracked=False,
                         origin=state.get("origin") or config.origin)
    pages.publish_project(final, rewrite=old is None)
    with state.transaction():
        _record_page(config, state, old, final, None, time.time())


def remove(config: Config, storage: Storage, name: str, filenames: Iterable[str], *, lock_wait: float = 0.0,
           say: Say = print) -> list[str]:
    """Unlist private files (or the whole private project); their bytes go after the deletion grace period."""
    try:
        name = checked_project_name(name)
    except UnsafeInput as exc:
        raise ConfigError(f"NAME: {exc}") from None
    wanted = list(dict.fromkeys(filenames))
    lock = TargetLock(storage, wait=lock_wait, command="remove")
    lock.acquire()
    try:
        state = State.open(storage, config.state_dir or None)
        try:
            return _remove(config, PageStore(storage, config.index_max_age), state, name, wanted, say)
        finally:
            state.close()
    finally:
        lock.release()


def _remove(config: Config, pages: PageStore, state: State, name: str, wanted: list[str], say: Say) -> list[str]:
    if not state.is_private(name):
        raise UploadRefused(f"{name} is not a private project: only uploaded projects are removed this way "
                            "(a mirrored project leaves the mirror through the filters)")
    own = state.private_files(name)
    listed = {f.filename for f in own}
    if unknown := [f for f in wanted if f not in listed]:
        raise UploadRefused(f"{name} lists no file {unknown[0]!r} (its files: {', '.join(sorted(listed)) or 'none'})")
    now = time.time()
    old = pages.mirror_page(name)
    due = now + config.deletion_grace
    if wanted:
        tracked = name in config.private_track_origin
        final = private_page(name, [f for f in own if f.filename not in wanted], old, tracked=tracked,
                             origin=state.get("origin") or config.origin)
        pages.publish_project(final, rewrite=old is None)
        gone = [k for f in own if f.filename in wanted for k in _keys(f)]
        with state.transaction():
            state.remove_private_files(wanted)
            _record_page(config, state, old, final, state.project_serial(name)[1] if tracked else None, now, gone)
        for filename in wanted:
            say(f"{name}: {filename} unlisted; its bytes are deleted after the grace period "
                f"({config.deletion_grace} s)")
        _publish_root(pages, state)
        return wanted
    # The whole project: its files' deletion is scheduled and committed before the pages go, as a sync removes one.
    keys = set(removal_keys(old)) | {k for f in own for k in _keys(f)}
    state.schedule_removal(sorted(keys), due)
    pages.remove_project(name)  # JSON last: a crash before it repeats the removal
    with state.transaction():
        state.forget_project(name)
        state.forget_private_project(name)
    say(f"{name}: removed ({len(own)} file(s) unlisted; their bytes are deleted after the grace period, "
        f"{config.deletion_grace} s); the name is no longer private")
    _publish_root(pages, state)
    return [f.filename for f in own]


def _keys(item: DistFile) -> tuple[str, ...]:
    return (item.key, item.metadata_key) if item.has_metadata else (item.key,)
