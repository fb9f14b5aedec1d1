"""Value objects for projects and their files, plus name normalization.  Pure: no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from cloudpypi.errors import UnsafeInput
from cloudpypi.layout import METADATA_SUFFIX, provenance_key

# PEP 508 names; PyPI also caps names well below this.
_VALID_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
_SEPARATORS = re.compile(r"[-_.]+")
MAX_NAME_LENGTH = 200
MAX_FILENAME_LENGTH = 255
PROJECT_STATUSES = frozenset({"active", "archived", "quarantined", "deprecated"})  # PEP 792


def normalize(name: str) -> str:
    """PEP 503 normalization: lowercase, runs of '-', '_' and '.' become one '-'."""
    return _SEPARATORS.sub("-", name).lower()


def checked_project_name(name: object) -> str:
    """A project name from the origin, validated, as its normalized form."""
    if not isinstance(name, str) or not name:
        raise UnsafeInput(f"project name {name!r} is not a non-empty string")
    if len(name) > MAX_NAME_LENGTH:
        raise UnsafeInput(f"project name of {len(name)} characters is over the {MAX_NAME_LENGTH} limit")
    if not _VALID_NAME.match(name):
        raise UnsafeInput(f"project name {name!r} is not a valid PEP 508 name")
    return normalize(name)


@dataclass(frozen=True, slots=True)
class DistFile:
    """One distribution file as a Simple API page describes it.

    ``url`` is absolute on the origin side.  On the mirror side the file is known by ``key``,
    the storage key it lives under (``packages/...``).
    """

    filename: str
    url: str
    sha256: str
    size: int | None = None
    requires_python: str | None = None
    yanked: bool | str = False  # False, True, or the reason
    metadata_sha256: str | None = None  # PEP 658/714 core metadata, when the origin has it
    has_metadata: bool = False
    upload_time: str | None = None
    key: str = ""
    # PEP 740: on the origin side, the absolute URL of the file's provenance object (on the origin's host);
    # on the mirror side, has_provenance says the mirror stores it at provenance_key.
    provenance_url: str | None = None
    has_provenance: bool = False

    @property
    def metadata_key(self) -> str:
        return self.key + METADATA_SUFFIX

    @property
    def provenance_key(self) -> str:
        return provenance_key(self.key)

    @property
    def stored_keys(self) -> tuple[str, ...]:
        """Every object the mirror stores for this file: the file, its .metadata and its provenance."""
        return (self.key, *((self.metadata_key,) if self.has_metadata else ()),
                *((self.provenance_key,) if self.has_provenance else ()))


@dataclass(frozen=True, slots=True)
class ProjectPage:
    """A project's Simple API page: the model both for parsing the origin and for rendering the mirror."""

    name: str  # normalized
    files: tuple[DistFile, ...] = ()
    versions: tuple[str, ...] = ()
    last_serial: int | None = None
    display_name: str = ""
    status: str | None = None  # PEP 792 project status (active, archived, quarantined, deprecated), as the origin says
    status_reason: str | None = None
    tracks: tuple[str, ...] = ()  # PEP 708 meta.tracks: the project pages this one tracks
    alternate_locations: tuple[str, ...] = ()  # PEP 708: other repositories that serve the same project

    def with_files(self, files: tuple[DistFile, ...]) -> ProjectPage:
        return replace(self, files=files)

    @property
    def quarantined(self) -> bool:
        return self.status == "quarantined"


@dataclass(frozen=True, slots=True)
class RootEntry:
    name: str  # normalized
    last_serial: int | None


@dataclass
class ProjectResult:
    """What syncing one project did, reported back to the coordinator."""

    name: str
    serial: int | None
    ok: bool = True
    reason: str = ""
    removed: bool = False
    page_written: bool = False
    files_added: int = 0
    bytes_added: int = 0
    file_count: int = 0
    total_bytes: int = 0
    failed_files: int = 0
    objects_written: int = 0  # files and .metadata published
    dropped_keys: list[str] = field(default_factory=list)  # no longer linked: deletion after the grace period
    kept_keys: list[str] = field(default_factory=list)  # linked again: cancel any pending deletion
    skipped: list[tuple[str, int]] = field(default_factory=list)  # (filename, size) over max_file_size
