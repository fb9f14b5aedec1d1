"""Checking a mirror: every page link points at a stored file with the right bytes.

Streams project by project from the state, so memory does not grow with the mirror.  On S3 the
sha256 comes from each object's metadata (no download); on a folder the file is hashed.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from cloudpypi.layout import HTML_PAGE, JSON_PAGE, ROOT_KEYS, V1_HTML_PAGE, page_keys
from cloudpypi.pages import UNREADABLE, parse_mirror_json
from cloudpypi.state import State
from cloudpypi.storage import Storage

log = logging.getLogger(__name__)


@dataclass
class Problem:
    project: str
    key: str
    reason: str


@dataclass
class VerifyResult:
    projects: int = 0
    files: int = 0
    bytes: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def broken_projects(self) -> list[str]:
        return sorted({p.project for p in self.problems if p.project})


def _check_file(storage: Storage, project: str, key: str, sha256: str, size: int | None) -> Problem | None:
    info = storage.stat(key)
    if info is None:
        return Problem(project, key, "missing")
    if size is not None and info.size != size:
        return Problem(project, key, f"size {info.size}, page says {size}")
    actual = info.sha256 if info.sha256 else storage.sha256(key)
    if actual != sha256:
        return Problem(project, key, f"sha256 {actual}, page says {sha256}")
    return None


def _project_checks(storage: Storage, name: str) -> Iterator[tuple[str, str, str, int | None] | Problem]:
    keys = page_keys(name)
    raw = storage.read_bytes(keys[JSON_PAGE])
    if raw is None:
        yield Problem(name, keys[JSON_PAGE], "page missing")
        return
    try:
        page = parse_mirror_json(raw, name)
    except UNREADABLE as exc:
        yield Problem(name, keys[JSON_PAGE], f"page unreadable: {exc}")
        return
    for key in (keys[HTML_PAGE], keys[V1_HTML_PAGE]):
        if storage.stat(key) is None:
            yield Problem(name, key, "page missing")
    for item in page.files:
        yield (name, item.key, item.sha256, item.size)
        if item.has_metadata and item.metadata_sha256:
            yield (name, item.metadata_key, item.metadata_sha256, None)


def verify_mirror(storage: Storage, state: State, workers: int = 10) -> VerifyResult:
    result = VerifyResult()
    for key in ROOT_KEYS:
        if storage.stat(key) is None:
            result.problems.append(Problem("", key, "root index missing"))
    with cf.ThreadPoolExecutor(workers, thread_name_prefix="verify") as pool:
        pending: set[cf.Future[Problem | None]] = set()
        for name in state.project_names():
            result.projects += 1
            for check in _project_checks(storage, name):
                if isinstance(check, Problem):
                    result.problems.append(check)
                    continue
                result.files += 1
                result.bytes += check[3] or 0
                pending.add(pool.submit(_check_file, storage, *check))
                if len(pending) >= workers * 4:  # bounded: the mirror is never listed into memory
                    done, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                    result.problems.extend(p for f in done if (p := f.result()))
        for future in cf.as_completed(pending):
            if problem := future.result():
                result.problems.append(problem)
    return result
