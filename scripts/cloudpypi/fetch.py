"""One file into the target: look it up (when asked), download it verified, publish it, then its .metadata.

Pure per-file work with no shared state beyond the storage and origin clients, so the same code runs
in the sync's worker threads and in its transfer processes (cloudpypi.transfers).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from cloudpypi.config import Config
from cloudpypi.errors import OriginError, Stopping, StorageError
from cloudpypi.model import DistFile
from cloudpypi.origin import OriginClient
from cloudpypi.storage import Staging, Storage
from cloudpypi.storage.content import FILE_CACHE_CONTROL, content_type_for

log = logging.getLogger(__name__)


class StopFlag(Protocol):
    def is_set(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Fetched:
    """What ensuring one file did."""

    stored: DistFile  # as it is now listed: size filled in, metadata dropped when it could not be verified
    bytes_added: int  # bytes downloaded for the file itself (0 when it was already there)
    metadata_ok: bool
    writes: int  # objects published (file and .metadata)


class FileFetcher:
    def __init__(self, config: Config, storage: Storage, origin: OriginClient, stop: StopFlag) -> None:
        self.config = config
        self.storage = storage
        self.origin = origin
        self.stop = stop
        self.on_bytes: Callable[[], None] | None = None  # called as bytes arrive: the run's watchdog sees them

    def already_stored(self, item: DistFile, key: str | None = None, sha256: str | None = None,
                       size: int | None = None) -> bool:
        key, sha256 = key or item.key, sha256 or item.sha256
        size = item.size if key == item.key else size
        info = self.storage.stat(key)
        if info is None or (size is not None and info.size != size):
            return False
        if info.sha256 is not None:
            return info.sha256 == sha256
        return self.storage.sha256(key) == sha256  # a folder: hash the local copy, no download

    def ensure(self, item: DistFile, check_target: bool = True) -> Fetched:
        """Make item (and its .metadata) present and verified.

        Without check_target the file is known to be absent (no stat/HEAD first).  Were that wrong, the
        cost is one redundant download: a publish replaces an object whole, with the same bytes.
        """
        if self.stop.is_set():
            raise Stopping("stopping")
        if item.size is not None and item.size > self.config.max_file_size:
            raise OriginError(f"{item.size} bytes is over the {self.config.max_file_size}-byte cap")
        added, writes = 0, 0
        fetched = not check_target or not self.already_stored(item)
        if fetched:
            added = self._download(item.url, item.key, item.sha256, item.size, "file")
            writes += 1
        metadata_ok = True
        if item.has_metadata and item.metadata_sha256:
            url, key = item.url + ".metadata", item.metadata_key
            try:
                # The file is always published before its .metadata, so a file that was missing has no
                # .metadata worth looking up (at worst, an identical one is overwritten): one S3 HEAD saved.
                if fetched or not self.already_stored(item, key, item.metadata_sha256, None):
                    self._download(url, key, item.metadata_sha256, None, "metadata")
                    writes += 1
            except (OriginError, StorageError) as exc:
                log.warning("%s: %s", item.filename, exc)
                metadata_ok = False
        stored = item if metadata_ok else replace(item, metadata_sha256=None, has_metadata=False)
        if stored.size is None:
            info = self.storage.stat(item.key)
            stored = replace(stored, size=info.size if info else None)
        return Fetched(stored, added, metadata_ok, writes)

    def _download(self, url: str, key: str, sha256: str, size: int | None, kind: str) -> int:
        current: list[Staging] = []

        def reset() -> None:
            if current:
                self.storage.discard(current.pop())
            current.append(self.storage.new_staging(size))

        def sink(chunk: Any) -> None:
            if self.stop.is_set():
                raise Stopping("stopping")
            current[0].write(chunk)
            if self.on_bytes is not None:
                self.on_bytes()

        try:
            received = self.origin.download(url, kind, sink, sha256=sha256, size=size, reset=reset)
        except BaseException:
            if current:
                self.storage.discard(current.pop())
            raise
        self.storage.publish(current.pop(), key, sha256=sha256, size=received, content_type=content_type_for(key),
                             cache_control=FILE_CACHE_CONTROL)
        return received
