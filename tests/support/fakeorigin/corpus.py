"""The mutable corpus: projects, serials, the warehouse-style changelog, and hostile overrides.

Every mutation bumps the global serial and appends journal entries the way warehouse does.  All methods
are thread-safe (one re-entrant lock); the servers read consistent snapshots through `snapshot()`.
"""

from __future__ import annotations

import bisect
import copy
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .artifacts import ArtifactSpec, ArtifactStore
from .model import (
    BASE_TIME,
    ChangelogEntry,
    DistFile,
    FileSpec,
    Project,
    Release,
    core_metadata,
    iso_time,
    normalize,
    normalize_version,
    sdist_filename,
    wheel_filename,
)

FileLike = FileSpec | str | tuple[str, int | None] | dict[str, Any]


def as_file_spec(value: FileLike) -> FileSpec:
    """Accepts FileSpec, "py3-none-any", "sdist", ("cp312-cp312-win_amd64", 50_000) or {"tag", "size"}."""
    if isinstance(value, FileSpec):
        return value
    if isinstance(value, str):
        return FileSpec(value)
    if isinstance(value, tuple):
        return FileSpec(value[0], value[1])
    return FileSpec(value.get("tag", "py3-none-any"), value.get("size"))


@dataclass
class PageOverride:
    """Raw bytes served instead of a generated page (None = that format is generated as usual)."""

    json: bytes | None = None
    html: bytes | None = None
    status: int = 200
    content_type: str | None = None


@dataclass
class Overrides:
    pages: dict[str, PageOverride] = field(default_factory=dict)  # key: raw path segment or normalized
    root: PageOverride | None = None
    patched_entries: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    raw_entries: dict[str, list[tuple[dict[str, Any], str | None]]] = field(default_factory=dict)
    root_names: dict[str, int] = field(default_factory=dict)  # extra root-index names -> serial
    raw_files: dict[str, bytes] = field(default_factory=dict)  # raw request path on the files port -> bytes
    synthetic_root: tuple[int, str] = (0, "synthetic-project-")


