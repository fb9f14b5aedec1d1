"""Which projects and files a mirror keeps.  Pure functions over the config's Filters."""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Iterable

from packaging.specifiers import InvalidSpecifier, SpecifierSet
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


# Interpreter tags: an implementation, then the major version and (optionally) the minor one.
_INTERPRETER = re.compile(r"^(py|cp|pp|ip|jy|graalpy)(\d)(\d*)$")
_LEGACY_PYTHON = re.compile(r"-py(\d)\.(\d+)(?:[-.]|$)")  # eggs and installers: name-1.0-py2.7.egg


@functools.lru_cache(maxsize=64)
def _served(pythons: tuple[str, ...]) -> frozenset[tuple[int, int]]:
    return frozenset((int(major), int(minor)) for major, minor in (v.split(".") for v in pythons))


@functools.lru_cache(maxsize=4096)
def _requires_python_serves(requires_python: str, served: frozenset[tuple[int, int]]) -> bool:
    try:
        spec = SpecifierSet(requires_python)
    except InvalidSpecifier:
        return True  # unreadable: the file is kept rather than guessed away
    # A Python X.Y is served by the mirror from X.Y.0 on; ">=3.10.4" is still a file for 3.10.
    return any(spec.contains(f"{major}.{minor}.{micro}", prereleases=True)
               for major, minor in served for micro in (0, 99))


def _tag_serves(interpreter: str, abi: str, served: frozenset[tuple[int, int]]) -> bool:
    """Whether a wheel tag's interpreter runs on a served Python (unknown interpreters: yes)."""
    match = _INTERPRETER.match(interpreter)
    if not match:
        return True
    implementation, major, minor = match.group(1), int(match.group(2)), match.group(3)
    if not minor:  # py3: any 3.x
        return any(v[0] == major for v in served)
    # py38 and cp38-abi3 run on 3.8 and every later 3.x; cp38-cp38 and pp38 on 3.8 alone
    if implementation == "py" or abi == "abi3":
        return any(v[0] == major and v[1] >= int(minor) for v in served)
    return (major, int(minor)) in served


def serves_python(item: DistFile, pythons: tuple[str, ...]) -> bool:
    """False when a file is only for Pythons the mirror does not serve (by requires-python and tags)."""
    if not pythons:
        return True
    served = _served(pythons)
    if item.requires_python and not _requires_python_serves(item.requires_python, served):
        return False
    if item.filename.endswith(".whl"):
        try:
            tags = parse_wheel_filename(item.filename)[3]
        except (InvalidWheelFilename, InvalidVersion):
            return True
        return any(_tag_serves(tag.interpreter, tag.abi, served) for tag in tags)
    if not item.filename.endswith((".tar.gz", ".zip", ".tar.bz2", ".tgz")):
        legacy = _LEGACY_PYTHON.search(item.filename)
        if legacy:
            return (int(legacy.group(1)), int(legacy.group(2))) in served
    return True


def _pinned(item: DistFile, version: Version | None, spec: SpecifierSet) -> bool:
    return version is not None and spec.contains(version, prereleases=True)


def _within_project_cap(files: list[DistFile], versions: dict[DistFile, Version | None], cap: int) -> list[DistFile]:
    """Whole releases, newest first, each kept when it still fits in cap bytes with those kept before it (a
    release too big on its own is passed over, not the end); files of no known release come last."""
    sizes: dict[Version | None, int] = {}
    for item in files:
        sizes[versions[item]] = sizes.get(versions[item], 0) + (item.size or 0)
    order = sorted((v for v in sizes if v is not None), reverse=True) + ([None] if None in sizes else [])
    keep: set[Version | None] = set()
    total = 0
    for version in order:
        if total + sizes[version] > cap:
            continue
        total += sizes[version]
        keep.add(version)
    return [item for item in files if versions[item] in keep]


def select_files(files: Iterable[DistFile], filters: Filters, project: str = "") -> tuple[DistFile, ...]:
    """The files a mirror keeps for one project (project: its normalized name, for release pins), in the
    origin's order."""
    kept = []
    for item in files:
        if filters.max_file_size and item.size is not None and item.size > filters.max_file_size:
            continue
        if filters.exclude_platforms and _platform_excluded(item.filename, filters.exclude_platforms):
            continue
        if filters.pythons and not serves_python(item, filters.pythons):
            continue
        kept.append(item)
    pin = filters.pin(project) if filters.pins else None
    if filters.prereleases and not filters.latest_releases and not pin and not filters.max_project_size:
        return tuple(kept)
    versions: dict[DistFile, Version | None] = {item: file_version(item.filename) for item in kept}
    if pin:
        spec = SpecifierSet(pin)
        kept = [item for item in kept if _pinned(item, versions[item], spec)]
    if not filters.prereleases:
        kept = [item for item in kept if (v := versions[item]) is not None and not v.is_prerelease]
    if filters.latest_releases:
        newest = sorted({v for item in kept if (v := versions[item]) is not None}, reverse=True)
        keep_versions = set(newest[: filters.latest_releases])
        kept = [item for item in kept if versions[item] in keep_versions]
    if filters.max_project_size:
        kept = _within_project_cap(kept, versions, filters.max_project_size)
    return tuple(kept)


def versions_of(files: Iterable[DistFile]) -> tuple[str, ...]:
    found = {v for item in files if (v := file_version(item.filename)) is not None}
    return tuple(str(v) for v in sorted(found))
