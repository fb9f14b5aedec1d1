"""A folder target.  Every write is temp file + rename, so a reader never sees half a file."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import io
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from cloudpypi.errors import StorageError
from cloudpypi.storage.base import STATE_PREFIX, ObjectInfo, Staging, Storage, check_key

STAGING_DIR = STATE_PREFIX + "tmp"
_FILE_MODE = 0o644


class RangeReader(io.RawIOBase):
    """Reads at most `length` bytes of an open file: HTTP Range without loading it."""

    def __init__(self, raw: BinaryIO, length: int | None) -> None:
        self._raw = raw
        self._left = length

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._left is not None:
            size = self._left if size is None or size < 0 else min(size, self._left)
        data = self._raw.read(size)
        if self._left is not None:
            self._left -= len(data)
        return data

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._raw.close()
        super().close()


class FolderStaging(Staging):
    def __init__(self, path: Path) -> None:
        self.path = path
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        self._file = os.fdopen(fd, "wb", buffering=0)

    def write(self, data: bytes) -> int:
        return self._file.write(data)

    def close(self) -> None:
        self._file.close()


class FolderStorage(Storage):
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().absolute()
        self.url = str(self.root)
        try:
            (self.root / STAGING_DIR).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot use {self.root} as a mirror folder: {exc.strerror}") from None
        self._real_root = os.path.realpath(self.root)
        # realpath() costs an lstat per path component, and a file's folder is checked several times in a
        # row (stat, staging, publish, then its .metadata): remember recent answers.  A folder swapped for
        # a symlink after its check was never caught either (the check and the write are not atomic).
        self._realpath = functools.lru_cache(maxsize=4096)(os.path.realpath)

    def _path(self, key: str) -> Path:
        path = self.root / check_key(key)
        # A symlink planted inside the tree must not redirect writes outside it.
        real_parent = self._realpath(str(path.parent))
        if real_parent != self._real_root and not real_parent.startswith(self._real_root + os.sep):
            raise StorageError(f"refusing {key!r}: its folder resolves outside {self.root}")
        return path

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            st = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not stat.S_ISREG(st.st_mode):
            return None  # a directory is not an object
        from cloudpypi.storage.content import cache_control_for, content_type_for

        return ObjectInfo(
            key=key,
            size=st.st_size,
            sha256=None,
            content_type=content_type_for(key),
            cache_control=cache_control_for(key),
            etag=f"{st.st_size:x}-{st.st_mtime_ns:x}",
            last_modified=st.st_mtime,
        )

    @contextlib.contextmanager
    def open_read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[BinaryIO]:
        try:
            raw = open(self._path(key), "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise FileNotFoundError(key) from None
        if start:
            raw.seek(start)
        if end is None and not start:
            with raw:
                yield raw
            return
        length = None if end is None else max(0, end - start + 1)
        with io.BufferedReader(RangeReader(raw, length), buffer_size=1 << 20) as reader:
            yield reader  # type: ignore[misc]

    def iter_keys(self, prefix: str) -> Iterator[str]:
        base = self.root / prefix.rstrip("/") if prefix else self.root
        if base.is_file():
            yield prefix
            return
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, self.root)
            for name in sorted(filenames):
                key = name if rel_dir == "." else f"{rel_dir}/{name}".replace(os.sep, "/")
                yield key

    def _write_atomic(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # The temp file lives in the staging area, not beside the page: a run killed mid-write must not
        # leave debris in the served tree, and the next run's cleanup_staging() removes it.
        tmp = self.root / STAGING_DIR / f"{os.getpid()}-{uuid.uuid4().hex}.part"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise

    def write_bytes(self, key: str, data: bytes, *, content_type: str, cache_control: str | None = None) -> None:
        self._write_atomic(key, data)

    def new_staging(self) -> FolderStaging:
        return FolderStaging(self.root / STAGING_DIR / f"{os.getpid()}-{uuid.uuid4().hex}.part")

    def publish(self, staging: Staging, key: str, *, sha256: str, size: int, content_type: str,
                cache_control: str | None = None) -> None:
        assert isinstance(staging, FolderStaging)
        staging.close()
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging.path, path)

    def discard(self, staging: Staging) -> None:
        assert isinstance(staging, FolderStaging)
        staging.close()
        with contextlib.suppress(FileNotFoundError):
            staging.path.unlink()

    def delete(self, key: str) -> None:
        path = self._path(key)
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            path.unlink()
        # Tidy empty folders up to the top-level area, so deleted projects leave no skeleton.
        parent = path.parent
        while parent != self.root and parent.parent != self.root:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        guard = self.root / STATE_PREFIX / "cas.guard"
        with open(guard, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def create_exclusive(self, key: str, data: bytes) -> bool:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(data)
        try:
            os.link(tmp, path)  # link() fails if the name exists: an atomic create-if-absent with content
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink()

    def replace_if_unchanged(self, key: str, data: bytes, etag: str) -> bool:
        with self._guard():
            info = self.stat(key)
            if info is None or info.etag != etag:
                return False
            self._write_atomic(key, data)
            return True

    def delete_if_unchanged(self, key: str, etag: str) -> bool:
        with self._guard():
            info = self.stat(key)
            if info is None or info.etag != etag:
                return False
            self._path(key).unlink()
            return True

    def cleanup_staging(self) -> int:
        removed = 0
        for entry in (self.root / STAGING_DIR).glob("*.part"):
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
                removed += 1
        return removed
