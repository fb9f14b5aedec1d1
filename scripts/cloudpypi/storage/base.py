"""The one storage interface behind which the folder and S3 targets live.

Keys are always relative, '/'-separated and already validated by
:mod:`cloudpypi.paths` (for example ``simple/requests/index.v1_json`` or
``packages/aa/bb/cc/requests-2.0-py3-none-any.whl``).  Backends must still
refuse a key that would escape the target; that check is cheap and is the last
line of defence.
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import BinaryIO

from cloudpypi.errors import UnsafeInput
from cloudpypi.layout import STATE_PREFIX

__all__ = ["STATE_PREFIX", "ObjectInfo", "Staging", "Storage", "check_key", "sha256_of_stream"]


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    sha256: str | None  # from object metadata where stored (S3); None means "hash the bytes to know"
    content_type: str | None
    cache_control: str | None
    etag: str | None  # an opaque version token: S3 ETag, or size+mtime for a folder
    last_modified: float | None = None


class Staging(abc.ABC):
    """A writable, not-yet-published file.

    The sync engine streams a download into it while hashing, then either
    publishes it under its final key (``Storage.publish``) or discards it.
    Nothing is visible under the final key until ``publish``.
    """

    @abc.abstractmethod
    def write(self, data: bytes) -> int: ...

    @abc.abstractmethod
    def close(self) -> None: ...


def check_key(key: str) -> str:
    if (
        not key
        or key.startswith("/")
        or "\\" in key
        or "\x00" in key
        or any(part in ("", ".", "..") for part in key.split("/"))
    ):
        raise UnsafeInput(f"refusing storage key {key!r}: it could escape the target")
    return key


def sha256_of_stream(stream: BinaryIO, chunk_size: int = 1 << 20) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(chunk_size):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


class Storage(abc.ABC):
    """Where the mirror's bytes go.  Thread-safe: many workers share one instance."""

    #: human-readable target, e.g. ``/srv/mirror`` or ``s3://bucket/prefix/``
    url: str
    #: True when writes wait on a remote endpoint rather than on this machine's CPU and disks, so that
    #: more transfer processes would only add memory (see cloudpypi.transfers.auto_processes).
    network_bound: bool = False

    # -- reading ---------------------------------------------------------
    @abc.abstractmethod
    def stat(self, key: str) -> ObjectInfo | None:
        """Metadata of one object, or None when it does not exist."""

    @abc.abstractmethod
    def open_read(self, key: str, start: int = 0, end: int | None = None) -> AbstractContextManager[BinaryIO]:
        """Stream an object's bytes [start, end] (end inclusive, like HTTP Range).

        Raises FileNotFoundError when the key does not exist.
        """

    def read_bytes(self, key: str) -> bytes | None:
        """A small object whole (pages, state), or None when missing."""
        try:
            with self.open_read(key) as stream:
                return stream.read()
        except FileNotFoundError:
            return None

    @abc.abstractmethod
    def iter_keys(self, prefix: str) -> Iterator[str]:
        """Every key under prefix, streamed (never a whole listing in memory)."""

    def sha256(self, key: str) -> str | None:
        """The sha256 of a stored object: from metadata when stored, else by hashing it."""
        info = self.stat(key)
        if info is None:
            return None
        if info.sha256:
            return info.sha256
        with self.open_read(key) as stream:
            return sha256_of_stream(stream)[0]

    def content_sha256(self, key: str) -> tuple[str, int] | None:
        """The sha256 and size of an object's bytes, or None when it does not exist.

        Never taken from metadata that the object's writer sets (the S3 ``sha256`` user metadata): an
        independent check against the origin must not believe the party it checks.  Backends may use a
        digest that the store itself computed from the bytes (S3's full-object ChecksumSHA256).
        """
        try:
            with self.open_read(key) as stream:
                return sha256_of_stream(stream)
        except FileNotFoundError:
            return None

    # -- writing ---------------------------------------------------------
    @abc.abstractmethod
    def write_bytes(
        self, key: str, data: bytes, *, content_type: str, cache_control: str | None = None
    ) -> str | None:
        """Atomically replace a small object (a page, the state).  Returns the new object's version token
        (its etag) when the store reports one with the write, else None (ask stat())."""

    @abc.abstractmethod
    def new_staging(self, size: int | None = None) -> Staging:
        """A private place to stream a download into before it is verified.

        `size` is the number of bytes announced for it, when known: a backend may choose how to write
        by it (the folder target writes big files past the page cache).
        """

    @abc.abstractmethod
    def publish(
        self,
        staging: Staging,
        key: str,
        *,
        sha256: str,
        size: int,
        content_type: str,
        cache_control: str | None = None,
    ) -> None:
        """Make a verified staging file visible under key, atomically.  Consumes the staging."""

    @abc.abstractmethod
    def discard(self, staging: Staging) -> None:
        """Throw a staging file away (verification failed, or the run is stopping)."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove an object; removing a missing one is not an error."""

    # -- the lock's primitives (compare-and-swap on one small object) ------
    @abc.abstractmethod
    def create_exclusive(self, key: str, data: bytes) -> bool:
        """Create key with data only if it does not exist.  True when this call created it."""

    @abc.abstractmethod
    def replace_if_unchanged(self, key: str, data: bytes, etag: str) -> bool:
        """Overwrite key only if its current version token is etag."""

    @abc.abstractmethod
    def delete_if_unchanged(self, key: str, etag: str) -> bool:
        """Delete key only if its current version token is etag."""

    # -- housekeeping ------------------------------------------------------
    def cleanup_staging(self) -> int:
        """Remove staging debris that a killed run left behind.  Returns how many were removed."""
        return 0

    def close(self) -> None:  # noqa: B027 - optional hook: most backends hold nothing to release
        """Release pools and clients."""
