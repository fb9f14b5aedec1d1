"""The auth file: token names with the SHA-256 of their tokens (never the tokens themselves).

Format (JSON, mode 0600, replaced atomically)::

    {"version": 1, "tokens": [{"name": "ci", "sha256": "<64 hex>", "created": "2026-12-06T23:00:00Z"}]}

A token is 32 bytes from :mod:`secrets` (256 bits), shown once, URL-safe base64.  A name is what
the client puts before the colon in ``NAME:TOKEN``: 1 to 64 letters, digits, ``.``, ``_`` or ``-``,
starting with a letter or digit (it is also the CloudFront KeyValueStore key).
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import re
import secrets
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cloudpypi.edge.auth import hash_token
from cloudpypi.errors import CloudPyPIError

FORMAT_VERSION = 1
TOKEN_BYTES = 32
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HASH_RE = re.compile(r"[0-9a-f]{64}")


class TokenError(CloudPyPIError):
    """A bad name, an unknown or duplicate token, or an unreadable auth file: nothing was changed."""

    exit_code = 2


@dataclass(frozen=True, slots=True)
class TokenEntry:
    name: str
    sha256: str
    created: str

    def as_json(self) -> dict[str, str]:
        return {"name": self.name, "sha256": self.sha256, "created": self.created}


def check_name(name: str) -> str:
    if not _NAME_RE.fullmatch(name):
        raise TokenError(f"bad token name {name!r}: use 1 to 64 letters, digits, '.', '_' or '-', "
                         "starting with a letter or digit")
    return name


def new_token() -> str:
    """A fresh random token (256 bits, URL-safe base64, 43 characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def parse(text: str, source: str) -> list[TokenEntry]:
    """The entries of an auth file's text; TokenError naming ``source`` when it is malformed."""
    try:
        document = json.loads(text)
        if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION:
            raise ValueError(f"expected an object with version {FORMAT_VERSION}")
        entries = []
        for item in document.get("tokens", []):
            entry = TokenEntry(str(item["name"]), str(item["sha256"]), str(item.get("created", "")))
            if not _NAME_RE.fullmatch(entry.name) or not _HASH_RE.fullmatch(entry.sha256):
                raise ValueError(f"bad entry {entry.name!r}")
            entries.append(entry)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise TokenError(f"{source} is not a cloudpypi auth file: {exc}") from None
    names = [entry.name for entry in entries]
    if len(set(names)) != len(names):
        raise TokenError(f"{source} names a token twice")
    return entries


def render(entries: list[TokenEntry]) -> str:
    return json.dumps({"version": FORMAT_VERSION, "tokens": [e.as_json() for e in entries]}, indent=1) + "\n"


def hashes(entries: list[TokenEntry]) -> dict[str, str]:
    """name -> hash, what the edge looks up (and what goes into the KeyValueStore)."""
    return {entry.name: entry.sha256 for entry in entries}


class AuthFile:
    """One auth file on disk.  Changes take an exclusive lock (``F.lock``) and replace the file atomically."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def read(self) -> list[TokenEntry]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise TokenError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        return parse(text, str(self.path))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise TokenError(f"cannot lock {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _write(self, entries: list[TokenEntry]) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(render(entries))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def add(self, name: str, *, now: datetime.datetime | None = None) -> str:
        """Store a new token under ``name`` and return the token (its only copy)."""
        check_name(name)
        with self._locked():
            entries = self.read()
            if any(entry.name == name for entry in entries):
                raise TokenError(f"a token named {name!r} exists in {self.path}; revoke it first")
            token = new_token()
            created = (now or datetime.datetime.now(datetime.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
            self._write([*entries, TokenEntry(name, hash_token(token), created)])
        return token

    def revoke(self, name: str) -> None:
        check_name(name)
        with self._locked():
            entries = self.read()
            kept = [entry for entry in entries if entry.name != name]
            if len(kept) == len(entries):
                raise TokenError(f"no token named {name!r} in {self.path}")
            self._write(kept)


class AuthWatcher:
    """The hashes of an auth file, re-read whenever the file changes (so a revocation needs no restart)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.file = AuthFile(path)
        self._stamp: tuple[int, int, int] | None = None
        self._hashes: dict[str, str] = {}
        self._lock = threading.Lock()
        self.refresh()

    def refresh(self) -> dict[str, str]:
        with self._lock:
            return self._refresh()

    def _refresh(self) -> dict[str, str]:
        try:
            info = os.stat(self.file.path)
        except FileNotFoundError:
            raise TokenError(f"the auth file {self.file.path} does not exist "
                             "(create it with `cloudpypi token add --auth-file F NAME`)") from None
        stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
        if stamp != self._stamp:
            self._hashes = hashes(self.file.read())
            self._stamp = stamp
        return self._hashes

    def lookup(self, name: str) -> str | None:
        return self.refresh().get(name)
