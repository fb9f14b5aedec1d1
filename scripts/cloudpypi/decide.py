"""What changed: the projects a sync visits and the ones it removes, from the origin and the state.

No storage and no coordinator here: the origin and the state are passed in, and the answer is a
:class:`Decision` that the coordinator (:class:`cloudpypi.sync.Syncer`) carries out.  Four ways to
decide, cheapest first:

* ``projects``: the projects named on the command line;
* ``no-op`` / ``changelog``: the origin's serial, and the changelog since the mirror's serial;
* ``root-index``: every project's ``_last-serial`` in the origin's root index against the state's
  (streamed through the state's ``seen`` table, so neither side is held in memory);
* ``closure``: a dependency-closure mirror, where :mod:`cloudpypi.closure` picks projects and files.

The state is read, with two writes that belong to deciding: whether the origin publishes a changelog
(``origin_changelog``, so a origin without one is not asked again) and the temporary ``seen`` table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cloudpypi.errors import ConfigError, OriginError, UnsafeInput
from cloudpypi.filters import project_allowed
from cloudpypi.model import ProjectPage, RootEntry, checked_project_name

if TYPE_CHECKING:
    from cloudpypi.config import Config
    from cloudpypi.origin import OriginClient
    from cloudpypi.state import State

log = logging.getLogger(__name__)

CHANGELOG_UNUSABLE = "the origin's changelog is unusable (%s); comparing its root index instead"
SEEN_BATCH = 5000  # root-index names added to the state's seen table at a time


@dataclass
class Todo:
    """One project to visit; ``force`` re-plans it even when its serial matches."""

    name: str
    force: bool = False


@dataclass
class Decision:
    mode: str
    todo: Iterator[Todo]
    removed: list[str] = field(default_factory=list)
    new_serial: int | None = None
    origin_serial: int | None = None
    finish: Callable[[], list[str]] | None = None  # called after the todo iterator is drained: more removals
    total: int | None = None  # projects to visit, when known up front (progress bar)
    # A closure mirror only: the files each project may have, the pages the closure already fetched (not
    # fetched twice), and what the closure could not resolve (subject, reason).
    only_filenames: dict[str, frozenset[str]] | None = None
    pages: dict[str, ProjectPage] = field(default_factory=dict)
    failures: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Asked:
    """What the run was asked for (the relevant part of the sync's options)."""

    projects: list[str] | None = None
    full: bool = False
    force: bool = False
    dry_run: bool = False


def filters_changed(config: Config, state: State) -> bool:
    """True when the mirror was made with other filters (or before filters were recorded)."""
    recorded = state.get("filters")
    return recorded not in (None, config.filters_fingerprint()) or (recorded is None and state.serial is not None)


def decide(config: Config, origin: OriginClient, state: State, asked: Asked) -> Decision:
    """The cheapest correct answer to "what changed since the state's serial"."""
    filters = config.filters
    changed_filters = filters_changed(config, state)
    retry = [Todo(n, force=True) for n in state.retry_names()]

    if config.closure:
        return decide_closure(config, origin, state, asked, changed_filters)

    if asked.projects is not None:
        names = []
        for raw in asked.projects:
            try:
                names.append(checked_project_name(raw))
            except UnsafeInput as exc:
                raise ConfigError(f"--project {raw!r}: {exc}") from None
        force = asked.force or changed_filters
        unique = list(dict.fromkeys(names))
        return Decision("projects", iter([Todo(n, force) for n in unique]), total=len(unique))

    origin_serial = None
    if asked.full or state.get("origin_changelog") != "0":
        try:
            origin_serial = origin.changelog_last_serial()
        except OriginError as exc:
            log.warning(CHANGELOG_UNUSABLE, exc)
    if origin.supports_changelog is not None:
        state.set("origin_changelog", "1" if origin.supports_changelog else "0")

    if (origin_serial is not None and state.serial is not None and not asked.full
            and not changed_filters and state.get("origin") == origin.base):
        if origin_serial == state.serial:
            return Decision("no-op", iter(retry), new_serial=origin_serial, origin_serial=origin_serial)
        if origin_serial < state.serial:
            log.warning("the origin's serial %d is behind the mirror's %d; checking every project",
                        origin_serial, state.serial)
        else:
            try:
                changed, removed = origin.changed_since(state.serial, origin_serial)
            except OriginError as exc:
                log.warning(CHANGELOG_UNUSABLE, exc)
                return decide_by_root(config, origin, state, asked, origin_serial, changed_filters, retry)
            todo = [Todo(n) for n in sorted(changed) if project_allowed(n, filters)]
            gone = [n for n in sorted(removed) if state.project_serial(n)[0]]
            # a changed project that filters now exclude is removed from the mirror as well
            gone += [n for n in sorted(changed) if not project_allowed(n, filters) and state.project_serial(n)[0]]
            return Decision("changelog", iter(retry + todo), removed=gone, new_serial=origin_serial,
                            origin_serial=origin_serial, total=len(retry) + len(todo))

    return decide_by_root(config, origin, state, asked, origin_serial, changed_filters, retry)


def decide_by_root(config: Config, origin: OriginClient, state: State, asked: Asked, origin_serial: int | None,
                   changed_filters: bool, retry: list[Todo]) -> Decision:
    """Compare the origin's root index (each project's _last-serial) with the state."""
    filters = config.filters
    root = origin.root_index()
    new_serial = origin_serial if origin_serial is not None else root.serial
    if (not asked.full and not changed_filters and state.serial is not None
            and root.serial is not None and root.serial == state.serial
            and state.get("origin") == origin.base):
        return Decision("no-op", iter(retry), new_serial=new_serial, origin_serial=new_serial)

    force_all = changed_filters or asked.force
    state.begin_seen()

    def wanted(entry: RootEntry) -> bool:
        known, serial = state.project_serial(entry.name)
        return force_all or not known or entry.last_serial is None or serial != entry.last_serial

    def walk() -> Iterator[Todo]:
        yield from retry
        batch: list[str] = []
        for entry in root.entries():
            if not project_allowed(entry.name, filters):
                continue
            batch.append(entry.name)
            if len(batch) >= SEEN_BATCH:
                state.add_seen(batch)
                batch.clear()
            if wanted(entry):
                yield Todo(entry.name, force=force_all)
        state.add_seen(batch)

    # One more pass over the parsed index (seconds for pypi.org's) tells the progress record and the
    # ETA how many projects this run visits: a first sync's plan is otherwise known only at its end.
    total = len(retry) + sum(1 for entry in root.entries()
                             if project_allowed(entry.name, filters) and wanted(entry))
    return Decision("root-index", walk(), new_serial=new_serial, origin_serial=new_serial,
                    finish=state.unseen_projects, total=total)


def decide_closure(config: Config, origin: OriginClient, state: State, asked: Asked,
                   changed_filters: bool) -> Decision:
    """A dependency-closure mirror: cloudpypi.closure picks the projects and files."""
    from cloudpypi.closure import select_closure  # only closure mirrors pay for the resolver's imports

    origin_serial = origin.changelog_last_serial()
    selection = select_closure(config, origin, state, origin_serial, dry_run=asked.dry_run)
    wanted = sorted(selection.files_by_project)
    wanted_set = set(wanted)
    gone = [name for name in state.project_names() if name not in wanted_set]
    everything = changed_filters or asked.force or selection.resync is None
    todo = [Todo(name, force=True) for name in wanted if everything or name in selection.resync]
    return Decision("closure", iter(todo), removed=gone, new_serial=origin_serial, origin_serial=origin_serial,
                    only_filenames=selection.files_by_project, pages=selection.pages,
                    failures=list(selection.failures))
