"""Applying a bundle: check every member first, then publish in the crash-safe order.

1. The bundle alone (nothing in the target is touched): each tar member must be a plain file whose name
   is a storage key under ``packages/``, ``simple/<project>/`` or ``pypi/<project>/json``, the
   manifest must be the last member, and the members must be exactly those the manifest lists, with
   its sizes and sha256 digests.  A truncated bundle, a member that fails its hash, a link, a device
   or a path that could leave the target is refused here.
2. The bundle against the target: it must follow the target's serial (no gap, not older), and every
   file a carried page links must be in the bundle (with the page's digest) or already in the target.
3. Under the target's lock: files (each hashed again as it is copied), then each project's JSON API
   document and pages (``index.v1_json`` last), removals (files scheduled for deletion after the grace
   period, as a sync does), the root index, then the state.  Killed at any point, the import can
   simply be run again.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cloudpypi.bundle.manifest import (
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    MAX_PAGE_BYTES,
    Manifest,
    check_sequence,
    member_key,
    parse_manifest,
)
from cloudpypi.errors import BundleRefused
from cloudpypi.layout import is_file_key, is_page_area, json_page_key, page_keys, project_extra_keys, split_json_api_key
from cloudpypi.lock import TargetLock
from cloudpypi.model import ProjectPage, ProjectResult
from cloudpypi.pages import UNREADABLE, PageStore, parse_mirror_json
from cloudpypi.plan import file_keys, removal_keys
from cloudpypi.state import FILES_ACCOUNTED, State  # FILES_ACCOUNTED: off while importing
from cloudpypi.storage import Storage
from cloudpypi.storage.content import FILE_CACHE_CONTROL, content_type_for

log = logging.getLogger(__name__)
CHUNK = 1 << 20
_FILTER_DEST = "/cloudpypi-bundle"  # where tarfile's 'data' filter imagines the members go


@dataclass
class ImportResult:
    applied: bool = False
    serial_before: int | None = None
    serial_after: int | None = None
    files_written: int = 0
    files_present: int = 0
    pages_written: int = 0
    projects: int = 0
    removed: int = 0
    deleted: int = 0
    dropped: list[str] = field(default_factory=list)


class Bundle:
    """An opened bundle whose members all passed step 1."""

    def __init__(self, path: Path, tar: tarfile.TarFile, manifest: Manifest, infos: dict[str, tarfile.TarInfo]):
        self.path = path
        self.tar = tar
        self.manifest = manifest
        self.infos = infos

    def close(self) -> None:
        self.tar.close()

    def read_small(self, key: str) -> bytes:
        return _read_all(self.tar, self.infos[key])

    def stream(self, key: str) -> Iterator[bytes]:
        source = self.tar.extractfile(self.infos[key])
        assert source is not None
        try:
            while chunk := source.read(CHUNK):
                yield chunk
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise BundleRefused(f"{self.path}: {key} cannot be read any more ({exc})") from None


def _read_all(tar: tarfile.TarFile, info: tarfile.TarInfo) -> bytes:
    source = tar.extractfile(info)
    assert source is not None
    try:
        return source.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BundleRefused(f"the bundle is truncated or damaged in {info.name} ({exc})") from None


def _members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    while True:
        try:
            member = tar.next()
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise BundleRefused(f"the bundle is truncated or damaged ({exc})") from None
        if member is None:
            return
        yield member


def _check_member(member: tarfile.TarInfo) -> str:
    """The storage key of a member, after the 'data' filter's rules and ours (plain files only)."""
    try:
        tarfile.data_filter(member, _FILTER_DEST)
    except tarfile.FilterError as exc:
        raise BundleRefused(f"member {member.name!r} refused: {exc}") from None
    if not member.isreg() or member.issparse():
        kind = ("a symlink" if member.issym() else "a hard link" if member.islnk() else
                "a directory" if member.isdir() else "a device or fifo" if member.isdev() else "not a plain file")
        raise BundleRefused(f"member {member.name!r} is {kind}: a bundle holds plain files only")
    if member.name == MANIFEST_NAME:
        return MANIFEST_NAME
    return member_key(member.name)


def open_bundle(path: str | Path) -> Bundle:
    """Step 1: read the whole bundle, checking every member against the manifest.  Writes nothing."""
    path = Path(path)
    try:
        tar = tarfile.open(path, mode="r:")
    except FileNotFoundError:
        raise BundleRefused(f"{path} does not exist") from None
    except (tarfile.TarError, OSError) as exc:
        raise BundleRefused(f"{path} is not a readable bundle ({exc})") from None
    try:
        bundle = _verify(path, tar)
    except BaseException:
        tar.close()
        raise
    return bundle


