"""How big a mirror will be, before it is built: the input of the forecast (cloudpypi.costs.forecast).

Three sources, chosen by :func:`mirror_size`:

- an **unfiltered mirror of pypi.org**: PyPI's published totals (``pypi`` in data/prices.json, with their
  date).  So is a pypi.org mirror whose filters name no project list: the totals are its upper bound, because
  planning it would mean reading every one of PyPI's project pages;
- an **existing mirror** of the same config (its state records a successful run with the same origin, filters
  and closure): the state's counts;
- otherwise a **dry-run plan** against the origin: the closure computed as `cloudpypi closure --dry-run` does,
  or the filters applied to the origin's project pages (every page up to ``MAX_PAGES`` projects, a random
  sample of ``SAMPLE_PAGES`` scaled up beyond that).  Plans are cached on this machine, keyed by everything
  that decides them (origin, filters, closure), for ``max_age`` seconds.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import logging
import os
import random
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from cloudpypi.config import Config, Filters
from cloudpypi.costs.forecast import MirrorSize, human_bytes
from cloudpypi.costs.prices import PublishedTotals
from cloudpypi.errors import CloudPyPIError, ConfigError

log = logging.getLogger(__name__)

PYPI_HOSTS = frozenset({"pypi.org", "www.pypi.org"})
MAX_PAGES = 2000
SAMPLE_PAGES = 200
DEFAULT_MAX_AGE = 7 * 86400
DAYS_PER_MONTH = 30


def is_pypi(origin: str) -> bool:
    return (urlsplit(origin).hostname or "").lower() in PYPI_HOSTS


def names_projects(filters: Filters) -> bool:
    """True when the filters list the projects by name (an allow list, no pattern): a plan reads only those."""
    return bool(filters.allow) and not filters.allow_regex


def from_published_totals(totals: PublishedTotals, *, upper_bound: bool = False) -> MirrorSize:
    detail = f"PyPI's published totals as of {totals.as_of}"
    notes = [f"the file count is an estimate ({totals.files_estimate:,}): PyPI's totals quoted here have none"]
    if upper_bound:
        detail += ", an upper bound: the filters name no project list, so the whole of PyPI is priced"
    return MirrorSize(totals.projects, totals.files_estimate, totals.live_bytes, "published totals", detail,
                      files_added_per_month=totals.new_files_per_day * DAYS_PER_MONTH,
                      growth_bytes_per_month=totals.growth_bytes_per_month, notes=tuple(notes))


def cache_key(config: Config) -> str:
    """Changes when anything that decides the plan changes: the origin, the filters, the closure."""
    closure = ""
    if config.closure:
        from cloudpypi.closurespec import parse_closure

        closure = parse_closure(config.closure).fingerprint()
    data = {"origin": config.origin.rstrip("/"), "filters": config.filters.fingerprint(), "closure": closure}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:20]


def default_cache_dir() -> Path:
    base = os.environ.get("CLOUDPYPI_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "cloudpypi")
    return Path(base) / "forecast"


class PlanCache:
    """Plans as JSON files named by :func:`cache_key`; a file older than ``max_age`` seconds is stale."""

    def __init__(self, directory: Path, max_age: float = DEFAULT_MAX_AGE) -> None:
        self.directory = directory
        self.max_age = max_age

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def load(self, key: str, now: float | None = None) -> MirrorSize | None:
        path = self.path(key)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            age = (now if now is not None else time.time()) - float(data["created"])
            if age > self.max_age or age < 0:
                return None
            size = MirrorSize.from_json(data["size"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(float(data["created"])))
        return replace(size, detail=f"{size.detail}; cached {when}")

    def store(self, key: str, size: MirrorSize, now: float | None = None) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        record = {"created": now if now is not None else time.time(), "size": size.to_json()}
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".plan-")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(record, out)
        os.replace(tmp, self.path(key))


def from_state(config: Config) -> MirrorSize | None:
    """The counts of an existing mirror of this same config, or None (no mirror, another config, unreadable)."""
    from cloudpypi.layout import STATE_KEY
    from cloudpypi.state import State
    from cloudpypi.storage import is_s3_url, open_target

    if not is_s3_url(config.target) and not (Path(config.target) / STATE_KEY).exists():
        return None
    try:
        with tempfile.TemporaryDirectory(prefix="cloudpypi-forecast-") as scratch:
            local = config.with_overrides(state_dir=scratch)
            storage = open_target(local)
            try:
                if is_s3_url(local.target) and storage.stat(STATE_KEY) is None:
                    return None
                state = State.open(storage, scratch, read_only=True)
                try:
                    return _matching_state(state, config)
                finally:
                    state.close()
            finally:
                storage.close()
    except Exception as exc:  # any failure to read means "no usable state": the plan decides
        log.info("no usable state at %s (%s: %s); planning instead", config.target, type(exc).__name__, exc)
        return None


def _matching_state(state, config: Config) -> MirrorSize | None:  # type: ignore[no-untyped-def]
    if not state.get("last_success"):
        return None
    if (state.get("origin") or "").rstrip("/") != config.origin.rstrip("/"):
        return None
    if state.get("filters") not in (None, config.filters.fingerprint()):
        return None
    if config.closure:
        from cloudpypi.closure import load_record, parse_closure

        record = load_record(state)
        if record is None or record.fingerprint != parse_closure(config.closure).fingerprint():
            return None
    counts = state.counts()
    return MirrorSize(counts["projects"], counts["files"], counts["bytes"], "state",
                      f"the existing mirror {config.target} as its last sync left it")


def _origin(config: Config):  # type: ignore[no-untyped-def]
    from cloudpypi.origin import OriginClient

    return OriginClient.from_config(config)


def plan_closure(config: Config) -> MirrorSize:
    from cloudpypi.closure import compute, parse_closure

    spec = parse_closure(config.closure)
    origin = _origin(config)
    try:
        computation = compute(spec, origin, workers=config.workers)
    finally:
        origin.close()
    record = computation.record
    files = [name for names in record.files.values() for name in names]
    total = sum(computation.sizes.get(name, 0) for name in files)
    notes = [f"cannot be resolved: {subject}: {reason}" for subject, reason in record.failures]
    if computation.unknown_sizes:
        notes.append(f"{computation.unknown_sizes} file(s) of unknown size counted as 0 bytes")
    detail = (f"a dry-run plan of the closure against {config.origin} "
              f"({len(spec.environments)} environment(s))")
    return MirrorSize(len(record.files), len(files), total, "plan", detail, notes=tuple(notes))


def plan_filtered(config: Config, *, max_pages: int = MAX_PAGES, sample: int = SAMPLE_PAGES,
                  seed: int = 0) -> MirrorSize:
    """The filters applied to the origin's project pages (sampled beyond ``max_pages`` projects)."""
    from cloudpypi.filters import project_allowed, select_files
    from cloudpypi.origin import ProjectGone

    origin = _origin(config)
    try:
        if names_projects(config.filters):
            names = sorted(n for n in config.filters.allow if project_allowed(n, config.filters))
        else:
            names = [e.name for e in origin.root_index().entries() if project_allowed(e.name, config.filters)]
        chosen = names if len(names) <= max_pages else random.Random(seed).sample(names, sample)
        missing: list[str] = []

        def page_size(name: str) -> tuple[int, int]:
            try:
                page = origin.project_page(name)
            except ProjectGone:
                missing.append(name)
                return 0, 0
            selected = select_files(page.files, config.filters)
            return len(selected), sum(f.size or 0 for f in selected)

        with cf.ThreadPoolExecutor(max(1, min(config.workers, 16)), thread_name_prefix="forecast") as pool:
            sizes = list(pool.map(page_size, chosen))
    finally:
        origin.close()
    files, total = sum(s[0] for s in sizes), sum(s[1] for s in sizes)
    projects = len(chosen) - len(missing)
    notes = [f"not on the origin: {', '.join(sorted(missing)[:10])}"] if missing else []
    if len(chosen) < len(names):
        scale = len(names) / len(chosen)
        detail = (f"a dry-run plan against {config.origin}: {len(chosen)} of its {len(names):,} projects sampled "
                  f"and scaled up x{scale:.1f}")
        return MirrorSize(round(projects * scale), round(files * scale), round(total * scale), "sampled plan",
                          detail, notes=tuple(notes))
    detail = f"a dry-run plan of the filters against {config.origin} ({len(chosen)} project page(s) read)"
    return MirrorSize(projects, files, total, "plan", detail, notes=tuple(notes))


def mirror_size(config: Config, totals: PublishedTotals | None, *, cache: PlanCache | None = None,
                refresh: bool = False, use_state: bool = True) -> MirrorSize:
    """The size to forecast for ``config`` (see the module's docstring for the order of the sources)."""
    if is_pypi(config.origin) and not config.closure and not names_projects(config.filters):
        if totals is None:
            raise ConfigError("prices.json has no `pypi` totals to forecast a pypi.org mirror with")
        return from_published_totals(totals, upper_bound=config.filters != Filters())
    if use_state and (existing := from_state(config)) is not None:
        return existing
    key = cache_key(config)
    if cache is not None and not refresh and (cached := cache.load(key)) is not None:
        return cached
    try:
        size = plan_closure(config) if config.closure else plan_filtered(config)
    except ConfigError:
        raise
    except (CloudPyPIError, OSError) as exc:
        raise CloudPyPIError(f"cannot plan the mirror against {config.origin} for its forecast: {exc}") from None
    log.info("planned %s in %d files", human_bytes(size.bytes), size.files)
    if cache is not None:
        cache.store(key, size)
    return size
