"""Computing a closure selection, and deciding when the stored one can be reused.

Every environment resolves in its own thread over one shared ProjectIndex, so each project page and
each file's metadata is fetched at most once per run however many environments need it.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import logging
import time
from dataclasses import dataclass, field

from cloudpypi.closure.index import ProjectIndex
from cloudpypi.closure.metadata import CoreMetadata
from cloudpypi.closure.provider import EnvResult
from cloudpypi.closure.resolve import resolve_environment
from cloudpypi.closure.store import ClosureRecord, EnvRecord
from cloudpypi.closurespec import ClosureSpec
from cloudpypi.errors import CloudPyPIError
from cloudpypi.filters import file_version
from cloudpypi.model import ProjectPage
from cloudpypi.origin import OriginClient
from cloudpypi.platforms import Environment

log = logging.getLogger(__name__)


@dataclass
class Computation:
    record: ClosureRecord
    pages: dict[str, ProjectPage]
    used_metadata: dict[str, CoreMetadata]
    fetched: dict[str, int]
    seconds: float
    sizes: dict[str, int] = field(default_factory=dict)  # filename -> bytes (None-sized files count 0)
    unknown_sizes: int = 0


def _group_failures(results: list[EnvResult], extra: list[tuple[str, str, str]],
                    all_envs: int) -> list[tuple[str, str]]:
    """(subject, reason) per distinct failure, naming the environments it happens in."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for result in results:
        for subject, reason in result.failures:
            grouped.setdefault((subject, reason), []).append(result.env.label)
    for subject, reason, label in extra:
        grouped.setdefault((subject, reason), []).append(label)
    failures = []
    for (subject, reason), labels in grouped.items():
        where = f"all {all_envs} environments" if len(labels) == all_envs and all_envs > 1 else ", ".join(labels)
        failures.append((subject, f"{reason} [{where}]"))
    return failures


def compute(spec: ClosureSpec, origin: OriginClient, *, workers: int = 8,
            known_metadata: dict[str, CoreMetadata] | None = None) -> Computation:
    started = time.monotonic()
    envs = spec.environments
    index = ProjectIndex(origin, workers=workers, known_metadata=known_metadata)
    results: list[EnvResult] = []
    broken: list[tuple[str, str, str]] = []
    try:
        with cf.ThreadPoolExecutor(max(1, min(workers, len(envs))), thread_name_prefix="closure-env") as pool:
            futures = {pool.submit(resolve_environment, env, spec.requirements, index, spec.releases): env
                       for env in envs}
            for future in cf.as_completed(futures):
                env = futures[future]
                try:
                    results.append(future.result())
                except CloudPyPIError as exc:
                    broken.append(("(closure)", f"the origin could not be read, so the previous selection is "
                                                    f"kept and recomputed next run: {exc}", env.label))
    finally:
        index.close()
    results.sort(key=lambda r: envs.index(r.env))
    pages = index.pages()
    files: dict[str, set[str]] = {}
    sizes: dict[str, int] = {}
    unknown = 0
    for result in results:
        for name, by_version in result.files.items():
            chosen = files.setdefault(name, set())
            for version, item in by_version.items():
                picked = [item]
                if spec.sdists and name in pages:
                    picked += [f for f in pages[name].files
                               if not f.filename.endswith(".whl") and file_version(f.filename) == version]
                for dist in picked:
                    if dist.filename not in chosen:
                        chosen.add(dist.filename)
                        sizes[dist.filename] = dist.size or 0
                        unknown += dist.size is None
    environments = [_env_record(r) for r in results]
    record = ClosureRecord(
        fingerprint=spec.fingerprint(), origin=origin.base, serial=None, touched=sorted(index.touched),
        files={name: sorted(names) for name, names in sorted(files.items())}, environments=environments,
        failures=_group_failures(results, broken, len(envs)), requirements=[str(r) for r in spec.requirements],
        complete=not broken)
    return Computation(record, pages, dict(index.used_metadata), dict(index.fetched), time.monotonic() - started,
                       sizes, unknown)


def _env_record(result: EnvResult) -> EnvRecord:
    env: Environment = result.env
    pins = {name: sorted(str(v) for v in versions) for name, versions in sorted(result.pins.items())}
    return EnvRecord(env.key, env.label, pins, result.edges)


def files_digest(names: list[str] | frozenset[str]) -> str:
    return hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()[:16]
