"""The lease renewal survives a lost answer: the conditional replace was written, but the client heard
a failure (on S3: a 500 after the write, then 412 on the retried If-Match PUT).  In-process, with a
folder storage whose replace reports failure once after writing; the lease is shortened to 0.3 s."""

from __future__ import annotations

import time
from pathlib import Path

from cloudpypi.lock import LOCK_KEY, TargetLock, read_holder
from cloudpypi.storage.folder import FolderStorage

LEASE = 0.3


class LostAnswerStorage(FolderStorage):
    """replace_if_unchanged writes, then reports failure, the first `lose` times."""

    def __init__(self, root: Path, lose: int) -> None:
        super().__init__(root)
        self.lose = lose
        self.replaced = 0

    def replace_if_unchanged(self, key: str, data: bytes, etag: str) -> bool:
        done = super().replace_if_unchanged(key, data, etag)
        self.replaced += done
        if done and self.lose:
            self.lose -= 1
            return False
        return done


def _wait_until(condition, limit: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)  # polling the renewer's progress
    return False


def test_renewal_whose_answer_was_lost_keeps_the_lock_and_keeps_renewing(tmp_path: Path) -> None:
    storage = LostAnswerStorage(tmp_path / "mirror", lose=1)
    lock = TargetLock(storage, lease=LEASE)
    lock.acquire()
    try:
        assert _wait_until(lambda: storage.replaced >= 3, 5 * LEASE), (
            f"expected the renewer to go on after a lost answer, it renewed {storage.replaced} time(s)")
        holder, _ = read_holder(storage)
        assert holder is not None and holder.token == lock.token, f"expected the lock still ours, got {holder}"
        assert holder.expires > time.time(), "expected a lease in the future"
    finally:
        lock.release()
    assert storage.read_bytes(LOCK_KEY) is None, "expected the lock released"
