"""Checking a mirror against its origin: an anchor that no writer of the target controls.

`cloudpypi verify` alone proves the mirror consistent with itself, and whoever can rewrite a file can
rewrite the page that vouches for it.  Here every file the mirror's pages list is compared with the
sha256 and size the origin publishes now, and the stored bytes themselves are hashed (or S3's own
full-object checksum is used, see Storage.content_sha256); writer-set metadata is never believed.

The mirror's three pages of a project are read with the same hardened parsers as the origin's pages:
a tampered page is untrusted input like any other.  What is found falls into four kinds:

- ``tampered``: stored bytes, or a page's claim about them, differ from what the origin publishes;
- ``missing``: a listed file is not stored at all;
- ``unchecked``: the origin's page could not be read, so nothing was proven for that project;
- ``gone``: the origin no longer lists the file (or the project): removed upstream, not tampering.
  The next sync drops it after the deletion grace period.

Pure comparison (``compare_project``) apart from the I/O that feeds it (``OriginVerifier``).
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from cloudpypi.errors import CloudPyPIError, OriginError, UnsafeInput
from cloudpypi.layout import HTML_PAGE, JSON_PAGE, V1_HTML_PAGE, is_file_key, page_dir, page_keys
from cloudpypi.model import DistFile, ProjectPage
from cloudpypi.origin import OriginClient, ProjectGone
from cloudpypi.parse import parse_html_page, parse_json_page
from cloudpypi.state import State
from cloudpypi.storage import Storage

log = logging.getLogger(__name__)

# The mirror's pages link files relatively (../../packages/...); resolved against this made-up host,
# a link that leaves the mirror (another host, another scheme) is refused by the parser.
MIRROR_HOST = "mirror.invalid"
PAGE_FORMATS = {JSON_PAGE: "json", V1_HTML_PAGE: "html", HTML_PAGE: "html"}
TAMPERED, MISSING, UNCHECKED, GONE = "tampered", "missing", "unchecked", "gone"


@dataclass(frozen=True)
class Finding:
    kind: str  # TAMPERED | MISSING | UNCHECKED | GONE
    project: str
    filename: str  # "" for the project as a whole
    what: str
    key: str = ""  # a stored object that holds the wrong bytes (or none): repair deletes and re-fetches it

    def line(self) -> str:
        label = {TAMPERED: "TAMPERED", MISSING: "MISSING", UNCHECKED: "UNCHECKED", GONE: "NOT ON ORIGIN"}[self.kind]
        subject = f"{self.project}: {self.filename}" if self.filename else self.project
        return f"  {label} {subject}: {self.what}"


@dataclass(frozen=True)
class ByteCheck:
    """Stored bytes at key must hash to the origin's sha256 (and size, when the origin gives one)."""

    project: str
    filename: str
    key: str
    sha256: str
    size: int | None
    metadata: bool = False  # the file's PEP 658 .metadata, checked alongside it


@dataclass
class OriginVerifyResult:
    origin: str
    projects: int = 0
    files: int = 0  # distribution files whose bytes were checked
    metadata_files: int = 0  # .metadata files checked alongside them
    bytes: int = 0
    seconds: float = 0.0
    sampled_from: int | None = None  # --sample: how many files the mirror lists in all
    findings: list[Finding] = field(default_factory=list)

    def of(self, *kinds: str) -> list[Finding]:
        return [f for f in self.findings if f.kind in kinds]

    @property
    def failed(self) -> bool:
        """Tampering, a missing file, or a project that could not be checked: integrity is not proven."""
        return bool(self.of(TAMPERED, MISSING, UNCHECKED))

    @property
    def projects_to_repair(self) -> list[str]:
        return sorted({f.project for f in self.of(TAMPERED, MISSING)})

    @property
    def keys_to_delete(self) -> list[str]:
        return sorted({f.key for f in self.of(TAMPERED, MISSING) if is_file_key(f.key)})


# --------------------------------------------------------------------------------------------------- pure


def _short(sha256: str) -> str:
    return sha256[:16] + "…"


