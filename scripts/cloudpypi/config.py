"""The mirror's configuration: one typed object, read from TOML, then overridden by the CLI.

Example (every key is optional; these are the defaults unless noted)::

    [mirror]
    origin = "https://pypi.org"
    target = "./mirror"                 # a folder, or s3://bucket[/prefix]
    workers = 10                        # concurrent downloads (and uploads)
    processes = 0                       # transfer processes sharing those downloads (0 = one per CPU, max 4)
    timeout = 30                        # seconds, per connect/read
    retries = 5                         # per request, with exponential backoff and jitter
    index_max_age = 600                 # Cache-Control max-age of index pages, seconds
    deletion_grace = 86400              # seconds a file removed upstream stays fetchable
    max_file_size = "10GiB"             # files above this are skipped and reported (not mirrored, no failure)
    max_xmlrpc_size = "32MiB"           # decoded size cap of one XML-RPC (changelog) answer
    max_root_index_size = "512MiB"      # decoded size cap of the origin's root index
    max_page_size = "64MiB"             # decoded size cap of one project page
    allowed_hosts = []                  # file hosts besides the origin's and files.pythonhosted.org
    state_dir = ""                      # local working copy of an S3 target's state (default: cache dir)
    stall_timeout = 1800                # seconds without progress before a run is stopped (0 = never)
    public_url = ""                     # the mirror's own base URL (https://pypi.example.com); when set,
                                        # PEP 740 provenance and JSON API links are absolute, else relative

    [filters]
    allow = []                          # project names (normalized on load); empty = everything;
                                        # "black==24.*" mirrors only that project's matching releases
    block = []
    allow_regex = []                    # re.fullmatch against the normalized name
    block_regex = []
    exclude_platforms = []              # fnmatch patterns on wheel platform tags, e.g. "win*", "macosx*"
    max_file_size = ""                  # a tighter cap for this mirror, e.g. "200MiB"
    latest_releases = 0                 # keep only the newest N releases (0 = all)
    prereleases = true                  # false drops pre- and dev-releases
    pythons = []                        # e.g. ["3.10", "3.11", "3.12", "3.13"]: drop files only for other Pythons
    max_project_size = ""               # per project: keep the newest releases that fit, e.g. "2GiB"

    [monitoring]
    cloudwatch_namespace = ""           # non-empty: publish run metrics to CloudWatch after each run

    [private]                           # uploaded projects (cloudpypi upload; see cloudpypi.private)
    max_upload_size = "100MiB"          # a larger distribution is refused
    track_origin = []                   # private projects that also list the origin's releases (PEP 708)

    [invalidation]                      # read by `cloudpypi invalidate`; a sync never invalidates
    distribution_id = ""
    policy = "auto"                     # auto | changed | wildcard | none
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from packaging.utils import canonicalize_name

from cloudpypi.errors import ConfigError

if TYPE_CHECKING:
    from cloudpypi.origin import AnswerCaps

DEFAULT_ORIGIN = "https://pypi.org"
PYPI_FILES_HOST = "files.pythonhosted.org"
DEFAULT_MAX_FILE_SIZE = 10 * 2**30

_SIZE_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
               "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_size(value: int | str, what: str) -> int:
    """'10GiB' -> 10737418240; ints pass through."""
    if isinstance(value, bool):
        raise ConfigError(f"{what}: expected a size like 200MiB, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ConfigError(f"{what}: a size cannot be negative")
        return value
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?i?B?)\s*", str(value), re.IGNORECASE)
    if not match or match.group(2).upper() not in _SIZE_UNITS:
        raise ConfigError(f"{what}: expected a size like 200MiB or 10GB, got {value!r}")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).upper()])


@dataclass(frozen=True)
class Filters:
    allow: frozenset[str] = frozenset()
    block: frozenset[str] = frozenset()
    allow_regex: tuple[str, ...] = ()
    block_regex: tuple[str, ...] = ()
    exclude_platforms: tuple[str, ...] = ()
    max_file_size: int = 0
    latest_releases: int = 0
    prereleases: bool = True
    pins: tuple[tuple[str, str], ...] = ()  # (normalized name, PEP 440 specifier) from allow entries
    pythons: tuple[str, ...] = ()  # "3.12": the Python versions the mirror serves (empty: every one)
    max_project_size: int = 0

    def pin(self, name: str) -> str | None:
        return next((spec for pinned, spec in self.pins if pinned == name), None)

    def fingerprint(self) -> str:
        """Changes whenever a filter changes, so the next run re-evaluates every project."""
        import hashlib
        import json

        data = {f.name: sorted(v) if isinstance(v, frozenset | tuple) else v
                for f in fields(self) for v in [getattr(self, f.name)]
                # filters added later count only when set, so an upgrade alone does not re-plan every project
                if f.name not in _LATER_FILTERS or v != f.default}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


_LATER_FILTERS = frozenset({"pins", "pythons", "max_project_size"})
_PYTHON_VERSION = re.compile(r"^[23]\.\d{1,2}$")


@dataclass(frozen=True)
class Config:
    origin: str = DEFAULT_ORIGIN
    target: str = "./mirror"
    workers: int = 10
    processes: int = 0
    timeout: float = 30.0
    retries: int = 5
    index_max_age: int = 600
    deletion_grace: int = 86400
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    max_xmlrpc_size: int = 32 * 2**20
    max_root_index_size: int = 512 * 2**20
    max_page_size: int = 64 * 2**20
    allowed_hosts: tuple[str, ...] = ()
    state_dir: str = ""
    stall_timeout: float = 1800.0  # the run watchdog (cloudpypi.watchdog); 0 turns it off
    public_url: str = ""  # the mirror's own base URL: provenance and JSON API links become absolute
    filters: Filters = field(default_factory=Filters)
    cloudwatch_namespace: str = ""
    distribution_id: str = ""
    invalidation_policy: str = "auto"
    closure: dict[str, Any] = field(default_factory=dict)  # read by cloudpypi.closure
    max_upload_size: int = 100 * 2**20  # [private]: read by cloudpypi.upload
    private_track_origin: frozenset[str] = frozenset()  # [private] track_origin: read by cloudpypi.private

    def file_hosts(self) -> frozenset[str]:
        """Hostnames (any port) that file URLs may point at."""
        from urllib.parse import urlsplit

        origin_host = (urlsplit(self.origin).hostname or "").lower()
        return frozenset({origin_host, PYPI_FILES_HOST, *(h.lower() for h in self.allowed_hosts)})

    def answer_caps(self) -> AnswerCaps:
        """Caps on the decoded size of the origin's answers (see cloudpypi.origin.AnswerCaps)."""
        from cloudpypi.origin import AnswerCaps

        return AnswerCaps(xmlrpc=self.max_xmlrpc_size, root_index=self.max_root_index_size, page=self.max_page_size)

    def filters_fingerprint(self) -> str:
        """The filters' fingerprint, and the file size cap (raising it brings skipped files in)."""
        if self.max_file_size == DEFAULT_MAX_FILE_SIZE:
            return self.filters.fingerprint()
        return f"{self.filters.fingerprint()}-{self.max_file_size}"

    def with_overrides(self, **overrides: Any) -> Config:
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


