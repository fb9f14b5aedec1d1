"""Private projects beside the mirror, and the dependency-confusion guard.  Pure: names and pages in.

A project that was uploaded (``cloudpypi upload``) is private: its name belongs to the private side.
A sync never adds the origin's files to it, never rewrites its pages and never removes it because the
origin lacks it; a name that the origin also has is a collision, reported once.  A private project may
opt in to the origin's releases (``[private] track_origin``): the sync then merges the origin's files
into its page beside the private ones (a private filename always wins) and the page carries PEP 708
``tracks`` pointing at the origin's project.  Keeping them apart is the default.

Private files live under ``packages/private/<name>/<filename>`` (:func:`cloudpypi.layout.private_file_key`):
no key of the origin's (``packages/<2 hex>/<2 hex>/...``) can land there, and a filename maps to one key,
which is what makes an upload immutable.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from cloudpypi.layout import is_private_file_key, page_url_path
from cloudpypi.model import DistFile, ProjectPage

DEFAULT_MAX_UPLOAD_SIZE = 100 * 2**20  # PyPI's default per-file limit


def tracks_url(origin: str, name: str) -> str:
    """The origin's page for a project (PEP 708 ``tracks``)."""
    return origin.rstrip("/") + page_url_path(name)


def version_of(filename: str) -> str:
    """The version a distribution filename carries (already validated at upload)."""
    from packaging.utils import parse_sdist_filename, parse_wheel_filename

    if filename.endswith(".whl"):
        return str(parse_wheel_filename(filename)[1])
    return str(parse_sdist_filename(filename)[1])


def sorted_versions(versions: Iterable[str]) -> tuple[str, ...]:
    from packaging.version import InvalidVersion, Version

    def order(text: str) -> tuple[int, Any]:
        try:
            return (1, Version(text))
        except InvalidVersion:
            return (0, text)

    return tuple(sorted(set(versions), key=order))


def private_page(name: str, private_files: Iterable[DistFile], mirror_page: ProjectPage | None, *,
                 tracked: bool, origin: str) -> ProjectPage:
    """A private project's page: its uploads, plus (when it tracks the origin) the origin's files that its
    current mirror page lists, minus any whose filename a private file already has."""
    own = tuple(sorted(private_files, key=lambda f: f.filename))
    names = {f.filename for f in own}
    public: tuple[DistFile, ...] = ()
    versions = [version_of(f.filename) for f in own]
    serial = None
    if tracked and mirror_page is not None:
        public = tuple(f for f in mirror_page.files if not is_private_file_key(f.key) and f.filename not in names)
        versions += [version_of(f.filename) for f in public if _parses(f.filename)]
        serial = mirror_page.last_serial
    return ProjectPage(name=name, files=public + own, versions=sorted_versions(versions), last_serial=serial,
                       tracks=(tracks_url(origin, name),) if tracked else ())


def _parses(filename: str) -> bool:
    try:
        version_of(filename)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class GuardDecision:
    """One decision of the guard, for the run report."""

    project: str
    decision: str  # kept-apart | tracked | not-removed
    detail: str


@dataclass(frozen=True)
class Collision:
    """A private name that the origin has too: reported once, when first seen."""

    project: str
    origin_serial: int | None


class PrivateState(Protocol):
    """What the guard needs from the mirror's state (cloudpypi.state.State)."""

    def private_projects(self) -> list[str]: ...
    def private_files(self, name: str) -> list[DistFile]: ...
    def project_serial(self, name: str) -> tuple[bool, int | None]: ...
    def record_collision(self, name: str, origin_serial: int | None) -> bool: ...
    def collisions(self) -> list[tuple[str, int | None, float]]: ...