def compare_project(name: str, pages: dict[str, ProjectPage], origin: ProjectPage | None,
                    only: frozenset[str] | None = None) -> tuple[list[Finding], list[ByteCheck]]:
    """What a project's mirror pages claim, against the origin's page (None: the origin answers 404).

    Returns the findings that need no I/O (page claims, files gone upstream) and the byte checks to
    run.  `only` restricts the comparison to these filenames (a sample).
    """
    findings: list[Finding] = []
    checks: list[ByteCheck] = []
    listed: dict[str, list[tuple[str, DistFile]]] = {}
    for page_name, page in pages.items():
        for item in page.files:
            if only is None or item.filename in only:
                listed.setdefault(item.filename, []).append((page_name, item))
    published = {item.filename: item for item in origin.files} if origin is not None else {}
    for filename in sorted(listed):
        source = published.get(filename)
        if source is None:
            why = "the origin no longer lists the project" if origin is None else "the origin no longer lists it"
            findings.append(Finding(GONE, name, filename, f"{why}; the next sync removes it after the grace period"))
            continue
        for page_name, claim in listed[filename]:
            if claim.sha256 != source.sha256:
                findings.append(Finding(TAMPERED, name, filename, f"{page_name} lists sha256 {_short(claim.sha256)}, "
                                                                  f"the origin publishes {_short(source.sha256)}"))
            if claim.size is not None and source.size is not None and claim.size != source.size:
                findings.append(Finding(TAMPERED, name, filename, f"{page_name} lists {claim.size} bytes, "
                                                                  f"the origin publishes {source.size}"))
            if claim.key != source.key:
                findings.append(Finding(TAMPERED, name, filename, f"{page_name} links {claim.key}, "
                                                                  f"not the origin's file at {source.key}"))
            # an origin that publishes no .metadata hash for the file gives nothing to compare with
            if claim.has_metadata and source.metadata_sha256 and claim.metadata_sha256 != source.metadata_sha256:
                findings.append(Finding(TAMPERED, name, filename + ".metadata",
                                        f"{page_name} lists sha256 {_short(claim.metadata_sha256 or '')}, "
                                        f"the origin publishes {_short(source.metadata_sha256)}"))
        checks.append(ByteCheck(name, filename, source.key, source.sha256, source.size))
        if source.has_metadata and source.metadata_sha256 and any(c.has_metadata for _, c in listed[filename]):
            checks.append(ByteCheck(name, filename + ".metadata", source.metadata_key, source.metadata_sha256, None,
                                    metadata=True))
    return findings, checks


def check_bytes(check: ByteCheck, found: tuple[str, int] | None) -> Finding | None:
    """The stored object's actual sha256 and size (None: not stored) against the origin's."""
    if found is None:
        return Finding(MISSING, check.project, check.filename, f"not stored at {check.key}", check.key)
    sha256, size = found
    if sha256 == check.sha256 and (check.size is None or size == check.size):
        return None
    expected = f"the origin publishes {_short(check.sha256)}" + (f", {check.size} bytes" if check.size else "")
    return Finding(TAMPERED, check.project, check.filename,
                   f"stored bytes have sha256 {_short(sha256)}, {size} bytes; {expected}", check.key)


def pick_sample(counts: Iterable[tuple[str, int]], total: int, wanted: int,
                rng: random.Random) -> dict[str, set[int]]:
    """`wanted` distinct files drawn uniformly from `total`: {project: {indexes into its files}}.

    `counts` is streamed once, (project, files) in a fixed order: nothing per project is held but the picks.
    """
    chosen = sorted(rng.sample(range(total), min(wanted, total))) if total > 0 else []
    picked: dict[str, set[int]] = {}
    start, position = 0, 0
    for name, count in counts:
        while position < len(chosen) and chosen[position] < start + count:
            picked.setdefault(name, set()).add(chosen[position] - start)
            position += 1
        start += count
        if position == len(chosen):
            break
    return picked


# --------------------------------------------------------------------------------------------------- I/O


