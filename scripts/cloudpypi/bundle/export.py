"""Writing a bundle: the pages and files a mirror changed after a serial, read through the storage
interface (folder or S3) and streamed into a tar, every byte checked against the page that links it."""

from __future__ import annotations

import hashlib
import io
import logging
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from cloudpypi.bundle.manifest import MANIFEST_NAME, Manifest, Member, ProjectEntry
from cloudpypi.errors import BundleRefused, CloudPyPIError
from cloudpypi.layout import JSON_PAGE, page_keys, project_extra_keys
from cloudpypi.pages import UNREADABLE, parse_mirror_json
from cloudpypi.plan import file_keys
from cloudpypi.state import State
from cloudpypi.storage import Storage

log = logging.getLogger(__name__)
CHUNK = 1 << 20


class ExportError(CloudPyPIError):
    """The source mirror is not in a state to export (a linked file is missing or damaged)."""


@dataclass(frozen=True, slots=True)
class _Wanted:
    key: str
    sha256: str | None  # what the page says the object's bytes hash to (None: it states no digest)


def tar_info(name: str, size: int) -> tarfile.TarInfo:
    """A plain regular-file member, the same on every run (no owner, no time): equal mirrors give equal bundles."""
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = 0
    info.type = tarfile.REGTYPE
    return info


class _Hashing(io.RawIOBase):
    """Reads through to a stream, hashing what passes."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size if size is not None and size >= 0 else CHUNK)
        self.digest.update(data)
        self.count += len(data)
        return data

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _select(storage: Storage, state: State, since: int) -> Iterator[tuple[ProjectEntry, dict[str, bytes],
                                                                             list[_Wanted]]]:
    """Each project to carry: its state row, its pages' bytes, and the objects it links that go along."""
    names = [entry.name for entry in state.iter_projects()] if since == 0 else state.changed_projects(since)
    for name in names:
        row = state.project_row(name)
        if row is None:
            continue
        pages: dict[str, bytes] = {}
        for page, key in page_keys(name).items():
            raw = storage.read_bytes(key)
            if raw is None:
                raise ExportError(f"{key} is missing in {storage.url}: run `cloudpypi verify --repair` first")
            pages[page] = raw
        try:
            page = parse_mirror_json(pages[JSON_PAGE], name)
        except UNREADABLE as exc:
            raise ExportError(f"{page_keys(name)[JSON_PAGE]} is unreadable ({exc}): "
                              "run `cloudpypi sync` or `cloudpypi verify --repair` first") from None
        hashes: dict[str, str | None] = {f.key: f.sha256 for f in page.files}
        hashes.update({f.metadata_key: f.metadata_sha256 for f in page.files if f.has_metadata})
        # Every object the page links goes along (file_keys is the one list of them), checked against the
        # page's digest where the page states one.
        wanted = [_Wanted(key, hashes.get(key)) for key in sorted(file_keys(page))
                  if not (since and state.key_linked_before(key, since))]
        yield ProjectEntry(name, row[0], row[1], row[2]), pages, wanted


def export_bundle(storage: Storage, state: State, since: int, out: BinaryIO, *, origin: str = "") -> Manifest:
    """Stream the bundle into out (a file or a pipe: the tar is written front to back, never sought)."""
    serial = state.serial
    if serial is None:
        raise BundleRefused(f"{storage.url} has no serial yet (it was never synced in full, or its origin publishes "
                            "no serials): a bundle needs one")
    if since > serial:
        raise BundleRefused(f"--since {since} is ahead of the mirror, which is at serial {serial}")
    if since:
        journal = state.journal_since()
        if journal is None or since < journal:
            start = "its next sync" if journal is None else f"serial {journal}"
            raise BundleRefused(f"this mirror records its changes from {start} only: export --since 0 (a full bundle), "
                                "or a serial from there on")
    members: list[Member] = []
    projects: list[ProjectEntry] = []
    carried: set[str] = set()
    pending_pages: list[tuple[str, bytes]] = []
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for entry, pages, wanted in _select(storage, state, since):
            for item in wanted:
                if item.key in carried:
                    continue
                carried.add(item.key)
                members.append(_add_object(tar, storage, item))
            for key in project_extra_keys(entry.name):  # the JSON API document, if any: before the pages
                raw = storage.read_bytes(key)
                if raw is not None:
                    pending_pages.append((key, raw))
            for page, key in page_keys(entry.name).items():
                pending_pages.append((key, pages[page]))
            projects.append(entry)
        # Pages after every file, so that a reader of the tar (or an interrupted import) meets no page
        # before the files it links.
        for key, raw in pending_pages:
            tar.addfile(tar_info(key, len(raw)), io.BytesIO(raw))
            members.append(Member(key, hashlib.sha256(raw).hexdigest(), len(raw)))
        removed = () if since == 0 else tuple(state.removed_projects(since))
        manifest = Manifest(origin=origin or state.get("origin") or "", since=since, to=serial,
                            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                            filters=state.get("filters") or "", projects=tuple(projects), removed=removed,
                            members=tuple(members))
        raw = manifest.to_json()
        tar.addfile(tar_info(MANIFEST_NAME, len(raw)), io.BytesIO(raw))
    log.info("bundle: serial %d to %d, %d project(s), %d removal(s), %d member(s)", since, serial, len(projects),
             len(removed), len(members))
    return manifest


def _add_object(tar: tarfile.TarFile, storage: Storage, item: _Wanted) -> Member:
    info = storage.stat(item.key)
    if info is None:
        raise ExportError(f"{item.key} is linked by a page but missing in {storage.url}: "
                          "run `cloudpypi verify --repair` first")
    hashing: _Hashing | None = None
    try:
        with storage.open_read(item.key) as stream:
            hashing = _Hashing(stream)
            tar.addfile(tar_info(item.key, info.size), hashing)
    except FileNotFoundError:
        raise ExportError(f"{item.key} went missing in {storage.url} while it was read") from None
    except OSError as exc:
        if hashing is None or hashing.count >= info.size:
            raise  # the output failed (a closed pipe, a full disk), not the source
        raise ExportError(f"{item.key} in {storage.url} is shorter than its {info.size} bytes ({exc})") from None
    actual = hashing.digest.hexdigest()
    if hashing.count != info.size or (item.sha256 is not None and actual != item.sha256):
        raise ExportError(f"{item.key} in {storage.url} does not match its page (sha256 {actual[:12]}…, expected "
                          f"{(item.sha256 or '')[:12]}…): run `cloudpypi verify --repair` first")
    return Member(item.key, actual, info.size)
