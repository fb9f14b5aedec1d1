"""A resolvelib provider over the origin's pages, for one target environment.

- A candidate is a release with at least one wheel that fits the environment's tags and whose
  Requires-Python admits the environment's Python.  Its file is the best-ranked such wheel, the one pip
  would install.  Resolution is wheel-only (pip's --only-binary=:all:); sdists are added afterwards when
  the config asks for them.
- Newest first.  Yanked releases only when a requirement pins them (== / ===) and nothing else matches;
  prereleases only when the specifier names one or no final release matches (packaging's rule, as pip).
- Extras, the way pip models them: ``name[x]`` is its own identifier whose candidate depends on
  ``name==<same version>`` plus the dependencies that only the extra turns on.
- Requires-Python from the core metadata becomes a requirement on a synthetic ``<python>`` identifier,
  so a release whose metadata excludes the environment's Python is backtracked over, as pip does.
- A dependency that no release can satisfy even on its own (project missing on the origin, no file for
  this environment, no version in range) is dropped and recorded as a failure of its parent, so the rest
  of the closure still resolves and mirrors.  Genuine conflicts between requirements still fail.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version
from resolvelib import AbstractProvider

from cloudpypi.closure.index import ProjectIndex
from cloudpypi.model import DistFile
from cloudpypi.platforms import Environment

log = logging.getLogger(__name__)

PYTHON = "<python>"


def identifier_of(name: str, extras: frozenset[str]) -> str:
    return f"{name}[{','.join(sorted(extras))}]" if extras else name


@dataclass(frozen=True)
class Req:
    """A requirement as the resolver handles it (name and extras normalized)."""

    name: str
    extras: frozenset[str]
    specifier: SpecifierSet
    text: str

    @property
    def identifier(self) -> str:
        return identifier_of(self.name, self.extras)

    @property
    def pinned(self) -> bool:
        specs = list(self.specifier)
        return len(specs) == 1 and (specs[0].operator == "===" or
                                    (specs[0].operator == "==" and not specs[0].version.endswith(".*")))

    @classmethod
    def from_requirement(cls, requirement: Requirement) -> Req:
        text = str(requirement).split(";", 1)[0].strip()
        return cls(canonicalize_name(requirement.name), frozenset(canonicalize_name(e) for e in requirement.extras),
                   requirement.specifier, text)


@dataclass(frozen=True)
class Candidate:
    name: str
    version: Version
    extras: frozenset[str] = frozenset()
    file: DistFile | None = None

    @property
    def identifier(self) -> str:
        return identifier_of(self.name, self.extras)

    def __str__(self) -> str:
        return f"{self.identifier} {self.version}"


@dataclass(frozen=True)
class Release:
    version: Version
    file: DistFile  # the best fitting wheel
    yanked: bool


@dataclass
class Dropped:
    """A dependency dropped because nothing can satisfy it (reported if its parent ends up selected)."""

    requirement: str
    parent: Candidate | None
    reason: str


def evaluate(marker: Marker | None, environment: dict[str, str], extra: str = "") -> bool:
    if marker is None:
        return True
    return marker.evaluate({**environment, "extra": extra})


class ClosureProvider(AbstractProvider):  # type: ignore[misc]
    def __init__(self, env: Environment, index: ProjectIndex) -> None:
        self.env = env
        self.index = index
        self._releases: dict[str, dict[Version, Release]] = {}
        self._lock = threading.Lock()
        self.dropped: list[Dropped] = []
        self.python_candidate = Candidate(PYTHON, Version(env.full_version))

    # -- the environment's view of a project ------------------------------------------------------
    def releases(self, name: str) -> dict[Version, Release]:
        with self._lock:
            if name in self._releases:
                return self._releases[name]
        page = self.index.page(name)
        found: dict[Version, list[tuple[tuple[Any, ...], DistFile]]] = {}
        for item in page.files if page else ():
            if not item.filename.endswith(".whl"):
                continue
            try:
                _name, version, _build, _tags = parse_wheel_filename(item.filename)
            except (InvalidWheelFilename, InvalidVersion):
                continue
            rank = self.env.wheel_rank(item.filename)
            if rank is None or not self.env.python_fits(item.requires_python):
                continue
            found.setdefault(version, []).append(((bool(item.yanked), *rank), item))
        result = {}
        for version, ranked in found.items():
            ranked.sort(key=lambda pair: pair[0])
            best = ranked[0][1]
            result[version] = Release(version, best, bool(best.yanked))
        with self._lock:
            self._releases[name] = result
        return result

    def matching(self, name: str, requirements: Sequence[Req], excluded: Iterable[Version] = ()) -> list[Version]:
        """Versions satisfying every requirement, newest first, with pip's yanked and prerelease rules."""
        releases = self.releases(name)
        specifier = SpecifierSet()
        for requirement in requirements:
            specifier &= requirement.specifier
        skip = set(excluded)
        versions = [v for v in releases if v not in skip]
        allowed = list(specifier.filter([v for v in versions if not releases[v].yanked]))
        if not allowed and any(r.pinned for r in requirements):
            allowed = list(specifier.filter(versions))
        return sorted(allowed, reverse=True)

    def why_unavailable(self, requirement: Req) -> str | None:
        """None when some release could satisfy the requirement alone; else the reason it cannot."""
        if self.matching(requirement.name, [requirement]):
            return None
        page = self.index.page(requirement.name)
        if page is None:
            return "not found on the origin"
        releases = self.releases(requirement.name)
        if not releases:
            wheels = sum(1 for f in page.files if f.filename.endswith(".whl"))
            return (f"no release has a wheel for {self.env.label}"
                    f" ({len(page.files)} file(s) on the origin, {wheels} wheel(s), none fits)")
        newest = ", ".join(str(v) for v in sorted(releases, reverse=True)[:5])
        return f"no release matches {requirement.specifier or 'any version'} (for {self.env.label}: {newest})"

    # -- resolvelib --------------------------------------------------------------------------------
    def identify(self, requirement_or_candidate: Req | Candidate) -> str:
        return requirement_or_candidate.identifier

    def get_preference(self, identifier: str, resolutions: Mapping[str, Candidate],
                       candidates: Mapping[str, Iterator[Candidate]], information: Mapping[str, Any],
                       backtrack_causes: Sequence[Any]) -> tuple[bool, bool, str]:
        pinned = any(info.requirement.pinned for info in information[identifier])
        return identifier != PYTHON, not pinned, identifier

    def find_matches(self, identifier: str, requirements: Mapping[str, Iterator[Req]],
                     incompatibilities: Mapping[str, Iterator[Candidate]]) -> list[Candidate]:
        wanted = list(requirements[identifier])
        if identifier == PYTHON:
            fits = all(self.python_candidate.version in r.specifier for r in wanted)
            return [self.python_candidate] if fits else []
        first = wanted[0]
        versions = self.matching(first.name, wanted, (c.version for c in incompatibilities[identifier]))
        releases = self.releases(first.name)
        return [Candidate(first.name, v, first.extras, releases[v].file) for v in versions]

    def is_satisfied_by(self, requirement: Req, candidate: Candidate) -> bool:
        return requirement.specifier.contains(candidate.version, prereleases=True)

    def get_dependencies(self, candidate: Candidate) -> list[Req]:
        if candidate.identifier == PYTHON or candidate.file is None:
            return []
        metadata = self.index.metadata(candidate.file)
        dependencies: list[Req] = []
        if metadata.requires_python:
            try:
                dependencies.append(Req(PYTHON, frozenset(), SpecifierSet(metadata.requires_python),
                                        f"Requires-Python {metadata.requires_python}"))
            except InvalidSpecifier:
                log.warning("%s: ignoring invalid Requires-Python %r", candidate, metadata.requires_python)
        if candidate.extras:
            dependencies.append(Req(candidate.name, frozenset(), SpecifierSet(f"=={candidate.version}"),
                                    f"{candidate.name}=={candidate.version}"))
        active: list[Req] = []
        for text in metadata.requires_dist:
            try:
                requirement = Requirement(text)
                if candidate.extras:
                    on = (any(evaluate(requirement.marker, self.env.markers, e) for e in candidate.extras)
                          and not evaluate(requirement.marker, self.env.markers))
                else:
                    on = evaluate(requirement.marker, self.env.markers)
            except (InvalidRequirement, InvalidMarker, UndefinedComparison, UndefinedEnvironmentName) as exc:
                log.warning("%s: ignoring dependency %r: %s", candidate, text, exc)
                continue
            if on and not requirement.url:
                active.append(Req.from_requirement(requirement))
        self.index.prefetch(r.name for r in active)
        for requirement in active:
            reason = self.why_unavailable(requirement)
            if reason is None:
                dependencies.append(requirement)
            else:
                with self._lock:
                    self.dropped.append(Dropped(requirement.text, candidate, reason))
        return dependencies


@dataclass
class Edge:
    """child was pulled in by parent (None: a top-level requirement) through requirement."""

    child: str
    child_version: str
    parent: str | None
    parent_version: str | None
    requirement: str


@dataclass
class EnvResult:
    env: Environment
    pins: dict[str, set[Version]] = field(default_factory=dict)  # project -> selected version(s)
    files: dict[str, dict[Version, DistFile]] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
