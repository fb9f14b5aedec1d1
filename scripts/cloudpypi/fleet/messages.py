"""What travels on a fleet's queues, as JSON, and the checks that a received message passes.

Anyone who can write to a queue can send anything, so a message is untrusted input like an origin's
page: names are checked as project names, and every storage key a result names must be a key under
``packages/`` that the engine itself could have produced (a result decides what the coordinator
schedules for deletion).

A result too big for one SQS message (256 KiB: a project with thousands of files lists every key)
is stored in the target under ``.cloudpypi/fleet/`` and the message carries its key instead.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from cloudpypi.errors import UnsafeInput
from cloudpypi.model import ProjectResult, checked_project_name

FORMAT = 1
MAX_MESSAGE_BYTES = 200_000  # below SQS's 256 KiB, with room for the attributes
RESULTS_PREFIX = ".cloudpypi/fleet/results/"
_TOKEN = re.compile(r"[A-Za-z0-9-]{8,64}\Z")
_KEY = re.compile(r"packages/[A-Za-z0-9][A-Za-z0-9._+~!/-]*\Z")
_MAX_REASON = 4000


@dataclass(frozen=True)
class WorkItem:
    """One project for a worker: the run it belongs to, and what the coordinator knows of it."""

    run: str  # the coordinator's lock token: a worker publishes pages only while it still holds the lock
    project: str
    known: bool  # the state lists the project
    known_serial: int | None
    force: bool = False  # re-plan even when the serial matches (repair)
    check_target: bool = True  # look files up in the target before downloading them
    only: tuple[str, ...] | None = None  # the closure's filenames, when the mirror is a closure

    def encode(self) -> str:
        body = asdict(self)
        body["v"] = FORMAT
        body["only"] = list(self.only) if self.only is not None else None
        return json.dumps(body, separators=(",", ":"))

    @property
    def group(self) -> str:
        return self.project

    @property
    def deduplication_id(self) -> str:
        """The same project sent twice in one run within five minutes is delivered once."""
        return hashlib.sha256(f"{self.run}\0{self.project}".encode()).hexdigest()[:64]

    @classmethod
    def decode(cls, body: str) -> WorkItem:
        data = _object(body)
        only = data.get("only")
        if only is not None and (not isinstance(only, list) or not all(isinstance(n, str) for n in only)):
            raise UnsafeInput("work message: 'only' is not a list of filenames")
        return cls(run=_token(data.get("run")), project=checked_project_name(data.get("project")),
                   known=_bool(data, "known"), known_serial=_serial(data.get("known_serial")),
                   force=_bool(data, "force"), check_target=_bool(data, "check_target", True),
                   only=tuple(only) if only is not None else None)


@dataclass
class ResultEnvelope:
    """A project's outcome on the results queue, tagged with the run and the worker that produced it."""

    run: str
    worker: str
    result: ProjectResult
    spilled: str | None = None  # the target key of the full result, when it was too big for SQS
    extra: dict[str, Any] = field(default_factory=dict)

    def encode(self) -> str:
        body = {"v": FORMAT, "run": self.run, "worker": self.worker[:200], "result": asdict(self.result)}
        return json.dumps(body, separators=(",", ":"))

    @classmethod
    def decode(cls, body: str) -> ResultEnvelope:
        data = _object(body)
        worker = data.get("worker")
        if not isinstance(worker, str):
            raise UnsafeInput("result message: 'worker' is not a string")
        spilled = data.get("spilled")
        if spilled is not None:
            if not isinstance(spilled, str) or not spilled.startswith(RESULTS_PREFIX) or ".." in spilled:
                raise UnsafeInput(f"result message: spilled key {spilled!r} is not under {RESULTS_PREFIX}")
            return cls(run=_token(data.get("run")), worker=worker[:200],
                       result=ProjectResult(name=checked_project_name(data.get("project")), serial=None),
                       spilled=spilled)
        return cls(run=_token(data.get("run")), worker=worker[:200], result=result_from_dict(data.get("result")))

    def spill_message(self, key: str) -> str:
        return json.dumps({"v": FORMAT, "run": self.run, "worker": self.worker[:200],
                           "project": self.result.name, "spilled": key}, separators=(",", ":"))


def spill_key(run: str, project: str) -> str:
    return f"{RESULTS_PREFIX}{_token(run)}/{checked_project_name(project)}.json"


def result_from_dict(data: object) -> ProjectResult:
    """A ProjectResult from a message, every field checked for type and every key for shape."""
    if not isinstance(data, dict):
        raise UnsafeInput("result message: 'result' is not an object")
    name = checked_project_name(data.get("name"))
    ints = {}
    for key in ("files_added", "bytes_added", "file_count", "total_bytes", "failed_files", "objects_written"):
        value = data.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise UnsafeInput(f"result message: {key!r} is not a count")
        ints[key] = value
    reason = data.get("reason", "")
    if not isinstance(reason, str):
        raise UnsafeInput("result message: 'reason' is not a string")
    skipped = data.get("skipped", [])
    if not isinstance(skipped, list) or not all(
            isinstance(s, list) and len(s) == 2 and isinstance(s[0], str) and isinstance(s[1], int) for s in skipped):
        raise UnsafeInput("result message: 'skipped' is not a list of [filename, size]")
    return ProjectResult(name=name, serial=_serial(data.get("serial")), ok=_bool(data, "ok", True),
                         reason=reason[:_MAX_REASON], removed=_bool(data, "removed"),
                         page_written=_bool(data, "page_written"), dropped_keys=_keys(data, "dropped_keys"),
                         kept_keys=_keys(data, "kept_keys"), skipped=[(s[0], s[1]) for s in skipped], **ints)


def _object(body: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise UnsafeInput(f"fleet message is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("v") != FORMAT:
        raise UnsafeInput(f"fleet message is not format {FORMAT}")
    return data


def _token(value: object) -> str:
    if not isinstance(value, str) or not _TOKEN.match(value):
        raise UnsafeInput(f"fleet message: run token {value!r} is malformed")
    return value


def _serial(value: object) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise UnsafeInput(f"fleet message: serial {value!r} is not a serial")
    return value


def _bool(data: dict[str, Any], key: str, default: bool = False) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise UnsafeInput(f"fleet message: {key!r} is not true or false")
    return value


def _keys(data: dict[str, Any], key: str) -> list[str]:
    keys = data.get(key, [])
    if not isinstance(keys, list):
        raise UnsafeInput(f"result message: {key!r} is not a list")
    for item in keys:
        if not isinstance(item, str) or not _KEY.match(item) or len(item) > 1024 or any(
                part in (".", "..", "") for part in item.split("/")):
            raise UnsafeInput(f"result message: {key} entry {item!r} is not a package key")
    return keys