class Guard:
    """The guard's decisions for one sync: which names the sync may visit or remove, and how a tracked
    private project's plan keeps its uploads.  Decisions and new collisions go to the lists given (the
    run report's)."""

    def __init__(self, private: dict[str, tuple[DistFile, ...]], tracked: frozenset[str], origin: str, *,
                 decisions: list[GuardDecision] | None = None, collisions: list[Collision] | None = None,
                 record: Callable[[str, int | None], bool] | None = None,
                 unsynced: frozenset[str] = frozenset(), untracked: frozenset[str] = frozenset(),
                 republish: Callable[[str], None] | None = None) -> None:
        self.private = private
        self.tracked = tracked & frozenset(private)
        self.origin = origin
        self.decisions = decisions if decisions is not None else []
        self.collisions = collisions if collisions is not None else []
        self.record = record  # stores a collision; True when it is new
        self.unsynced = unsynced & self.tracked  # tracked private projects no sync has visited yet
        self.untracked = untracked - self.tracked  # no longer tracking: their pages still list the origin's files
        self.republish = republish  # rewrites a private project's pages from its uploads alone

    @classmethod
    def for_run(cls, state: PrivateState, config: Any, origin: str, report: Any, *, dry_run: bool,
                republish: Callable[[str], None] | None = None) -> Guard:
        """The guard for one sync over this state (cloudpypi.state.State) and config.  ``republish``
        rewrites a private project's pages from its uploads alone (cloudpypi.upload.store.republish_private,
        given by the sync, which owns the page store); a dry run never calls it."""
        names = state.private_projects()
        tracked = config.private_track_origin
        if dry_run:  # a dry run writes nothing: a collision is new when the state has not recorded it
            known = {row[0] for row in state.collisions()}

            def record(name: str, _serial: int | None) -> bool:
                return name not in known
        else:
            record = state.record_collision
        # A sync records the origin's serial for a project it visits; an upload records none for one kept apart.
        serials = {name: state.project_serial(name)[1] for name in names}
        unsynced = frozenset(n for n in names if n in tracked and serials[n] is None)
        untracked = frozenset(n for n in names if n not in tracked and serials[n] is not None)
        return cls({name: tuple(state.private_files(name)) for name in names}, tracked, origin,
                   decisions=report.guard, collisions=report.collisions, record=record, unsynced=unsynced,
                   untracked=untracked, republish=None if dry_run else republish)

    def owns(self, name: str) -> bool:
        return name in self.private

    def admits(self, name: str) -> bool:
        """May the sync visit this project?  Everything public, and private projects that track the origin."""
        return name not in self.private or name in self.tracked

    def keep_from_removal(self, name: str) -> bool:
        """A private project is never removed by a sync (only `cloudpypi remove` removes it)."""
        if name not in self.private:
            return False
        self.decisions.append(GuardDecision(name, "not-removed", "private: a sync never removes it"))
        return True

    def todo(self, todo: Iterable[Any], origin_serial: int | None,
             make: Callable[[str], Any] | None = None) -> Iterator[Any]:
        """The sync's todo without the private names it may not visit.  Each such name met there is a
        name the origin has: a collision, recorded once.  With `make` (a todo item for a name), tracked
        private projects that no sync has visited yet are visited too."""
        for name in sorted(self.untracked):
            self.decisions.append(GuardDecision(name, "untracked", "no longer in [private] track_origin: the "
                                                                   "origin's files leave its page"))
            if self.republish is not None:
                self.republish(name)
        seen: set[str] = set()
        for item in todo:
            name = item.name
            seen.add(name)
            if self.admits(name):
                if name in self.private:
                    self.decisions.append(GuardDecision(name, "tracked", "the origin's releases are listed beside "
                                                                         "the private ones ([private] track_origin)"))
                yield item
                continue
            self.decisions.append(GuardDecision(name, "kept-apart", "the origin has this private name: its "
                                                                    "files are kept out"))
            if self.record is None or self.record(name, origin_serial):
                self.collisions.append(Collision(name, origin_serial))
        if make is not None:
            for name in sorted(self.unsynced - seen):
                self.decisions.append(GuardDecision(name, "tracked", "first visit: the origin's releases are "
                                                                     "merged beside the private ones"))
                yield make(name)

    def plan(self, plan: Any) -> Any:
        """A tracked private project's plan (cloudpypi.plan.ProjectPlan): its uploads stay listed and are
        never dropped; an origin file whose filename an upload has is left out; the page carries tracks."""
        own = self.private.get(plan.name)
        if own is None:
            return plan
        names = {f.filename for f in own}
        public = tuple(f for f in plan.desired.files if f.filename not in names)
        desired = private_page(plan.name, own, dataclasses.replace(plan.desired, files=public),
                               tracked=True, origin=self.origin)
        keys = {f.key for f in own} | {f.metadata_key for f in own if f.has_metadata}
        return dataclasses.replace(
            plan, desired=dataclasses.replace(desired, last_serial=plan.desired.last_serial,
                                              display_name=plan.desired.display_name),
            present=plan.present | {f.key for f in own},
            to_fetch=tuple(f for f in plan.to_fetch if f.filename not in names),
            to_drop=tuple(k for k in plan.to_drop if k not in keys))
