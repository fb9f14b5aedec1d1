"""The closure's memory between runs, in the mirror's state database.

- meta ``closure``: one JSON record of the last complete computation: the config fingerprint, the origin
  and its serial, every project consulted (``touched``: the changelog is checked against these), the files
  selected per project, the pins and requirement edges per environment (for ``cloudpypi why``), and the
  failures (re-reported on every run until they are fixed).
- meta ``closure_pending``: projects whose pages the last run decided to (re)write.  The next run reads
  the mirror's own pages for them and syncs again any that do not list exactly the selected files (the run
  was killed, or failed, before writing them), so a crash between deciding and writing loses nothing.
- table ``closure_metadata`` (its SQL is in cloudpypi.state): the Requires-Dist/Requires-Python of the files
  read last time, keyed by the file's sha256 (immutable), so recomputing after a changelog hit downloads only
  new metadata.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from dataclasses import asdict, dataclass, field

from cloudpypi.closure.metadata import CoreMetadata
from cloudpypi.closure.provider import Edge
from cloudpypi.errors import CloudPyPIError
from cloudpypi.state import State

log = logging.getLogger(__name__)

RECORD_KEY = "closure"
PENDING_KEY = "closure_pending"
RECORD_VERSION = 1


@dataclass
class EnvRecord:
    key: str  # "3.11/manylinux_2_28_x86_64"
    label: str
    pins: dict[str, list[str]] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)


@dataclass
class ClosureRecord:
    fingerprint: str
    origin: str
    serial: int | None
    touched: list[str]
    files: dict[str, list[str]]
    environments: list[EnvRecord]
    failures: list[tuple[str, str]]
    requirements: list[str]
    complete: bool = True
    computed_at: float = field(default_factory=time.time)

    def to_json(self) -> str:
        data = asdict(self)
        data["version"] = RECORD_VERSION
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ClosureRecord | None:
        try:
            data = json.loads(text)
            if data.pop("version", None) != RECORD_VERSION:
                return None
            envs = [EnvRecord(e["key"], e["label"], e["pins"], [Edge(**x) for x in e["edges"]])
                    for e in data.pop("environments")]
            failures = [tuple(f) for f in data.pop("failures")]
            return cls(environments=envs, failures=failures, **data)  # type: ignore[arg-type]
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("the stored closure is unreadable (%s); recomputing it", exc)
            return None


def load_record(state: State) -> ClosureRecord | None:
    try:
        text = state.get(RECORD_KEY)
    except sqlite3.Error:
        return None
    return ClosureRecord.from_json(text) if text else None


def save_record(state: State, record: ClosureRecord) -> None:
    state.set(RECORD_KEY, record.to_json())


def load_pending(state: State) -> set[str]:
    """Projects the previous run decided to (re)write; the caller checks the mirror's pages for them."""
    try:
        text = state.get(PENDING_KEY)
    except sqlite3.Error:
        return set()
    try:
        return set(json.loads(text)["names"]) if text else set()
    except (ValueError, KeyError, TypeError):
        return set()


def mirror_filenames(state: State, name: str) -> frozenset[str] | None:
    """The files the mirror's own page for a project lists now (None: no readable page)."""
    from cloudpypi.pages import PageStore

    try:
        page = PageStore(state.storage).mirror_page(name)
    except (OSError, CloudPyPIError):
        return None
    return frozenset(f.filename for f in page.files) if page is not None else None


def save_pending(state: State, names: set[str]) -> None:
    state.set(PENDING_KEY, json.dumps({"decided_at": time.time(), "names": sorted(names)}))


def load_metadata(state: State) -> dict[str, CoreMetadata]:
    found = {}
    for sha256, requires_python, requires_dist in state.closure_metadata():
        try:
            found[sha256] = CoreMetadata(tuple(json.loads(requires_dist)), requires_python)
        except (ValueError, TypeError):
            continue
    return found


def save_metadata(state: State, used: dict[str, CoreMetadata]) -> None:
    """Keep exactly the metadata this computation used: the table never grows past one closure's files."""
    state.replace_closure_metadata((sha, m.requires_python, json.dumps(list(m.requires_dist)))
                                   for sha, m in used.items())
