"""The legacy JSON API (``/pypi/<name>/json``), static: one document per mirrored project.

Built from what the mirror already holds, not fetched from the origin: ``releases`` and ``urls`` list
the mirrored files only (with their sha256 digests and links to the mirror's copies), and ``info``
comes from the core metadata (PEP 658 ``.metadata``) of the latest release's file.  A release whose
files carry no core metadata gets an ``info`` with the name, version and requires-python alone.
See docs/DESIGN.md, "The legacy JSON API is built from core metadata".

:func:`json_api_document` is pure; :func:`json_api_objects` reads the one .metadata object it needs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, parse_sdist_filename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from cloudpypi.layout import JSON_API_PREFIX, json_api_key
from cloudpypi.model import DistFile, ProjectPage
from cloudpypi.render import link_to
from cloudpypi.storage.content import JSON_API_TYPE

# Core metadata fields (packaging's RawMetadata names) -> the JSON API's info keys, as pypi.org names them.
_INFO_FIELDS = {
    "author": "author", "author_email": "author_email", "classifiers": "classifiers",
    "description": "description", "description_content_type": "description_content_type",
    "download_url": "download_url", "dynamic": "dynamic", "home_page": "home_page",
    "license": "license", "license_expression": "license_expression", "license_files": "license_files",
    "maintainer": "maintainer", "maintainer_email": "maintainer_email", "platforms": "platform",
    "project_urls": "project_urls", "provides_extra": "provides_extra", "requires_dist": "requires_dist",
    "requires_python": "requires_python", "summary": "summary",
}


def file_version(item: DistFile) -> Version | None:
    """The release a file belongs to, read from its name (wheel or sdist); None when it cannot be told."""
    try:
        if item.filename.endswith(".whl"):
            return parse_wheel_filename(item.filename)[1]
        return parse_sdist_filename(item.filename)[1]
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None


def _package_type(item: DistFile) -> tuple[str, str]:
    if item.filename.endswith(".whl"):
        python_tag = item.filename[:-4].split("-")[-3]
        return "bdist_wheel", python_tag
    return "sdist", "source"


def _file_entry(item: DistFile, href: str) -> dict[str, Any]:
    package_type, python_version = _package_type(item)
    upload = item.upload_time
    return {
        "comment_text": "",
        "digests": {"sha256": item.sha256},
        "downloads": -1,
        "filename": item.filename,
        "has_sig": False,
        "packagetype": package_type,
        "python_version": python_version,
        "requires_python": item.requires_python,
        "size": item.size,
        "upload_time": upload[:19] if upload else None,
        "upload_time_iso_8601": upload,
        "url": href,
        "yanked": item.yanked is not False,
        "yanked_reason": item.yanked if isinstance(item.yanked, str) else None,
    }


def _releases(page: ProjectPage) -> dict[str, list[DistFile]]:
    """Mirrored files by release, keyed by the version as the origin spells it, in version order."""
    spelled = {}
    for raw in page.versions:
        try:
            spelled.setdefault(Version(raw), raw)
        except InvalidVersion:
            continue
    by_version: dict[Version, list[DistFile]] = {}
    for item in page.files:
        version = file_version(item)
        if version is not None:
            by_version.setdefault(version, []).append(item)
    return {spelled.get(v, str(v)): by_version[v] for v in sorted(by_version)}


def latest_version(releases: dict[str, list[DistFile]]) -> str | None:
    """pypi.org's choice: the highest final release with an unyanked file, else the highest such pre-release,
    else the highest release at all."""
    def live(files: list[DistFile]) -> bool:
        return any(f.yanked is False for f in files)

    versions = list(releases)
    for candidates in ([v for v in versions if live(releases[v]) and not Version(v).is_prerelease],
                       [v for v in versions if live(releases[v])], versions):
        if candidates:
            return candidates[-1]
    return None


def metadata_source(files: list[DistFile]) -> DistFile | None:
    """The file whose .metadata describes the release: a wheel's first (it is what installers read)."""
    with_metadata = [f for f in files if f.has_metadata]
    wheels = [f for f in with_metadata if f.filename.endswith(".whl")]
    return (wheels or with_metadata or [None])[0]


def info_from_metadata(name: str, version: str, files: list[DistFile], metadata: bytes | None) -> dict[str, Any]:
    info: dict[str, Any] = dict.fromkeys(sorted(set(_INFO_FIELDS.values())))
    info.update({"classifiers": [], "name": name, "version": version, "keywords": None, "bugtrack_url": None,
                 "docs_url": None, "package_url": None, "project_url": None, "release_url": None,
                 "requires_python": next((f.requires_python for f in files if f.requires_python), None),
                 "yanked": all(f.yanked is not False for f in files),
                 "yanked_reason": next((f.yanked for f in files if isinstance(f.yanked, str)), None)})
    if metadata is None:
        return info
    from packaging.metadata import parse_email  # here: a run that renders no JSON API page never loads it

    raw, _unparsed = parse_email(metadata)
    for field, key in _INFO_FIELDS.items():
        if field in raw:
            info[key] = raw[field]  # type: ignore[literal-required]
    if "keywords" in raw:
        info["keywords"] = ",".join(raw["keywords"])
    if raw.get("name"):
        info["name"] = raw["name"]
    return info


def json_api_document(page: ProjectPage, read_metadata: Callable[[DistFile], bytes | None],
                      public_url: str = "") -> bytes:
    """The project's JSON API document.  read_metadata returns a file's stored .metadata (None if absent)."""
    directory = f"{JSON_API_PREFIX}{page.name}/"
    releases = _releases(page)
    latest = latest_version(releases)
    files = releases.get(latest, []) if latest is not None else []
    source = metadata_source(files)
    metadata = read_metadata(source) if source is not None else None
    display = page.display_name or page.name
    info = info_from_metadata(display, latest or "", files, metadata) if latest is not None else None
    entries = {version: [_file_entry(f, link_to(directory, f.key, public_url)) for f in items]
               for version, items in releases.items()}
    document = {
        "info": info,
        "last_serial": page.last_serial,
        "releases": entries,
        "urls": entries.get(latest, []) if latest is not None else [],
        # no "vulnerabilities": the mirror does not know them, and an empty list would claim there are none
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def json_api_objects(page: ProjectPage, read_bytes: Callable[[str], bytes | None],
                     public_url: str = "") -> list[tuple[str, bytes, str]]:
    """(key, bytes, content type) of the JSON API objects of one project, reading at most one .metadata."""
    document = json_api_document(page, lambda item: read_bytes(item.metadata_key), public_url)
    return [(json_api_key(page.name), document, JSON_API_TYPE)]
