"""Which projects and files a mirror keeps.  Pure functions over the config's Filters."""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Iterable

from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, parse_sdist_filename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from cloudpypi.config import Filters
from cloudpypi.model import DistFile

# name-VERSION followed by a platform/python marker or an archive suffix (eggs, bdist_wininst, rpms)
_LEGACY_VERSION = re.compile(
    r"^[A-Za-z0-9_.]+?-(?P<version>[0-9][^-]*?)"
    r"(?:[-.](?:py|win|linux|macosx|cp)|\.tar|\.zip|\.exe|\.egg|\.msi|\.rpm|\.dmg|-|$)"
)


@functools.lru_cache(maxsize=64)
def _compiled(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p) for p in patterns)


def project_allowed(name: str, filters: Filters) -> bool:
    """name is normalized."""
    if name in filters.block or any(p.fullmatch(name) for p in _compiled(filters.block_regex)):
        return False
    if not filters.allow and not filters.allow_regex:
        return True
    return name in filters.allow or any(p.fullmatch(name) for p in _compiled(filters.allow_regex))


def file_version(filename: str) -> Version | None:
    """The release a file belongs to, or None when the name says nothing parseable."""
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[1]
        if filename.endswith((".tar.gz", ".zip")):
            return parse_sdist_filename(filename)[1]
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        pass
    match = _LEGACY_VERSION.match(filename)
    if match:
        try:
            return Version(match.group("version").rstrip("."))
        except InvalidVersion:
            return None
    return None


def wheel_platforms(filename: str) -> frozenset[str]:
    if not filename.endswith(".whl"):
        return frozenset()
    try:
        return frozenset(tag.platform for tag in parse_wheel_filename(filename)[3])
    except (InvalidWheelFilename, InvalidVersion):
        return frozenset()


def _platform_excluded(filename: str, patterns: tuple[str, ...]) -> bool:
    platforms = wheel_platforms(filename)
    # A wheel is dropped only when every platform it supports is excluded ("any" is never excluded).
    return bool(platforms) and all(
        platform != "any" and any(fnmatch.fnmatchcase(platform, p) for p in patterns) for platform in platforms
    )


def select_files(files: Iterable[DistFile], filters: Filters) -> tuple[DistFile, ...]:
    """The files a mirror keeps for one project, in the origin's order."""
    kept = []
    for item in files:
        if filters.max_file_size and item.size is not None and item.size > filters.max_file_size:
            continue
        if filters.exclude_platforms and _platform_excluded(item.filename, filters.exclude_platforms):
            continue
        kept.append(item)
    if filters.prereleases and not filters.latest_releases:
        return tuple(kept)
    versions: dict[DistFile, Version | None] = {item: file_version(item.filename) for item in kept}
    if not filters.prereleases:
        kept = [item for item in kept if (v := versions[item]) is not None and not v.is_prerelease]
    if filters.latest_releases:
        newest = sorted({v for item in kept if (v := versions[item]) is not None}, reverse=True)
        keep_versions = set(newest[: filters.latest_releases])
        kept = [item for item in kept if versions[item] in keep_versions]
    return tuple(kept)


def versions_of(files: Iterable[DistFile]) -> tuple[str, ...]:
    found = {v for item in files if (v := file_version(item.filename)) is not None}
    return tuple(str(v) for v in sorted(found))
