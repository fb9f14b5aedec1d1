"""Target environments (a Python version x a platform): their wheel tags, in pip's order, and markers.  Pure.

A platform names the *newest* tag the target hosts accept; older compatible tags follow, as an
installer running on such a host would accept them:

- ``manylinux_2_28_x86_64``: manylinux_2_28 down to manylinux_2_5 (x86_64/i686) or manylinux_2_17 (other
  architectures), with the legacy aliases manylinux2014 (2_17), manylinux2010 (2_12), manylinux1 (2_5);
- ``manylinux2014_x86_64`` and friends: the same as their PEP 600 equivalent;
- ``musllinux_1_2_x86_64``: musllinux_1_2 down to musllinux_1_0;
- ``macosx_11_0_arm64``: what packaging.tags.mac_platforms gives for that version and architecture;
- ``linux_x86_64``, ``win_amd64``, ``win32``, ``win_arm64``: exactly that tag.

Pure wheels (``py3-none-any`` and the older ``py3X-none-any``) always fit, subject to Requires-Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from packaging.tags import Tag, compatible_tags, cpython_tags, mac_platforms
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from cloudpypi.errors import ConfigError

_MANYLINUX = re.compile(r"manylinux_(\d+)_(\d+)_(\w+)")
_LEGACY_MANYLINUX = {"manylinux2014": (2, 17), "manylinux2010": (2, 12), "manylinux1": (2, 5)}
_LEGACY_ALIAS = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}
_MUSLLINUX = re.compile(r"musllinux_(\d+)_(\d+)_(\w+)")
_MACOSX = re.compile(r"macosx_(\d+)_(\d+)_(\w+)")
_LINUX = re.compile(r"linux_(\w+)")
_WINDOWS = {"win32": "x86", "win_amd64": "AMD64", "win_arm64": "ARM64"}
ACCEPTED_FORMS = ("manylinux_2_28_x86_64", "manylinux2014_aarch64", "musllinux_1_2_x86_64", "macosx_11_0_arm64",
                  "linux_x86_64", "win_amd64", "win32", "win_arm64")


def _legacy(platform: str) -> tuple[int, int, str] | None:
    prefix, _, arch = platform.partition("_")
    if prefix in _LEGACY_MANYLINUX and arch:
        major, minor = _LEGACY_MANYLINUX[prefix]
        return major, minor, arch
    return None


def check_platform(platform: str) -> None:
    if (platform in _WINDOWS or _legacy(platform) or _MANYLINUX.fullmatch(platform) or _MUSLLINUX.fullmatch(platform)
            or _MACOSX.fullmatch(platform) or _LINUX.fullmatch(platform)):
        return
    raise ConfigError(f"[closure].platforms: {platform!r} is not a wheel platform tag this mirror understands; "
                      f"use forms like {', '.join(ACCEPTED_FORMS)}")


def platform_tags(platform: str) -> list[str]:
    """Every platform tag a host of this platform accepts, best first."""
    found = _MANYLINUX.fullmatch(platform)
    legacy = _legacy(platform)
    if found or legacy:
        major, minor, arch = (int(found[1]), int(found[2]), found[3]) if found else legacy  # type: ignore[misc]
        lowest = 5 if arch in ("x86_64", "i686") else 17
        tags = []
        for glibc_minor in range(minor, lowest - 1, -1) if major == 2 else ():
            tags.append(f"manylinux_2_{glibc_minor}_{arch}")
            if (2, glibc_minor) in _LEGACY_ALIAS:
                tags.append(f"{_LEGACY_ALIAS[(2, glibc_minor)]}_{arch}")
        return tags or [platform]
    if found := _MUSLLINUX.fullmatch(platform):
        major, minor, arch = int(found[1]), int(found[2]), found[3]
        return [f"musllinux_{major}_{m}_{arch}" for m in range(minor, -1, -1)]
    if found := _MACOSX.fullmatch(platform):
        return list(mac_platforms((int(found[1]), int(found[2])), found[3]))
    return [platform]


def _machine(platform: str) -> tuple[str, str, str, str]:
    """(platform_machine, sys_platform, platform_system, os_name) of a host of this platform."""
    if platform in _WINDOWS:
        return _WINDOWS[platform], "win32", "Windows", "nt"
    if platform.startswith("macosx"):
        arch = platform.rsplit("_", 1)[-1]
        return ("arm64" if arch in ("arm64", "universal2") else "x86_64"), "darwin", "Darwin", "posix"
    legacy = _legacy(platform)
    arch = legacy[2] if legacy else re.sub(r"^(manylinux|musllinux)_\d+_\d+_|^linux_", "", platform)
    return arch, "linux", "Linux", "posix"


@dataclass(frozen=True)
class Environment:
    """One target: CPython ``python`` ("3.11" or "3.11.4") on ``platform``."""

    python: str
    platform: str

    @property
    def label(self) -> str:
        return f"cp{self.python} {self.platform}"

    @property
    def key(self) -> str:
        return f"{self.python}/{self.platform}"

    @property
    def version_info(self) -> tuple[int, int]:
        major, minor = self.python.split(".")[:2]
        return int(major), int(minor)

    @property
    def full_version(self) -> str:
        """What pip --python-version X.Y assumes: X.Y.0 unless the patch level is given."""
        return self.python if self.python.count(".") == 2 else self.python + ".0"

    @cached_property
    def platform_tags(self) -> list[str]:
        return platform_tags(self.platform)

    @cached_property
    def tags(self) -> list[Tag]:
        """Supported tags, best first (the order pip's get_supported gives for these flags)."""
        platforms = self.platform_tags
        found = list(cpython_tags(self.version_info, platforms=platforms))
        found += compatible_tags(self.version_info, f"cp{self.version_info[0]}{self.version_info[1]}", platforms)
        return list(dict.fromkeys(found))

    @cached_property
    def rank(self) -> dict[Tag, int]:
        return {tag: index for index, tag in enumerate(self.tags)}

    @cached_property
    def markers(self) -> dict[str, str]:
        machine, sys_platform, system, os_name = _machine(self.platform)
        return {
            "implementation_name": "cpython",
            "implementation_version": self.full_version,
            "os_name": os_name,
            "platform_machine": machine,
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_system": system,
            "platform_version": "",
            "python_full_version": self.full_version,
            "python_version": ".".join(str(p) for p in self.version_info),
            "sys_platform": sys_platform,
        }

    def wheel_rank(self, filename: str) -> tuple[int, tuple[int, ...]] | None:
        """(tag priority, -build) for a wheel that fits this environment (lower is better); None if not."""
        try:
            _name, _version, build, tags = parse_wheel_filename(filename)
        except (InvalidWheelFilename, InvalidVersion):
            return None
        ranks = [self.rank[tag] for tag in tags if tag in self.rank]
        if not ranks:
            return None
        build_key = tuple(-part for part in build[:1]) if build else (0,)
        return min(ranks), build_key

    def python_fits(self, requires_python: str | None) -> bool:
        if not requires_python:
            return True
        from packaging.specifiers import InvalidSpecifier, SpecifierSet

        try:
            return SpecifierSet(requires_python).contains(Version(self.full_version), prereleases=True)
        except InvalidSpecifier:
            return True  # pip ignores an unparseable Requires-Python too


def environments(pythons: tuple[str, ...], platforms: tuple[str, ...]) -> tuple[Environment, ...]:
    return tuple(Environment(python, platform) for python in pythons for platform in platforms)
