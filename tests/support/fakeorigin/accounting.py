"""Thread-safe request accounting for the fake origin: tests assert how many requests a client made."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestRecord:
    port: str  # "index" | "files"
    method: str
    path: str
    kind: str  # root | project | file | metadata | xmlrpc | other
    status: int
    fault: str | None
    at: float
    xmlrpc_method: str | None = None


class Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def record(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def reset(self) -> None:
        with self._lock:
            self._records = []

    def records(self, kind: str | None = None, port: str | None = None) -> list[RequestRecord]:
        with self._lock:
            return [
                r
                for r in self._records
                if (kind is None or r.kind == kind) and (port is None or r.port == port)
            ]

    def total(self, kind: str | None = None, port: str | None = None) -> int:
        return len(self.records(kind, port))

    def by_kind(self) -> dict[str, int]:
        return dict(Counter(r.kind for r in self.records()))

    def paths(self, kind: str | None = None) -> list[str]:
        return [r.path for r in self.records(kind)]

    def summary(self) -> str:
        """One line for assertion messages: 'total=3 root=1 project=2'."""
        kinds = self.by_kind()
        return f"total={sum(kinds.values())} " + " ".join(f"{k}={v}" for k, v in sorted(kinds.items()))

    def __len__(self) -> int:
        return self.total()


def now() -> float:
    return time.time()
