"""What a bundle holds, and the rules a bundle must pass before anything is written.  Pure: no I/O.

A bundle is an uncompressed tar (package files are compressed already).  Its members are stored under
their storage keys (``packages/...``, ``simple/<name>/<page>``), files first, then pages, and the last
member is the manifest, ``cloudpypi-bundle.json``:

    {"format": "cloudpypi-bundle", "version": 1, "origin": "https://pypi.org", "since": 0, "to": 123,
     "created": "2026-12-06T20:00:00Z", "filters": "<fingerprint>",
     "projects": [{"name": "idna", "serial": 120, "files": 4, "bytes": 123456}, ...],
     "removed": ["gone-project", ...],
     "members": [{"path": "packages/aa/bb/idna-3.1-py3-none-any.whl", "sha256": "...", "size": 6789}, ...]}

``since`` and ``to`` are the mirror's serials: the bundle brings a mirror at serial ``since`` (or any
serial up to ``to``) to serial ``to``.  ``since`` 0 is a full bundle: every mirrored project.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from cloudpypi.errors import BundleRefused
from cloudpypi.layout import FILES_PREFIX, HTML_PAGE, page_dir, page_keys, split_json_api_key, split_page_key
from cloudpypi.model import checked_project_name

FORMAT = "cloudpypi-bundle"
VERSION = 1
MANIFEST_NAME = "cloudpypi-bundle.json"
MAX_MANIFEST_BYTES = 1 << 30
MAX_PAGE_BYTES = 256 << 20

_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+~!-]*$")  # what cloudpypi.paths lets into packages/
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_KEY_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class Member:
    key: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class ProjectEntry:
    """A project whose pages the bundle carries, with the row the target's state records for it."""

    name: str
    serial: int | None
    files: int
    bytes: int


@dataclass(frozen=True)
class Manifest:
    origin: str
    since: int
    to: int
    created: str
    filters: str
    projects: tuple[ProjectEntry, ...]
    removed: tuple[str, ...]
    members: tuple[Member, ...]

    @property
    def full(self) -> bool:
        return self.since == 0

    def member(self, key: str) -> Member | None:
        return self._by_key().get(key)

    def _by_key(self) -> dict[str, Member]:
        cached = self.__dict__.get("_index")
        if cached is None:
            cached = {m.key: m for m in self.members}
            object.__setattr__(self, "_index", cached)
        return cached

    def to_json(self) -> bytes:
        document = {
            "format": FORMAT,
            "version": VERSION,
            "origin": self.origin,
            "since": self.since,
            "to": self.to,
            "created": self.created,
            "filters": self.filters,
            "projects": [{"name": p.name, "serial": p.serial, "files": p.files, "bytes": p.bytes}
                         for p in self.projects],
            "removed": list(self.removed),
            "members": [{"path": m.key, "sha256": m.sha256, "size": m.size} for m in self.members],
        }
        return json.dumps(document, indent=1, sort_keys=False).encode()


def member_key(name: object) -> str:
    """The storage key a member name stands for; anything else is refused.

    Only three shapes are accepted: ``packages/<safe segments>`` (a file, its .metadata or its
    provenance), ``simple/<normalized project name>/<page>`` and ``pypi/<normalized project name>/json``
    (the JSON API document).  No absolute path, no ``.``/``..``, no backslash, no state
    (``.cloudpypi/``), nothing outside those areas.
    """
    if not isinstance(name, str) or not name or len(name) > MAX_KEY_LENGTH:
        raise BundleRefused(f"member name {name!r} is not a storage key")
    parts = name.split("/")
    if name.startswith(FILES_PREFIX) and len(parts) >= 2 and all(_SAFE_SEGMENT.match(p) for p in parts[1:]):
        return name
    page = split_page_key(name)
    project = page[0] if page is not None else split_json_api_key(name)
    if project is not None:
        try:
            normalized = checked_project_name(project)
        except Exception:  # UnsafeInput: reported as a refusal of the bundle
            normalized = None
        if normalized == project:
            return name
    raise BundleRefused(f"member {name!r} is outside packages/, simple/<project>/ and pypi/<project>/json: "
                        "it could escape the target")