def _expect(table: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = table[key]
    if not isinstance(value, kind) or (kind in (int, float) and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"{where}.{key}: expected {names}, got {value!r}")
    return value


def _str_list(table: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = _expect(table, key, list, where)
    if not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{where}.{key}: expected a list of strings")
    return tuple(value)


def _allow_entries(entries: tuple[str, ...], where: str) -> tuple[frozenset[str], tuple[tuple[str, str], ...]]:
    """Names, and PEP 440 release pins: "requests", "black==24.*", "requests>=2.30"."""
    from packaging.requirements import InvalidRequirement, Requirement

    names: set[str] = set()
    pins: dict[str, str] = {}
    for entry in entries:
        try:
            requirement = Requirement(entry)
        except InvalidRequirement as exc:
            raise ConfigError(f"{where}: {entry!r} is neither a project name nor name + version specifier: "
                              f"{exc}") from None
        if requirement.extras or requirement.marker or requirement.url:
            raise ConfigError(f"{where}: {entry!r}: an allow entry takes a name and a version specifier only")
        name = canonicalize_name(requirement.name)
        if name in pins or (requirement.specifier and name in names):
            raise ConfigError(f"{where}: {name} is listed twice; join its specifiers in one entry")
        names.add(name)
        if requirement.specifier:
            pins[name] = str(requirement.specifier)
    return frozenset(names), tuple(sorted(pins.items()))


def _check_regexes(patterns: tuple[str, ...], where: str) -> None:
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"{where}: invalid regular expression {pattern!r}: {exc}") from None


def parse_config(data: dict[str, Any], source: str = "config", base_dir: Path | None = None) -> Config:
    known = {"mirror", "filters", "monitoring", "invalidation", "closure", "private"}
    if unknown := set(data) - known:
        raise ConfigError(f"{source}: unknown section(s) {sorted(unknown)}; known: {sorted(known)}")
    mirror = data.get("mirror", {})
    kwargs: dict[str, Any] = {}
    simple_keys = {"origin": str, "target": str, "workers": int, "processes": int, "timeout": (int, float),
                   "retries": int, "index_max_age": int, "deletion_grace": int, "state_dir": str,
                   "stall_timeout": (int, float), "public_url": str}
    for key in mirror:
        where = f"{source} [mirror]"
        if key in simple_keys:
            kwargs[key] = _expect(mirror, key, simple_keys[key], where)
        elif key == "max_file_size":
            kwargs[key] = parse_size(mirror[key], f"{where}.max_file_size")
        elif key in ("max_xmlrpc_size", "max_root_index_size", "max_page_size"):
            kwargs[key] = parse_size(mirror[key], f"{where}.{key}")
            if kwargs[key] < 1024:
                raise ConfigError(f"{where}.{key}: {kwargs[key]} bytes is too small for any origin answer")
        elif key == "allowed_hosts":
            kwargs[key] = tuple(h.lower() for h in _str_list(mirror, key, where))
        else:
            raise ConfigError(f"{where}: unknown key {key!r}")
    if kwargs.get("workers", 1) < 1 or kwargs.get("workers", 1) > 256:
        raise ConfigError(f"{source} [mirror].workers: must be between 1 and 256")
    if kwargs.get("stall_timeout", 0) < 0:
        raise ConfigError(f"{source} [mirror].stall_timeout: seconds without progress, 0 (never) or more")
    public = kwargs.get("public_url", "")
    if public and (urlsplit(public).scheme not in ("http", "https") or not urlsplit(public).hostname
                   or urlsplit(public).query or urlsplit(public).fragment):
        raise ConfigError(f"{source} [mirror].public_url: {public!r} is not an http(s) base URL")
    if not 0 <= kwargs.get("processes", 0) <= 64:
        raise ConfigError(f"{source} [mirror].processes: must be between 0 (automatic) and 64")

    flt = data.get("filters", {})
    fkw: dict[str, Any] = {}
    for key in flt:
        where = f"{source} [filters]"
        if key == "allow":
            names, pins = _allow_entries(_str_list(flt, key, where), f"{where}.allow")
            fkw["allow"], fkw["pins"] = names, pins
        elif key == "block":
            fkw[key] = frozenset(canonicalize_name(n) for n in _str_list(flt, key, where))
        elif key in ("allow_regex", "block_regex"):
            fkw[key] = _str_list(flt, key, where)
            _check_regexes(fkw[key], f"{where}.{key}")
        elif key == "exclude_platforms":
            fkw[key] = _str_list(flt, key, where)
        elif key == "max_file_size":
            fkw[key] = parse_size(flt[key], f"{where}.max_file_size") if flt[key] != "" else 0
        elif key == "latest_releases":
            fkw[key] = _expect(flt, key, int, where)
            if fkw[key] < 0:
                raise ConfigError(f"{where}.latest_releases: must be 0 (all) or more")
        elif key == "prereleases":
            fkw[key] = _expect(flt, key, bool, where)
        elif key == "pythons":
            fkw[key] = _str_list(flt, key, where)
            if bad := [v for v in fkw[key] if not _PYTHON_VERSION.match(v)]:
                raise ConfigError(f"{where}.pythons: expected versions like \"3.12\", got {bad}")
        elif key == "max_project_size":
            fkw[key] = parse_size(flt[key], f"{where}.max_project_size") if flt[key] != "" else 0
        else:
            raise ConfigError(f"{where}: unknown key {key!r}")
    kwargs["filters"] = Filters(**fkw)

    mon = data.get("monitoring", {})
    for key in mon:
        if key != "cloudwatch_namespace":
            raise ConfigError(f"{source} [monitoring]: unknown key {key!r}")
        kwargs["cloudwatch_namespace"] = _expect(mon, key, str, f"{source} [monitoring]")

    inv = data.get("invalidation", {})
    for key in inv:
        if key == "distribution_id":
            kwargs["distribution_id"] = _expect(inv, key, str, f"{source} [invalidation]")
        elif key == "policy":
            policy = _expect(inv, key, str, f"{source} [invalidation]")
            if policy not in ("auto", "changed", "wildcard", "none"):
                raise ConfigError(f"{source} [invalidation].policy: one of auto, changed, wildcard, none")
            kwargs["invalidation_policy"] = policy
        else:
            raise ConfigError(f"{source} [invalidation]: unknown key {key!r}")

    if "closure" in data:
        kwargs["closure"] = _closure_table(data["closure"], source, base_dir)
    if "private" in data:
        kwargs.update(_private_table(data["private"], source))
    return Config(**kwargs)


def _private_table(table: Any, source: str) -> dict[str, Any]:
    """The ``[private]`` table (uploaded projects, see cloudpypi.private): Config keyword arguments."""
    where = f"{source} [private]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table")
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        if key == "max_upload_size":
            kwargs["max_upload_size"] = parse_size(value, f"{where}.max_upload_size")
            if kwargs["max_upload_size"] < 1024:
                raise ConfigError(f"{where}.max_upload_size: {kwargs['max_upload_size']} bytes is too small")
        elif key == "track_origin":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{where}.track_origin: expected a list of project names")
            kwargs["private_track_origin"] = frozenset(canonicalize_name(v) for v in value)
        else:
            raise ConfigError(f"{where}: unknown key {key!r}")
    return kwargs


def _closure_table(table: Any, source: str, base_dir: Path | None) -> dict[str, Any]:
    """Validated at load time (a bad table is a usage error, exit 2); relative requirement files are
    taken from the config file's folder, so the systemd unit's working directory does not matter."""
    from cloudpypi.closurespec import parse_closure

    if not isinstance(table, dict):
        raise ConfigError(f"{source} [closure]: expected a table")
    table = dict(table)
    files = table.get("requirements_files")
    if base_dir is not None and isinstance(files, list):
        table["requirements_files"] = [str(base_dir / f) if isinstance(f, str) else f for f in files]
    parse_closure(table)
    return table


def load_config(path: str | Path | None) -> Config:
    if path is None:
        return Config()
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(data, str(path), path.parent.absolute())
