"""Pure value objects of the fake origin's corpus: projects, releases, files and changelog entries."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from packaging.version import Version

# Changelog timestamps and upload times come from a fixed clock (BASE_TIME + serial), so the same
# sequence of mutations always produces the same pages, byte for byte.
BASE_TIME = 1_700_000_000

_NORMALIZE = re.compile(r"[-_.]+")


def normalize(name: str) -> str:
    """PEP 503 name normalization."""
    return _NORMALIZE.sub("-", name).lower()


def dist_name(name: str) -> str:
    """The distribution name as it appears in wheel and sdist filenames (PEP 427/625)."""
    return _NORMALIZE.sub("_", name).lower()


def normalize_version(version: str) -> str:
    return str(Version(version))


def iso_time(timestamp: int) -> str:
    """PEP 700 upload-time: ISO 8601 with microseconds and a Z suffix."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class FileSpec:
    """A requested file: a wheel with `tag` (e.g. "py3-none-any") or tag "sdist"; optional padded size."""

    tag: str = "py3-none-any"
    size: int | None = None

    @property
    def is_sdist(self) -> bool:
        return self.tag == "sdist"


@dataclass(frozen=True)
class DistFile:
    """One file of a release, as the corpus knows it (its bytes live in the artifact store)."""

    filename: str
    tag: str  # wheel tag triple, or "sdist"
    size: int | None  # requested padded size; None = natural size
    upload_time: str

    @property
    def is_sdist(self) -> bool:
        return self.tag == "sdist"

    @property
    def python_tag(self) -> str:
        return "source" if self.is_sdist else self.tag.split("-")[0]


@dataclass
class Release:
    version: str
    requires_python: str | None = None
    requires_dist: tuple[str, ...] = ()
    provides_extra: tuple[str, ...] = ()
    summary: str = ""
    yanked: bool = False
    yanked_reason: str = ""
    files: dict[str, DistFile] = field(default_factory=dict)


@dataclass
class Project:
    name: str  # display name, as uploaded
    releases: dict[str, Release] = field(default_factory=dict)
    last_serial: int = 0
    status: str | None = None  # PEP 792: archived, quarantined, deprecated (None: the page states none)
    status_reason: str = ""
    tracks: tuple[str, ...] = ()  # PEP 708
    alternate_locations: tuple[str, ...] = ()
    provenance: dict[str, bytes] = field(default_factory=dict)  # PEP 740 objects by filename

    @property
    def normalized(self) -> str:
        return normalize(self.name)


@dataclass(frozen=True)
class ChangelogEntry:
    """One warehouse journal entry: [name, version, timestamp, action, serial]."""

    name: str
    version: str | None
    timestamp: int
    action: str
    serial: int

    def as_list(self) -> list[object]:
        return [self.name, self.version, self.timestamp, self.action, self.serial]


def provenance_object(project: str, filename: str, sha256: str) -> bytes:
    """A deterministic stand-in for a PEP 740 provenance object: the right shape, no real signatures."""
    import json

    bundle = {"version": 1, "attestation_bundles": [{
        "publisher": {"kind": "GitHub", "repository": f"example/{normalize(project)}", "workflow": "release.yml"},
        "attestations": [{"version": 1, "verification_material": {"certificate": "TUlJ", "transparency_entries": []},
                          "envelope": {"statement": "e30=", "signature": "c2ln"},
                          "subject": {"name": filename, "digest": {"sha256": sha256}}}],
    }]}
    return json.dumps(bundle, indent=2).encode()


def wheel_filename(name: str, version: str, tag: str) -> str:
    return f"{dist_name(name)}-{version}-{tag}.whl"


def sdist_filename(name: str, version: str) -> str:
    return f"{dist_name(name)}-{version}.tar.gz"


def core_metadata(project: str, release: Release) -> str:
    """The core metadata text (METADATA in wheels, PKG-INFO in sdists, and the PEP 658 .metadata file)."""
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project}",
        f"Version: {release.version}",
        f"Summary: {release.summary or f'Synthetic test project {project}'}",
    ]
    if release.requires_python:
        lines.append(f"Requires-Python: {release.requires_python}")
    lines.extend(f"Provides-Extra: {extra}" for extra in release.provides_extra)
    lines.extend(f"Requires-Dist: {req}" for req in release.requires_dist)
    return "\n".join(lines) + "\n"