class OriginVerifier:
    """Runs the comparison over a mirror with a thread pool; the storage and origin clients are shared."""

    def __init__(self, storage: Storage, origin: OriginClient, workers: int = 10) -> None:
        self.storage = storage
        self.origin = origin
        self.workers = workers

    def mirror_pages(self, name: str) -> tuple[dict[str, ProjectPage], list[Finding]]:
        pages: dict[str, ProjectPage] = {}
        findings: list[Finding] = []
        base = f"https://{MIRROR_HOST}/{page_dir(name)}"
        for page_name, key in page_keys(name).items():
            raw = self.storage.read_bytes(key)
            if raw is None:
                findings.append(Finding(MISSING, name, "", f"page {key} is missing"))
                continue
            try:
                if PAGE_FORMATS[page_name] == "json":
                    pages[page_name] = parse_json_page(raw, base, name, frozenset({MIRROR_HOST}))
                else:
                    pages[page_name] = parse_html_page(raw, base, name, frozenset({MIRROR_HOST}))
            except (OriginError, UnsafeInput) as exc:
                findings.append(Finding(TAMPERED, name, "", f"page {key} cannot be trusted: {exc}"))
        return pages, findings

    def _project(self, name: str, only_indexes: set[int] | None) -> tuple[list[Finding], list[ByteCheck]]:
        try:
            pages, findings = self.mirror_pages(name)
        except (CloudPyPIError, OSError) as exc:
            return [Finding(UNCHECKED, name, "", f"the mirror's pages could not be read: {exc}")], []
        only = None
        if only_indexes is not None:
            listing = sorted({f.filename for page in pages.values() for f in page.files})
            only = frozenset(listing[i % len(listing)] for i in only_indexes) if listing else frozenset()
        try:
            origin_page: ProjectPage | None = self.origin.project_page(name)
        except ProjectGone:
            origin_page = None
        except (OriginError, UnsafeInput) as exc:
            return [*findings, Finding(UNCHECKED, name, "", f"the origin's page could not be read: {exc}")], []
        more, checks = compare_project(name, pages, origin_page, only)
        return findings + more, checks

    def _bytes(self, check: ByteCheck) -> tuple[ByteCheck, Finding | None]:
        try:
            return check, check_bytes(check, self.storage.content_sha256(check.key))
        except (CloudPyPIError, OSError) as exc:
            return check, Finding(UNCHECKED, check.project, check.filename, f"cannot read {check.key}: {exc}")

    def run(self, names: Iterable[str], origin_url: str, sample: dict[str, set[int]] | None = None,
            sampled_from: int | None = None) -> OriginVerifyResult:
        result = OriginVerifyResult(origin=origin_url, sampled_from=sampled_from)
        started = time.monotonic()
        bound = self.workers * 4  # the mirror is streamed project by project, never listed into memory
        with cf.ThreadPoolExecutor(self.workers, thread_name_prefix="verify-origin") as pool:
            pending: set[cf.Future] = set()

            def settle(done: Iterable[cf.Future]) -> None:
                for future in done:
                    outcome = future.result()
                    if isinstance(outcome[0], ByteCheck):
                        check, finding = outcome
                        if check.metadata:
                            result.metadata_files += 1
                        else:
                            result.files += 1
                            result.bytes += check.size or 0
                        if finding:
                            result.findings.append(finding)
                        continue
                    findings, checks = outcome
                    result.findings.extend(findings)
                    pending.update(pool.submit(self._bytes, check) for check in checks)

            def settle_some() -> None:
                done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                pending.difference_update(done)
                settle(done)

            for name in names:
                result.projects += 1
                pending.add(pool.submit(self._project, name, sample.get(name) if sample is not None else None))
                while len(pending) >= bound:
                    settle_some()
            while pending:
                settle_some()
        result.findings.sort(key=lambda f: (f.project, f.filename, f.kind, f.what))
        result.seconds = time.monotonic() - started
        return result


def verify_against_origin(storage: Storage, state: State, origin: OriginClient, *, workers: int = 10,
                          sample: int | None = None, projects: Iterable[str] | None = None,
                          rng: random.Random | None = None) -> OriginVerifyResult:
    """Every file the mirror lists (or `sample` of them, drawn at random), checked against the origin."""
    verifier = OriginVerifier(storage, origin, workers)
    if sample is None:
        names: Iterator[str] | list[str] = iter(projects) if projects is not None else state.project_names()
        return verifier.run(names, origin.base)
    total = state.counts()["files"]
    picked = pick_sample(state.iter_file_counts(), total, sample, rng or random.SystemRandom())
    return verifier.run(sorted(picked), origin.base, sample=picked, sampled_from=total)