def _verify(path: Path, tar: tarfile.TarFile) -> Bundle:
    seen: dict[str, tuple[str, int]] = {}
    infos: dict[str, tarfile.TarInfo] = {}
    manifest: Manifest | None = None
    for member in _members(tar):
        key = _check_member(member)
        if manifest is not None:
            raise BundleRefused(f"member {member.name!r} follows the manifest, which must be the last member")
        if key == MANIFEST_NAME:
            if member.size > MAX_MANIFEST_BYTES:
                raise BundleRefused(f"the manifest is {member.size} bytes, over the {MAX_MANIFEST_BYTES}-byte limit")
            manifest = parse_manifest(_read_all(tar, member))
            continue
        if key in seen:
            raise BundleRefused(f"member {key} appears twice in the bundle")
        if (is_page_area(key) or split_json_api_key(key) is not None) and member.size > MAX_PAGE_BYTES:
            raise BundleRefused(f"page {key} is {member.size} bytes, over the {MAX_PAGE_BYTES}-byte limit")
        source = tar.extractfile(member)
        assert source is not None
        digest, size = hashlib.sha256(), 0
        try:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise BundleRefused(f"the bundle is truncated in {key} ({exc})") from None
        seen[key] = (digest.hexdigest(), size)
        infos[key] = member
    if manifest is None:
        raise BundleRefused(f"{path} has no manifest ({MANIFEST_NAME} is its last member): it is truncated, or "
                            "not a cloudpypi bundle")
    for item in manifest.members:
        found = seen.pop(item.key, None)
        if found is None:
            raise BundleRefused(f"{item.key} is listed in the manifest but missing from the bundle (truncated?)")
        if found[1] != item.size:
            raise BundleRefused(f"{item.key} is {found[1]} bytes, the manifest says {item.size}")
        if found[0] != item.sha256:
            raise BundleRefused(f"{item.key} fails its hash: sha256 {found[0]}, the manifest says {item.sha256}")
    if seen:
        raise BundleRefused(f"{sorted(seen)[0]} is in the bundle but not in its manifest")
    return Bundle(path, tar, manifest, infos)


def _page_of(bundle: Bundle, name: str) -> ProjectPage:
    key = json_page_key(name)
    try:
        page = parse_mirror_json(bundle.read_small(key), name)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BundleRefused(f"{key} is not a page this tool can read ({exc})") from None
    if page.name != name:
        raise BundleRefused(f"{key} names project {page.name!r}")
    for linked in file_keys(page):
        if not is_file_key(linked):
            raise BundleRefused(f"{key} links {linked!r}, outside packages/")
        member_key(linked)
    return page


def _hashes(page: ProjectPage) -> dict[str, tuple[str | None, int | None]]:
    """Every object the page links, with the digest and size the page states for it (if any)."""
    stated: dict[str, tuple[str | None, int | None]] = {f.key: (f.sha256, f.size) for f in page.files}
    for f in page.files:
        if f.has_metadata:
            stated[f.metadata_key] = (f.metadata_sha256, None)
    return {key: stated.get(key, (None, None)) for key in file_keys(page)}


def check_links(bundle: Bundle, storage: Storage) -> None:
    """Step 2: every file a carried page links is in the bundle with the page's digest, or already stored."""
    for project in bundle.manifest.projects:
        page = _page_of(bundle, project.name)
        for key, (sha256, size) in _hashes(page).items():
            member = bundle.manifest.member(key)
            if member is not None:
                if sha256 is not None and member.sha256 != sha256:
                    raise BundleRefused(f"{key}: the bundle's copy has sha256 {member.sha256}, its page says {sha256}")
                continue
            info = storage.stat(key)
            if info is None or (size is not None and info.size != size) or (
                    info.sha256 is not None and sha256 is not None and info.sha256 != sha256):
                raise BundleRefused(
                    f"{project.name} links {key}, which is neither in the bundle nor in {storage.url}: the target "
                    "misses an earlier bundle (export one with an earlier --since, or --since 0)")


