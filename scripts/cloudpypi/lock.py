"""One sync at a time per target, through a lease object that works on a folder and on S3.

The lock is ``.cloudpypi/lock``, created with a conditional write (S3: PutObject If-None-Match).
Its holder renews the lease while it runs.  A lock left by a killed run on this host is taken
over at once (its process is gone); a lock held by another host only after its lease expired.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from cloudpypi.errors import LockHeld
from cloudpypi.layout import LOCK_KEY
from cloudpypi.storage import Storage

log = logging.getLogger(__name__)

DEFAULT_LEASE = 600.0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return handle.read().strip()
    except OSError:
        return ""


@dataclass
class Holder:
    host: str
    boot_id: str
    pid: int
    token: str
    started: float
    expires: float
    command: str = "sync"

    def describe(self) -> str:
        started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.started))
        return f"{self.command} pid {self.pid} on {self.host}, started {started}"


def holder_stale(holder: Holder, now: float | None = None) -> bool:
    """True when the holder no longer holds the lock: its process is gone (this host), or its lease ran out."""
    same_host = holder.host == socket.gethostname() and holder.boot_id == _boot_id()
    if same_host and holder.pid and not _pid_alive(holder.pid):
        return True
    return (time.time() if now is None else now) > holder.expires


def read_holder(storage: Storage) -> tuple[Holder | None, str | None]:
    info = storage.stat(LOCK_KEY)
    if info is None:
        return None, None
    raw = storage.read_bytes(LOCK_KEY)
    if raw is None:
        return None, None
    try:
        data: dict[str, Any] = json.loads(raw)
        return Holder(**data), info.etag
    except (ValueError, TypeError):
        return Holder("?", "", 0, "", 0.0, 0.0, "unknown"), info.etag  # garbage: treat as expired


class TargetLock:
    def __init__(self, storage: Storage, *, lease: float = DEFAULT_LEASE, wait: float = 0.0,
                 command: str = "sync") -> None:
        self.storage = storage
        self.lease = lease
        self.wait = wait
        self.command = command
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._etag: str | None = None
        self._etag_lock = threading.Lock()
        # True when acquire() found a lock whose holder died: that run may have stored files it never
        # recorded, so the sync checks the target before each download instead of trusting its state.
        self.took_over = False

    def _payload(self) -> bytes:
        now = time.time()
        holder = Holder(socket.gethostname(), _boot_id(), os.getpid(), self.token, self._started, now + self.lease,
                        self.command)
        return json.dumps(holder.__dict__).encode()

    def _stale(self, holder: Holder) -> bool:
        return holder_stale(holder)

    def acquire(self) -> None:
        self._started = time.time()
        deadline = time.monotonic() + self.wait
        delay = 0.2
        while True:
            if self.storage.create_exclusive(LOCK_KEY, self._payload()):
                self._etag = self.storage.stat(LOCK_KEY).etag  # type: ignore[union-attr]
                break
            holder, etag = read_holder(self.storage)
            if holder is not None and etag is not None and holder.token == self.token:
                # Our create succeeded but its answer was lost (S3 500 after the write, retried: 412).
                self._etag = etag
                break
            if holder is not None and etag is not None and self._stale(holder):
                log.warning("taking over a stale lock (%s)", holder.describe())
                self.storage.delete_if_unchanged(LOCK_KEY, etag)
                self.took_over = True
                continue
            if time.monotonic() >= deadline:
                who = holder.describe() if holder else "another run"
                raise LockHeld(f"{self.storage.url} is locked by {who}; try again later "
                               f"(or pass --lock-wait SECONDS to wait)")
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())) or 0.01)
            delay = min(delay * 2, 5.0)
        self._renewer = threading.Thread(target=self._renew_loop, name="lock-renewer", daemon=True)
        self._renewer.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.lease / 3):
            with self._etag_lock:
                if self._etag and self.storage.replace_if_unchanged(LOCK_KEY, self._payload(), self._etag):
                    info = self.storage.stat(LOCK_KEY)
                    self._etag = info.etag if info else None
                    continue
                holder, etag = read_holder(self.storage)
                if holder is not None and etag is not None and holder.token == self.token:
                    self._etag = etag  # our renewal was written but its answer was lost: still ours
                    continue
                log.error("lost the lock on %s: another run took it over", self.storage.url)
                return

    def release(self) -> None:
        self._stop.set()
        if self._renewer:
            self._renewer.join(timeout=5)
        with self._etag_lock:
            if self._etag:
                self.storage.delete_if_unchanged(LOCK_KEY, self._etag)
                self._etag = None

    def __enter__(self) -> TargetLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
