"""Seeded, deterministic fault injection for the fake origin (both ports), changeable at runtime.

A rule matches requests by port, request kind, method and path regex; it fires for the first N matches
(`first_n`) and/or with probability `rate`.  The draw is a hash of (seed, rule, path, how many times the
rule already saw this path), so the k-th request for a given path gets the same outcome in every run,
whatever the thread scheduling.  With several rules, the first one that fires wins.

Fault kinds:
  http_500, http_502, http_503 (any http_<code>)  an error response with a small body
  http_429        429 with Retry-After: <retry_after> seconds
  reset           TCP reset (SO_LINGER 0) after `after_bytes` body bytes (0 = before any response)
  timeout         stall `stall_s` seconds (after `after_bytes` body bytes), then carry on; interruptible
  truncate        correct Content-Length, body cut at `truncate_at` (fraction), connection closed
  wrong_length    Content-Length off by `length_delta`, full body sent, connection closed
  corrupt         `corrupt_bytes` bytes flipped in flight; length correct (hash mismatch)
  bad_metadata    .metadata bytes that differ from the announced hash (still well-formed); metadata only
  slow            body paced at `bandwidth` bytes/s
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import defaultdict
from dataclasses import dataclass, field

KINDS = (
    "http_500",
    "http_502",
    "http_503",
    "http_429",
    "reset",
    "timeout",
    "truncate",
    "wrong_length",
    "corrupt",
    "bad_metadata",
    "slow",
)
REQUEST_KINDS = ("root", "project", "file", "metadata", "xmlrpc", "json_api", "other")


def _check_kind(kind: str) -> None:
    if kind in KINDS or re.fullmatch(r"http_[1-5]\d\d", kind):
        return
    raise ValueError(f"unknown fault kind {kind!r}; use one of {', '.join(KINDS)} or http_<code>")


@dataclass
class FaultRule:
    kind: str | tuple[str, ...]  # a tuple mixes kinds: each firing picks one, deterministically
    rate: float = 1.0
    first_n: int | None = None
    on: tuple[str, ...] | None = None  # request kinds; None = all
    path: str | None = None  # regex, searched in the raw request path
    port: str | None = None  # "index" | "files" | None
    method: str | None = None
    retry_after: float = 1.0
    stall_s: float = 30.0
    after_bytes: int = 0
    truncate_at: float = 0.5
    length_delta: int = 1000
    corrupt_bytes: int = 1
    bandwidth: int = 1_000_000
    matched: int = 0
    fired: int = 0
    _seen: dict[str, int] = field(default_factory=lambda: defaultdict(int), repr=False)

    def __post_init__(self) -> None:
        for kind in (self.kind,) if isinstance(self.kind, str) else self.kind:
            _check_kind(kind)
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"fault rate must be within 0..1, got {self.rate}")
        if self.on is not None:
            self.on = (self.on,) if isinstance(self.on, str) else tuple(self.on)
            unknown = set(self.on) - set(REQUEST_KINDS)
            if unknown:
                raise ValueError(f"unknown request kinds {sorted(unknown)}; use {REQUEST_KINDS}")

    def matches(self, port: str, method: str, path: str, request_kind: str) -> bool:
        if self.port and self.port != port:
            return False
        if self.method and self.method.upper() != method:
            return False
        if self.on is not None and request_kind not in self.on:
            return False
        kinds = (self.kind,) if isinstance(self.kind, str) else self.kind
        if kinds == ("bad_metadata",) and request_kind != "metadata":
            return False
        return not (self.path and not re.search(self.path, path))


@dataclass(frozen=True)
class Fault:
    """A decision for one request: which kind, under which rule, with a per-request draw for offsets."""

    kind: str
    rule: FaultRule
    draw: int

    @property
    def status(self) -> int | None:
        return int(self.kind[5:]) if self.kind.startswith("http_") else None


def _draw(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "big")


class Faults:
    """The origin's fault configuration; tests call add()/clear() between (or during) runs."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def add(self, kind: str | tuple[str, ...] | list[str], **options: object) -> FaultRule:
        """Add a rule, e.g. faults.add("http_503", rate=0.3, on=("file",)); returns it (see .fired)."""
        rule = FaultRule(tuple(kind) if isinstance(kind, list) else kind, **options)  # type: ignore[arg-type]
        with self._lock:
            self.rules.append(rule)
        return rule

    def remove(self, rule: FaultRule) -> None:
        with self._lock:
            self.rules.remove(rule)

    def clear(self, seed: int | None = None) -> None:
        with self._lock:
            self.rules = []
            if seed is not None:
                self.seed = seed

    @property
    def fired(self) -> int:
        return sum(r.fired for r in self.rules)

    def decide(self, port: str, method: str, path: str, request_kind: str) -> Fault | None:
        with self._lock:
            for index, rule in enumerate(self.rules):
                if not rule.matches(port, method, path, request_kind):
                    continue
                rule.matched += 1
                occurrence = rule._seen[path]
                rule._seen[path] += 1
                if rule.first_n is not None and rule.matched > rule.first_n:
                    continue
                draw = _draw(self.seed, index, path, occurrence)
                if rule.rate < 1.0 and (draw % 1_000_000) / 1_000_000 >= rule.rate:
                    continue
                kinds = (rule.kind,) if isinstance(rule.kind, str) else rule.kind
                kind = kinds[(draw >> 20) % len(kinds)]
                if kind == "bad_metadata" and request_kind != "metadata":
                    continue
                rule.fired += 1
                return Fault(kind, rule, draw)
        return None