def _int(value: Any, what: str, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BundleRefused(f"manifest: {what} must be a whole number of 0 or more, got {value!r}")
    return value


def _str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise BundleRefused(f"manifest: {what} must be a string, got {type(value).__name__}")
    return value


def parse_manifest(raw: bytes) -> Manifest:
    """A manifest from its JSON, checked for shape and consistency (it is untrusted input)."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleRefused(f"manifest is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BundleRefused(f"not a cloudpypi bundle (its manifest has no \"format\": \"{FORMAT}\")")
    if data.get("version") != VERSION:
        raise BundleRefused(f"bundle format version {data.get('version')!r}; this cloudpypi reads version {VERSION}")
    since = _int(data.get("since"), "since")
    to = _int(data.get("to"), "to")
    assert since is not None and to is not None
    if since > to:
        raise BundleRefused(f"manifest: since {since} is after to {to}")
    members: list[Member] = []
    seen: set[str] = set()
    raw_members = data.get("members")
    if not isinstance(raw_members, list):
        raise BundleRefused("manifest: members must be a list")
    for entry in raw_members:
        if not isinstance(entry, dict):
            raise BundleRefused("manifest: each member must be an object")
        key = member_key(entry.get("path"))
        sha256 = _str(entry.get("sha256"), f"{key}: sha256")
        if not _SHA256.match(sha256):
            raise BundleRefused(f"manifest: {key}: sha256 {sha256!r} is not 64 lowercase hex digits")
        size = _int(entry.get("size"), f"{key}: size")
        assert size is not None
        if key in seen:
            raise BundleRefused(f"manifest: {key} is listed twice")
        seen.add(key)
        members.append(Member(key, sha256, size))
    projects: list[ProjectEntry] = []
    names: set[str] = set()
    raw_projects = data.get("projects")
    if not isinstance(raw_projects, list):
        raise BundleRefused("manifest: projects must be a list")
    for entry in raw_projects:
        if not isinstance(entry, dict):
            raise BundleRefused("manifest: each project must be an object")
        name = _str(entry.get("name"), "project name")
        for key in page_keys(name).values():
            member_key(key)  # the name is a normalized project name
            if key not in seen:
                raise BundleRefused(f"manifest: project {name} has no {key} member")
        if name in names:
            raise BundleRefused(f"manifest: project {name} is listed twice")
        names.add(name)
        projects.append(ProjectEntry(name, _int(entry.get("serial"), f"{name}: serial", optional=True),
                                     _int(entry.get("files"), f"{name}: files") or 0,
                                     _int(entry.get("bytes"), f"{name}: bytes") or 0))
    for key in seen:
        page = split_page_key(key)
        if page is not None and page[0] not in names:
            raise BundleRefused(f"manifest: {key} belongs to no listed project")
    removed = data.get("removed")
    if not isinstance(removed, list):
        raise BundleRefused("manifest: removed must be a list")
    for name in removed:
        member_key(page_dir(_str(name, "removed project")) + HTML_PAGE)
        if name in names:
            raise BundleRefused(f"manifest: project {name} is both carried and removed")
    return Manifest(origin=_str(data.get("origin", ""), "origin"), since=since, to=to,
                    created=_str(data.get("created", ""), "created"), filters=_str(data.get("filters", ""), "filters"),
                    projects=tuple(projects), removed=tuple(removed), members=tuple(members))


def check_sequence(manifest: Manifest, target_serial: int | None) -> bool:
    """Whether the bundle may be applied to a target at target_serial.  False: the target is at the
    bundle's serial already (applying it again changes nothing).  Refused: a gap, or an older bundle."""
    current = target_serial if target_serial is not None else 0
    if manifest.since > current:
        raise BundleRefused(
            f"the bundle starts at serial {manifest.since} but the target is at serial {target_serial}: applying it "
            f"would leave a gap; apply the bundles in between first, or export one with --since {current}")
    if manifest.to < current:
        raise BundleRefused(
            f"the bundle ends at serial {manifest.to} but the target is already at serial {current}: "
            "it is older than the target")
    return manifest.to != target_serial