class Corpus:
    """A mutable, thread-safe model of an origin's projects.  Build it, serve it, mutate it while served."""

    def __init__(self, cache_dir: Path | str | None = None) -> None:
        self.lock = threading.RLock()
        self.store = ArtifactStore(cache_dir)
        self.projects: dict[str, Project] = {}  # by normalized name
        self.serial = 0
        self.changelog: list[ChangelogEntry] = []
        self.overrides = Overrides()
        self.generation = 0  # bumped on every change, including overrides (page caches key on it)
        self._file_paths: dict[str, tuple[str, str, str]] = {}  # url path -> (project, version, filename)

    # ---- reading -------------------------------------------------------------------------------------

    def project(self, name: str) -> Project:
        with self.lock:
            try:
                return self.projects[normalize(name)]
            except KeyError:
                raise KeyError(f"fake origin has no project {name!r}") from None

    def snapshot(self, name: str) -> Project | None:
        """A deep copy of one project, safe to render without the lock."""
        with self.lock:
            project = self.projects.get(normalize(name))
            return copy.deepcopy(project) if project else None

    def project_serials(self) -> list[tuple[str, int]]:
        with self.lock:
            return [(p.name, p.last_serial) for p in self.projects.values()]

    def changelog_since(self, serial: int, limit: int | None = None) -> list[ChangelogEntry]:
        with self.lock:
            start = bisect.bisect_right([e.serial for e in self.changelog], serial)
            end = len(self.changelog) if limit is None else start + limit
            return self.changelog[start:end]

    def spec_for(self, project: Project, release: Release, dist: DistFile) -> ArtifactSpec:
        return ArtifactSpec(
            project.name, release.version, dist.tag, dist.size, core_metadata(project.name, release)
        )

    def file_at(self, url_path: str) -> ArtifactSpec | None:
        """The artifact served at a files-port path, if that file currently exists in the corpus."""
        with self.lock:
            where = self._file_paths.get(url_path)
            if where is None:
                return None
            project = self.projects[where[0]]
            release = project.releases[where[1]]
            return self.spec_for(project, release, release.files[where[2]])

    def all_specs(self) -> list[ArtifactSpec]:
        with self.lock:
            return [
                self.spec_for(p, r, f)
                for p in self.projects.values()
                for r in p.releases.values()
                for f in r.files.values()
            ]

    def build_all(self, workers: int = 4) -> int:
        """Build every file now (benchmarks do this before timing).  Returns the total bytes."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:
            return sum(a.size for a in pool.map(self.store.get, self.all_specs()))

    # ---- mutations (each bumps the serial) -----------------------------------------------------------

    def _log(self, name: str, version: str | None, action: str) -> int:
        self.serial += 1
        self.generation += 1
        self.changelog.append(ChangelogEntry(name, version, BASE_TIME + self.serial, action, self.serial))
        project = self.projects.get(normalize(name))
        if project is not None:
            project.last_serial = self.serial
        return self.serial

    def add_project(self, name: str, releases: Iterable[dict[str, Any]] = ()) -> int:
        """Create a project (journal action "create"), with releases given as add_release kwargs."""
        with self.lock:
            key = normalize(name)
            if key in self.projects:
                raise ValueError(f"project {name!r} already exists in the fake origin")
            self.projects[key] = Project(name)
            serial = self._log(name, None, "create")
            for release in releases:
                serial = self.add_release(name, **release)
            return serial

    def add_release(
        self,
        project: str,
        version: str,
        *,
        files: Sequence[FileLike] = ("py3-none-any",),
        requires_python: str | None = None,
        requires_dist: Sequence[str] = (),
        provides_extra: Sequence[str] = (),
        summary: str = "",
        yanked: bool | str = False,
    ) -> int:
        """Add a release and its files; `yanked` may be True or a reason string."""
        with self.lock:
            proj = self.project(project)
            version = normalize_version(version)
            if version in proj.releases:
                raise ValueError(f"{proj.name} {version} already exists in the fake origin")
            proj.releases[version] = Release(
                version,
                requires_python=requires_python,
                requires_dist=tuple(requires_dist),
                provides_extra=tuple(provides_extra),
                summary=summary,
            )
            serial = self._log(proj.name, version, "new release")
            for item in files:
                self.add_file(proj.name, version, as_file_spec(item))
                serial = self.serial
            if yanked:
                serial = self.yank(proj.name, version, yanked if isinstance(yanked, str) else "")
            return serial

    def add_file(self, project: str, version: str, file: FileLike = "py3-none-any") -> DistFile:
        with self.lock:
            proj = self.project(project)
            release = self._release(proj, version)
            spec = as_file_spec(file)
            if spec.is_sdist:
                filename = sdist_filename(proj.name, release.version)
            else:
                filename = wheel_filename(proj.name, release.version, spec.tag)
            if filename in release.files:
                raise ValueError(f"{filename} already exists in the fake origin")
            dist = DistFile(filename, spec.tag, spec.size, iso_time(BASE_TIME + self.serial + 1))
            release.files[filename] = dist
            self._file_paths[self.spec_for(proj, release, dist).url_path] = (
                proj.normalized,
                release.version,
                filename,
            )
            self._log(proj.name, release.version, f"add {dist.python_tag} file {filename}")
            return dist

    def remove_file(self, project: str, filename: str) -> int:
        with self.lock:
            proj = self.project(project)
            for release in proj.releases.values():
                if filename in release.files:
                    self._forget(proj, release, filename)
                    return self._log(proj.name, release.version, f"remove file {filename}")
            raise KeyError(f"fake origin has no file {filename!r} in {proj.name}")

    def remove_release(self, project: str, version: str) -> int:
        with self.lock:
            proj = self.project(project)
            release = self._release(proj, version)
            for filename in list(release.files):
                self._forget(proj, release, filename)
            del proj.releases[release.version]
            return self._log(proj.name, release.version, "remove release")

    def remove_project(self, project: str) -> int:
        with self.lock:
            proj = self.project(project)
            for release in proj.releases.values():
                for filename in list(release.files):
                    self._forget(proj, release, filename)
            serial = self._log(proj.name, None, "remove project")
            del self.projects[proj.normalized]
            return serial

    def yank(self, project: str, version: str, reason: str = "") -> int:
        with self.lock:
            proj = self.project(project)
            release = self._release(proj, version)
            release.yanked, release.yanked_reason = True, reason
            return self._log(proj.name, release.version, "yank release")

    def unyank(self, project: str, version: str) -> int:
        with self.lock:
            proj = self.project(project)
            release = self._release(proj, version)
            release.yanked, release.yanked_reason = False, ""
            return self._log(proj.name, release.version, "unyank release")

    # ---- Simple API 1.4 (PEP 740 provenance, PEP 792 status, PEP 708 tracks) ----------------------------

    def add_provenance(self, project: str, filename: str, data: bytes | None = None) -> int:
        """Publish a provenance object for one file (default: a deterministic stand-in of the real shape)."""
        from .model import provenance_object

        with self.lock:
            proj = self.project(project)
            for release in proj.releases.values():
                if filename in release.files:
                    if data is None:
                        art = self.store.get(self.spec_for(proj, release, release.files[filename]))
                        data = provenance_object(proj.name, filename, art.sha256)
                    proj.provenance[filename] = data
                    return self._log(proj.name, release.version, f"add provenance {filename}")
            raise KeyError(f"fake origin has no file {filename!r} in {proj.name}")

    def set_status(self, project: str, status: str | None, reason: str = "") -> int:
        """PEP 792: archived, quarantined (the page then lists no files), deprecated, active, or None."""
        with self.lock:
            proj = self.project(project)
            proj.status, proj.status_reason = status, reason
            return self._log(proj.name, None, f"set status {status}")

    def set_tracks(self, project: str, tracks: Sequence[str] = (), alternate_locations: Sequence[str] = ()) -> int:
        """PEP 708 meta.tracks and alternate-locations of a project page."""
        with self.lock:
            proj = self.project(project)
            proj.tracks, proj.alternate_locations = tuple(tracks), tuple(alternate_locations)
            return self._log(proj.name, None, "set tracks")

    def provenance_at(self, project: str, filename: str) -> bytes | None:
        with self.lock:
            proj = self.projects.get(normalize(project))
            return None if proj is None else proj.provenance.get(filename)

    def touch(self, project: str) -> int:
        """Bump the project's serial without changing its content (like a description edit)."""
        with self.lock:
            return self._log(self.project(project).name, None, "touch")

    def add_raw_changelog(self, name: str, version: str | None, action: str) -> int:
        """A journal entry for any name, even one that is not a project (hostile changelog tests)."""
        with self.lock:
            return self._log(name, version, action)

    # ---- hostile overrides ---------------------------------------------------------------------------

    def _bump_for(self, name: str, bump: bool) -> None:
        self.generation += 1
        if bump:
            if normalize(name) in self.projects:
                self._log(self.projects[normalize(name)].name, None, "touch")
            else:
                self._log(name, None, "touch")

    def override_page(
        self,
        name: str,
        *,
        json: bytes | str | None = None,
        html: bytes | str | None = None,
        status: int = 200,
        content_type: str | None = None,
        bump: bool = True,
    ) -> None:
        """Serve these raw bytes for /simple/<name>/ (exact raw segment, or any spelling when normalized).

        A format left None is generated as usual.  `bump` journals a touch so incremental clients look.
        """
        with self.lock:
            self.overrides.pages[name] = PageOverride(_b(json), _b(html), status, content_type)
            self._bump_for(name, bump)

    def override_root(
        self, *, json: bytes | str | None = None, html: bytes | str | None = None, status: int = 200
    ) -> None:
        with self.lock:
            self.overrides.root = PageOverride(_b(json), _b(html), status)
            self.generation += 1

    def patch_file_entry(
        self, project: str, filename: str, fields: dict[str, Any], *, bump: bool = True
    ) -> None:
        """Merge raw JSON fields into one generated file entry (e.g. {"url": "file:///etc/passwd"}).

        The HTML page reflects patched "url", "filename", "hashes" and "requires-python" values verbatim.
        """
        with self.lock:
            key = (normalize(project), filename)
            self.overrides.patched_entries.setdefault(key, {}).update(fields)
            self._bump_for(project, bump)

    def add_raw_file_entry(
        self, project: str, entry: dict[str, Any], *, html: str | None = None, bump: bool = True
    ) -> None:
        """Append an arbitrary JSON file entry (any types) to a project's page; `html` is its raw anchor."""
        with self.lock:
            self.overrides.raw_entries.setdefault(normalize(project), []).append((entry, html))
            self._bump_for(project, bump)

    def add_root_names(self, names: Iterable[str], *, bump: bool = True) -> None:
        """List extra raw names in the root index (they need not be projects; think `../evil`).

        With `bump`, each name is also journaled; a name with control characters (NUL) then makes every
        later XML-RPC changelog answer malformed XML, which is itself a hostile case.
        """
        with self.lock:
            for name in names:
                if bump:
                    self._log(name, None, "create")
                self.overrides.root_names[name] = self.serial
            self.generation += 1

    def add_raw_file(self, path: str, data: bytes) -> None:
        """Serve `data` at this exact raw request path on the files port (e.g. "/packages/../../evil.whl")."""
        with self.lock:
            self.overrides.raw_files[path] = data
            self.generation += 1

    def set_synthetic_root(self, count: int, prefix: str = "synthetic-project-") -> None:
        """Add `count` generated names to the root index, with no pages or files behind them."""
        with self.lock:
            self.overrides.synthetic_root = (count, prefix)
            self.generation += 1

    def clear_overrides(self) -> None:
        with self.lock:
            self.overrides = Overrides()
            self.generation += 1

    # ---- helpers --------------------------------------------------------------------------------------

    def _release(self, proj: Project, version: str) -> Release:
        try:
            return proj.releases[normalize_version(version)]
        except KeyError:
            raise KeyError(f"fake origin has no release {proj.name} {version}") from None

    def _forget(self, proj: Project, release: Release, filename: str) -> None:
        dist = release.files.pop(filename)
        self._file_paths.pop(self.spec_for(proj, release, dist).url_path, None)

    # ---- declarative specs ----------------------------------------------------------------------------

    @classmethod
    def from_spec(cls, spec: dict[str, Any], cache_dir: Path | str | None = None) -> Corpus:
        """Build from a JSON-able spec (see README in __init__): "generate", "projects", "synthetic_root"."""
        from .generate import generate_corpus

        gen = spec.get("generate")
        corpus = generate_corpus(cache_dir=cache_dir, **gen) if gen else cls(cache_dir)
        for project in spec.get("projects", ()):
            corpus.add_project(project["name"], project.get("releases", ()))
        if spec.get("synthetic_root"):
            corpus.set_synthetic_root(int(spec["synthetic_root"]))
        return corpus

    def to_spec(self) -> dict[str, Any]:
        """The current projects as a spec that from_spec rebuilds (serials restart; bytes are the same)."""
        with self.lock:
            projects = []
            for proj in self.projects.values():
                releases = []
                for rel in proj.releases.values():
                    releases.append(
                        {
                            "version": rel.version,
                            "requires_python": rel.requires_python,
                            "requires_dist": list(rel.requires_dist),
                            "provides_extra": list(rel.provides_extra),
                            "summary": rel.summary,
                            "yanked": (rel.yanked_reason or True) if rel.yanked else False,
                            "files": [{"tag": f.tag, "size": f.size} for f in rel.files.values()],
                        }
                    )
                projects.append({"name": proj.name, "releases": releases})
            return {"projects": projects}


def _b(value: bytes | str | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value
