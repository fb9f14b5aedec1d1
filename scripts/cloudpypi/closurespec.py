"""The [closure] config table, validated into a ClosureSpec.  Reads requirements files; no network.

    [closure]
    requirements = ["django>=5,<6", "celery[redis]"]      # PEP 508
    requirements_files = ["requirements.txt", "pylock.toml"]
    pythons = ["3.11", "3.12", "3.13"]                    # "3.11" means 3.11.0, as pip --python-version does
    platforms = ["manylinux_2_28_x86_64", "manylinux_2_28_aarch64"]
    sdists = false                                        # true: add the sdists of the chosen releases
    releases = "resolved"                                 # or "matching"

Relative requirements_files paths in a config file are taken from that file's folder (config.py resolves
them when it loads the file); in a table built in code they are taken from the working directory.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from cloudpypi.errors import ConfigError
from cloudpypi.platforms import Environment, check_platform, environments

log = logging.getLogger(__name__)

KNOWN_KEYS = ("requirements", "requirements_files", "pythons", "platforms", "sdists", "releases")
RELEASE_MODES = ("resolved", "matching")
_PYTHON = re.compile(r"3\.(\d+)(?:\.(\d+))?")
_WHERE = "[closure]"


@dataclass(frozen=True)
class ClosureSpec:
    requirements: tuple[Requirement, ...]
    pythons: tuple[str, ...]
    platforms: tuple[str, ...]
    sdists: bool = False
    releases: str = "resolved"

    @property
    def environments(self) -> tuple[Environment, ...]:
        return environments(self.pythons, self.platforms)

    def fingerprint(self) -> str:
        """Changes when anything that decides the closure changes (then the next run recomputes it)."""
        data = {"requirements": sorted(str(r) for r in self.requirements), "pythons": list(self.pythons),
                "platforms": list(self.platforms), "sdists": self.sdists, "releases": self.releases}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _strings(table: dict[str, Any], key: str) -> list[str]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{_WHERE}.{key}: expected a list of strings, got {value!r}")
    return value


def parse_requirement(text: str, where: str) -> Requirement:
    try:
        requirement = Requirement(text)
    except InvalidRequirement as exc:
        raise ConfigError(f"{where}: {text!r} is not a PEP 508 requirement: {exc}") from None
    if requirement.url:
        raise ConfigError(f"{where}: {text!r} points at a URL; only requirements on the origin's projects "
                          "can be mirrored")
    return requirement


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """requirements.txt lines with comments removed and backslash continuations joined."""
    lines: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = re.sub(r"(^|\s)#.*$", "", raw)
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line:
            lines.append((start, line))
    if pending.strip():
        lines.append((start, pending.strip()))
    return lines


_IGNORED_OPTIONS = ("-i", "--index-url", "--extra-index-url", "-f", "--find-links", "--pre", "--only-binary",
                    "--no-binary", "--prefer-binary", "--trusted-host", "--no-index", "--use-feature")


def read_requirements_txt(path: Path, seen: set[Path] | None = None) -> list[Requirement]:
    """pip's requirements format: one requirement a line, -r includes; --hash and index options ignored."""
    seen = seen if seen is not None else set()
    path = path.resolve()
    if path in seen:
        return []
    seen.add(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{_WHERE}.requirements_files: cannot read {path}: {exc.strerror or exc}") from None
    found: list[Requirement] = []
    for number, line in _logical_lines(text):
        where = f"{path}:{number}"
        if line.startswith(("-r ", "--requirement ", "-r", "--requirement=")):
            name = re.sub(r"^(-r|--requirement)[=\s]*", "", line).strip()
            found += read_requirements_txt(path.parent / name, seen)
            continue
        if line.startswith(("-c", "--constraint")):
            raise ConfigError(f"{where}: constraints files are not supported; write the pins as requirements")
        if line.startswith(("-e", "--editable")):
            raise ConfigError(f"{where}: an editable requirement cannot be mirrored")
        if line.startswith("-"):
            option = re.split(r"[=\s]", line, maxsplit=1)[0]
            if option not in _IGNORED_OPTIONS:
                log.warning("%s: ignoring option %s", where, option)
            continue
        line = re.sub(r"\s--hash[=\s]\S+", "", line).strip()
        found.append(parse_requirement(line, where))
    return found


def read_pylock(path: Path) -> list[Requirement]:
    """PEP 751 lock files: every package with a version becomes name==version (with its marker)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{_WHERE}.requirements_files: cannot read {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    if not str(data.get("lock-version", "")).startswith("1"):
        raise ConfigError(f"{path}: lock-version {data.get('lock-version')!r} is not a PEP 751 version 1 lock")
    packages = data.get("packages")
    if not isinstance(packages, list):
        raise ConfigError(f"{path}: no [[packages]] array")
    found = []
    for number, package in enumerate(packages, 1):
        if not isinstance(package, dict) or not isinstance(package.get("name"), str):
            raise ConfigError(f"{path}: packages[{number}] has no name")
        version = package.get("version")
        if not isinstance(version, str):
            log.warning("%s: skipping %s: no version (a directory, VCS or archive package)", path, package["name"])
            continue
        text = f"{package['name']}=={version}"
        if isinstance(package.get("marker"), str):
            text += f" ; {package['marker']}"
        found.append(parse_requirement(text, f"{path} packages[{number}]"))
    return found


def read_requirements_file(name: str) -> list[Requirement]:
    path = Path(name).expanduser()
    if path.name == "pylock.toml" or (path.name.startswith("pylock.") and path.suffix == ".toml"):
        return read_pylock(path)
    return read_requirements_txt(path)


def parse_closure(table: dict[str, Any]) -> ClosureSpec:
    """The [closure] table, validated; ConfigError names the key and what is expected."""
    if unknown := sorted(set(table) - set(KNOWN_KEYS)):
        raise ConfigError(f"{_WHERE}: unknown key(s) {unknown}; known: {list(KNOWN_KEYS)}")
    requirements = [parse_requirement(text, f"{_WHERE}.requirements") for text in _strings(table, "requirements")]
    for name in _strings(table, "requirements_files"):
        requirements += read_requirements_file(name)
    if not requirements:
        raise ConfigError(f"{_WHERE}: no requirements: set requirements = [...] or requirements_files = [...]")
    pythons = _strings(table, "pythons")
    if not pythons:
        raise ConfigError(f'{_WHERE}.pythons: list the target Python versions, e.g. ["3.11", "3.12"]')
    for python in pythons:
        if not _PYTHON.fullmatch(python):
            raise ConfigError(f"{_WHERE}.pythons: {python!r} is not a Python 3 version like \"3.12\" or \"3.12.4\"")
    platforms = _strings(table, "platforms")
    if not platforms:
        raise ConfigError(f'{_WHERE}.platforms: list the target platforms, e.g. ["manylinux_2_28_x86_64"]')
    for platform in platforms:
        check_platform(platform)
    sdists = table.get("sdists", False)
    if not isinstance(sdists, bool):
        raise ConfigError(f"{_WHERE}.sdists: expected true or false, got {sdists!r}")
    releases = table.get("releases", "resolved")
    if releases not in RELEASE_MODES:
        raise ConfigError(f"{_WHERE}.releases: expected one of {list(RELEASE_MODES)}, got {releases!r}")
    unique = tuple(dict.fromkeys(requirements, None))
    return ClosureSpec(unique, tuple(dict.fromkeys(pythons)), tuple(dict.fromkeys(platforms)), sdists, releases)