class Importer:
    def __init__(self, bundle: Bundle, storage: Storage, *, deletion_grace: int, index_max_age: int,
                 state_dir: str | None, lock_wait: float = 0.0) -> None:
        self.bundle = bundle
        self.manifest = bundle.manifest
        self.storage = storage
        self.deletion_grace = deletion_grace
        self.pages = PageStore(storage, index_max_age)
        self.state_dir = state_dir
        self.lock_wait = lock_wait
        self.result = ImportResult()

    def _check_target(self, state: State) -> bool:
        origin = state.get("origin")
        if origin and self.manifest.origin and origin != self.manifest.origin and state.serial is not None:
            raise BundleRefused(f"the bundle mirrors {self.manifest.origin} but {self.storage.url} mirrors {origin}: "
                                "serials of different origins cannot be compared")
        return check_sequence(self.manifest, state.serial)

    def run(self) -> ImportResult:
        result = self.result
        state = State.open(self.storage, self.state_dir, read_only=True)
        try:
            result.serial_before = state.serial
            needed = self._check_target(state)
        finally:
            state.close()
        if not needed:
            result.serial_after = result.serial_before
            return result
        with TargetLock(self.storage, wait=self.lock_wait, command="import"):
            state = State.open(self.storage, self.state_dir)
            try:
                needed = self._check_target(state)  # again, under the lock: a sync may have run meanwhile
                if needed:
                    check_links(self.bundle, self.storage)
                    self._apply(state)
                    result.applied = True
                result.serial_after = state.serial
            finally:
                state.close()
        return result

    # -- step 3 -----------------------------------------------------------------------------------
    def _apply(self, state: State) -> None:
        self.storage.cleanup_staging()
        accounted = state.get(FILES_ACCOUNTED)
        state.set(FILES_ACCOUNTED, "0")
        for member in self.manifest.members:
            if is_file_key(member.key):
                self._publish_file(member.key, member.sha256, member.size)
        now = time.time()
        carried = {p.name for p in self.manifest.projects}
        for project in self.manifest.projects:
            self._publish_project(state, project.name, project.serial, project.files, project.bytes, now)
        removed = list(self.manifest.removed)
        if self.manifest.full:  # a full bundle is the whole mirror: what it does not carry is gone
            removed = [name for name in state.project_names() if name not in carried]
        for name in removed:
            self._remove_project(state, name, now)
        state.flush_batch()
        self._write_root(state)
        for key in state.due_deletions(time.time()):
            self.storage.delete(key)
            state.deletion_done(key)
            self.result.deleted += 1
        state.set("serial", self.manifest.to)
        state.set("origin", self.manifest.origin or None)
        state.set("filters", self.manifest.filters or None)
        state.set(FILES_ACCOUNTED, accounted)
        state.set("last_import", time.time())
        state.save()

    def _stored(self, key: str, sha256: str, size: int) -> bool:
        info = self.storage.stat(key)
        if info is None or info.size != size:
            return False
        return (info.sha256 or self.storage.sha256(key)) == sha256

    def _publish_file(self, key: str, sha256: str, size: int) -> None:
        if self._stored(key, sha256, size):
            self.result.files_present += 1
            return
        staging = self.storage.new_staging()
        digest, count = hashlib.sha256(), 0
        try:
            for chunk in self.bundle.stream(key):
                staging.write(chunk)
                digest.update(chunk)
                count += len(chunk)
            if count != size or digest.hexdigest() != sha256:
                raise BundleRefused(f"{key} changed in {self.bundle.path} while it was imported; nothing links it yet")
        except BaseException:
            self.storage.discard(staging)
            raise
        self.storage.publish(staging, key, sha256=sha256, size=size, content_type=content_type_for(key),
                             cache_control=FILE_CACHE_CONTROL)
        self.result.files_written += 1

    def _current_page(self, name: str) -> ProjectPage | None:
        with contextlib.suppress(*UNREADABLE):
            return self.pages.read(name)
        return None

    def _publish_project(self, state: State, name: str, serial: int | None, files: int, size: int,
                         now: float) -> None:
        old = self._current_page(name)
        new = _page_of(self.bundle, name)
        keys = file_keys(new)
        dropped = sorted(file_keys(old) - keys) if old else []
        with state.transaction():  # scheduled before the page that stops linking them is written
            state.schedule_deletions(dropped, now + self.deletion_grace)
            state.cancel_deletions(keys)
        state.flush_batch()
        # the bundle's bytes, each only when it differs: the JSON API document (when carried) before the
        # pages, index.v1_json last (as the sync writes them)
        raw = {form: self.bundle.read_small(key) for form, key in page_keys(name).items()}
        extras = [(key, self.bundle.read_small(key), content_type_for(key))
                  for key in project_extra_keys(name) if self.manifest.member(key) is not None]
        self.result.pages_written += self.pages.publish_rendered(name, raw, extras)
        # Recorded (and journaled) even when the pages were there already (an import killed before this
        # point): this mirror passes the change on in its own bundles.
        state.record(ProjectResult(name=name, serial=serial, page_written=True, file_count=files, total_bytes=size,
                                   kept_keys=sorted(keys)), now, self.deletion_grace)
        self.result.projects += 1
        self.result.dropped.extend(dropped)

    def _remove_project(self, state: State, name: str, now: float) -> None:
        known, _ = state.project_serial(name)
        if not known:
            return
        state.schedule_removal(removal_keys(self._current_page(name)), now + self.deletion_grace)
        self.pages.remove_project(name)  # the JSON API document, then the pages, JSON page last
        state.forget_project(name)
        self.result.removed += 1

    def _write_root(self, state: State) -> None:
        """The root index from the state, as the sync writes it."""
        self.pages.publish_root(state.iter_project_rows(), self.manifest.to)
        state.set("root_dirty", None)
