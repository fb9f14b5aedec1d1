"""Dependency-closure mirrors: mirror a requirements list with everything it needs, for chosen Pythons
and platforms, and nothing else.  See docs/closure.md.

The sync engine calls :func:`select_closure` when the config has a [closure] table.  It answers which
files of which projects to mirror, which projects must be (re)synced this run, the pages it already
fetched (so the sync does not fetch them again), and the failures to report.

Incremental runs: the stored closure is reused, with no page fetched, unless the changelog names a project
it consulted (or the config, the origin, or the completeness of the last computation changed).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from cloudpypi.closure.select import Computation, compute, files_digest
from cloudpypi.closure.store import (
    ClosureRecord,
    load_metadata,
    load_pending,
    load_record,
    mirror_filenames,
    save_metadata,
    save_pending,
    save_record,
)
from cloudpypi.closurespec import ClosureSpec, parse_closure
from cloudpypi.config import Config
from cloudpypi.model import ProjectPage
from cloudpypi.origin import OriginClient
from cloudpypi.state import State

log = logging.getLogger(__name__)

__all__ = ["ClosureSpec", "Computation", "Selection", "compute", "parse_closure", "select_closure"]


@dataclass
class Selection:
    files_by_project: dict[str, frozenset[str]]
    failures: list[tuple[str, str]]
    pages: dict[str, ProjectPage] = field(default_factory=dict)  # fetched this run: the sync reuses them
    resync: set[str] | None = None  # projects whose pages must be (re)synced this run; None: all of them
    recomputed: bool = True
    record: ClosureRecord | None = None


def _reusable(record: ClosureRecord | None, spec: ClosureSpec, origin: OriginClient,
              origin_serial: int | None) -> bool:
    """True when nothing the stored closure consulted has changed on the origin since it was computed."""
    if (record is None or not record.complete or record.fingerprint != spec.fingerprint()
            or record.origin != origin.base or origin_serial is None or record.serial is None):
        return False
    if origin_serial == record.serial:
        return True
    if origin_serial < record.serial:
        return False
    changed, removed = origin.changed_since(record.serial, origin_serial)
    hits = (changed | removed) & set(record.touched)
    if hits:
        log.info("closure: recomputing; the changelog names %d project(s) it uses (%s)", len(hits),
                 ", ".join(sorted(hits)[:5]))
    return not hits


def select_closure(config: Config, origin: OriginClient, state: State, origin_serial: int | None, *,
                   dry_run: bool = False) -> Selection:
    spec = parse_closure(config.closure)
    stored = load_record(state)
    pending = load_pending(state)
    if _reusable(stored, spec, origin, origin_serial):
        assert stored is not None
        log.info("closure: reusing the stored selection (%d projects); nothing it uses changed",
                 len(stored.files))
        record, pages, recomputed = stored, {}, False
        record.serial = origin_serial
    else:
        computation = compute(spec, origin, workers=config.workers, known_metadata=load_metadata(state))
        record, pages, recomputed = computation.record, computation.pages, True
        record.serial = origin_serial
        if not record.complete and stored is not None:
            # The origin could not be read for part of it: never drop files on an incomplete view.
            for name, names in stored.files.items():
                record.files[name] = sorted(set(record.files.get(name, ())) | set(names))
            have = {env.key for env in record.environments}
            record.environments += [env for env in stored.environments if env.key not in have]
            record.touched = sorted(set(record.touched) | set(stored.touched))
        log.info("closure: %d project(s), %d file(s) for %d environment(s) in %.1fs (%s)%s", len(record.files),
                 sum(len(v) for v in record.files.values()), len(spec.environments), computation.seconds,
                 ", ".join(f"{k} {v}" for k, v in computation.fetched.items()),
                 "" if record.complete else "; INCOMPLETE: the previous selection is kept")
        if not dry_run:
            save_metadata(state, computation.used_metadata)
    files = {name: frozenset(names) for name, names in record.files.items()}
    resync = set(state.retry_names())
    resync |= {name for name in pending & set(files) if mirror_filenames(state, name) != files[name]}
    previous = stored.files if stored is not None else {}
    for name, names in files.items():
        known, serial = state.project_serial(name)
        page = pages.get(name)
        if (not known or files_digest(names) != files_digest(frozenset(previous.get(name, ())))
                or (page is not None and (page.last_serial is None or page.last_serial != serial))):
            resync.add(name)
    resync &= set(files)
    if not dry_run:
        with state.transaction():
            save_record(state, record)
            save_pending(state, resync)
    return Selection(files, list(record.failures), pages, resync, recomputed, record)
