"""A folder target.  Every write is temp file + rename, so a reader never sees half a file."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import itertools
import os
import secrets
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from cloudpypi.errors import StorageError
from cloudpypi.storage.base import STATE_PREFIX, ObjectInfo, Staging, Storage, check_key

STAGING_DIR = STATE_PREFIX + "tmp"
# Files this big are staged with O_DIRECT (FolderStaging): a mirror writes terabytes that nobody reads
# back soon, and the copy into the page cache was the largest kernel cost of a big download.  From one
# download chunk (1 MiB) on, at least one aligned write skips that copy.
DIRECT_MIN_BYTES = 1 * 2**20
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
    """A staging file written with os.write on a bare descriptor (a file object would add an fstat, an
    ioctl and a seek per file).

    With `direct`, the file is opened with O_DIRECT where the file system takes it: aligned chunks (the
    download's page-aligned 1 MiB reads) go from the caller's buffer to the disk without a copy into the
    page cache, and the first direct write the kernel refuses (a file's last, shorter chunk is unaligned)
    is written through the page cache instead, as is the rest of the file (docs/DESIGN.md, "O_DIRECT
    staging and one PUT per file").
    """

    def __init__(self, path: Path, direct: bool = False) -> None:
        self.path = path
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        self._direct = direct and hasattr(os, "O_DIRECT")
        self._fd: int | None = None
        if self._direct:
            try:
                self._fd = os.open(path, flags | os.O_DIRECT, _FILE_MODE)
            except OSError as exc:
                if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP):  # this file system has no O_DIRECT
                    raise
                self._direct = False
        if self._fd is None:
            self._fd = os.open(path, flags, _FILE_MODE)

    def write(self, data: bytes) -> int:
        assert self._fd is not None, "write after close"
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self._fd, view):]
            except OSError:
                if not self._direct:
                    raise
                # Refused as unaligned (EINVAL), or O_DIRECT not supported for this write: a direct write
                # that fails has written nothing, so the same bytes go through the page cache instead,
                # and so does the rest of the file.  A real error (a full disk) fails the buffered write.
                self._direct = False
                fcntl.fcntl(self._fd, fcntl.F_SETFL, fcntl.fcntl(self._fd, fcntl.F_GETFL) & ~os.O_DIRECT)
        return len(data)

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


class FolderStorage(Storage):
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().absolute()
        self.url = str(self.root)
        try:
            (self.root / STAGING_DIR).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot use {self.root} as a mirror folder: {exc.strerror}") from None
        self._real_root = os.path.realpath(self.root)
        # Folders known to be real directories (not symlinks) inside the tree.  Every file lives in a
        # folder of its own (packages/aa/bb/<hash>/), so os.path.realpath() on each would cost an lstat
        # per path component; with this set, a check costs one lstat for the new folder.  A folder
        # swapped for a symlink after its check is not caught (neither was it before: the check and
        # the write are not atomic), and the sync engine is the only writer of its tree.
        self._safe_dirs: set[str] = {str(self.root)}
        self._safe_lock = threading.Lock()
        # Staging names: unique per process without a getrandom() and getpid() syscall per file.
        self._staging_prefix = f"{os.getpid()}-{secrets.token_hex(6)}-"
        self._staging_counter = itertools.count()

    def _inside(self, directory: str) -> bool:
        """True when directory, if it exists, is a real folder under the root (no symlink on the way)."""
        if directory in self._safe_dirs:
            return True
        parent = directory.rpartition(os.sep)[0] or os.sep
        if not parent.startswith(str(self.root)) or not self._inside(parent):
            return False
        try:
            mode = os.lstat(directory).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return True  # nothing there yet: nothing to follow (the folder is checked again once made)
        if stat.S_ISLNK(mode):
            real = os.path.realpath(directory)
            if real != self._real_root and not real.startswith(self._real_root + os.sep):
                return False
        elif not stat.S_ISDIR(mode):
            return True  # a file in the way: the write fails on its own
        with self._safe_lock:
            if len(self._safe_dirs) > 65536:
                self._safe_dirs = {str(self.root)}
            self._safe_dirs.add(directory)
        return True

    def _path(self, key: str) -> Path:
        path = self.root / check_key(key)
        # A symlink planted inside the tree must not redirect reads or writes outside it.
        if not self._inside(str(path.parent)):
            raise StorageError(f"refusing {key!r}: its folder resolves outside {self.root}")
        return path

    def _refuse_symlink(self, key: str, path: Path) -> None:
        """An object is a regular file: a symlink in its place is never read through nor replaced."""
        try:
            mode = os.lstat(path).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return
        if stat.S_ISLNK(mode):
            raise StorageError(f"refusing {key!r}: it is a symlink, not a file of the mirror")

    def _ensure_parent(self, key: str) -> Path:
        """The path for writing key: its folder made (if missing) and checked once it exists."""
        path = self._path(key)
        parent = str(path.parent)
        if parent not in self._safe_dirs:
            try:
                os.mkdir(parent)  # usually only the file's own folder is new: one syscall, not makedirs' walk
            except FileNotFoundError:
                os.makedirs(parent, exist_ok=True)
            except FileExistsError:
                pass
            self._path(key)  # the folder exists now: check it for symlinks leaving the tree
        return path

    def _staging_path(self) -> Path:
        return self.root / STAGING_DIR / f"{self._staging_prefix}{next(self._staging_counter)}.part"

    def stat(self, key: str) -> ObjectInfo | None:
        path = self.root / check_key(key)
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None  # checked before the folder test: most keys a sync asks about do not exist yet
        self._path(key)  # an existing object behind a symlink that leaves the tree is refused
        if stat.S_ISLNK(st.st_mode):
            raise StorageError(f"refusing {key!r}: it is a symlink, not a file of the mirror")
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

    def _open_nofollow(self, key: str) -> BinaryIO:
        """Open an object for reading; a symlink in its place is refused, not followed (O_NOFOLLOW)."""
        try:
            fd = os.open(self._path(key), os.O_RDONLY | os.O_NOFOLLOW)
        except (FileNotFoundError, NotADirectoryError):
            raise FileNotFoundError(key) from None
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            raise StorageError(f"refusing {key!r}: it is a symlink, not a file of the mirror") from None
        try:
            return os.fdopen(fd, "rb")
        except IsADirectoryError:
            os.close(fd)
            raise FileNotFoundError(key) from None

    @contextlib.contextmanager
    def open_read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[BinaryIO]:
        raw = self._open_nofollow(key)
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
        # The temp file lives in the staging area, not beside the page: a run killed mid-write must not
        # leave debris in the served tree, and the next run's cleanup_staging() removes it.
        staging = self.new_staging()
        try:
            staging.write(data)
            staging.close()
            self._move_into(staging.path, key)
        except BaseException:
            self.discard(staging)
            raise

    def _move_into(self, source: Path, key: str) -> None:
        """Rename a finished staging file to key, making its folder when needed."""
        path = self._ensure_parent(key)
        self._refuse_symlink(key, path)  # rename would replace the link; a planted link is an alarm, not a file
        try:
            os.replace(source, path)
        except FileNotFoundError:
            if not source.exists():
                raise
            # the folder went away after we last saw it (another process tidied it): make it again
            with self._safe_lock:
                self._safe_dirs.discard(str(path.parent))
            os.replace(source, self._ensure_parent(key))

    def write_bytes(self, key: str, data: bytes, *, content_type: str,
                    cache_control: str | None = None) -> str | None:
        self._write_atomic(key, data)
        return None

    def new_staging(self, size: int | None = None) -> FolderStaging:
        return FolderStaging(self._staging_path(), direct=size is not None and size >= DIRECT_MIN_BYTES)

    def publish(self, staging: Staging, key: str, *, sha256: str, size: int, content_type: str,
                cache_control: str | None = None) -> None:
        assert isinstance(staging, FolderStaging)
        staging.close()
        self._move_into(staging.path, key)

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
            with self._safe_lock:
                self._safe_dirs.discard(str(parent))
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
        path = self._ensure_parent(key)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(16)}.tmp")
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
