"""The progress record of a sync in flight: ``.cloudpypi/progress.json`` in the target.

The sync rewrites it (atomically, through the storage interface) at most once a second while it runs,
and removes it when it ends.  It is state: the edge never serves ``.cloudpypi/``.

Whether a run is in flight is the lock's answer, not the record's: a record whose run no longer holds the
lock (killed, or its lease ran out) is stale and is ignored.  The record carries the lock's token, so a
record left by an earlier run is never mistaken for the current holder's.
"""

from __future__ import annotations

import json
import time
from typing import Any

from cloudpypi.layout import PROGRESS_KEY
from cloudpypi.lock import holder_stale, read_holder
from cloudpypi.progress import summary
from cloudpypi.storage import Storage

PROGRESS_CONTENT_TYPE = "application/json"


def encode(snapshot: dict[str, Any], *, token: str, pid: int, seq: int, now: float | None = None) -> bytes:
    record = {**snapshot, "token": token, "pid": pid, "seq": seq, "updated": _iso(time.time() if now is None else now)}
    return json.dumps(record, sort_keys=True).encode()


def write(storage: Storage, body: bytes) -> None:
    storage.write_bytes(PROGRESS_KEY, body, content_type=PROGRESS_CONTENT_TYPE, cache_control="no-store")


def remove(storage: Storage) -> None:
    storage.delete(PROGRESS_KEY)


def read(storage: Storage) -> dict[str, Any] | None:
    raw = storage.read_bytes(PROGRESS_KEY)
    if raw is None:
        return None
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def running(storage: Storage, now: float | None = None) -> dict[str, Any] | None:
    """The run in flight on this target as `status` shows it, or None when no run holds the lock."""
    holder, _etag = read_holder(storage)
    if holder is None or holder_stale(holder, now):
        return None
    record = read(storage)
    if record is None or record.get("token") != holder.token:
        # the run holds the lock but has not written its first record yet (or this one is an old run's)
        record = {"phase": "starting", "files_done": 0, "files_total": 0, "bytes_done": 0, "bytes_total": 0,
                  "rate_bytes_per_second": None, "eta_seconds": None, "plan_complete": False, "updated": None}
    record.pop("token", None)
    info: dict[str, Any] = {
        **record,
        "pid": holder.pid,
        "host": holder.host,
        "command": holder.command,
        "started": _iso(holder.started),
        "lease_expires": _iso(holder.expires),
    }
    info["summary"] = summary(info)
    return info


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
