"""The origin as the resolver sees it: project pages and core metadata, each fetched at most once per run.

Thread-safe: every environment resolves in its own thread, and all share one ProjectIndex.  The first
caller of a key fetches it; the others wait for that result.  Core metadata is keyed by the file's
sha256 (immutable), so it may also come from the previous runs' cache (``known_metadata``).
"""

from __future__ import annotations

import concurrent.futures as cf
import io
import logging
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from cloudpypi.closure.metadata import CoreMetadata, metadata_from_wheel, parse_metadata
from cloudpypi.model import DistFile, ProjectPage
from cloudpypi.origin import OriginClient, ProjectGone

log = logging.getLogger(__name__)

T = TypeVar("T")


class ProjectIndex:
    def __init__(self, origin: OriginClient, *, workers: int = 8,
                 known_metadata: dict[str, CoreMetadata] | None = None) -> None:
        self.origin = origin
        self._lock = threading.Lock()
        self._pages: dict[str, cf.Future[ProjectPage | None]] = {}
        self._metadata: dict[str, cf.Future[CoreMetadata]] = {}
        self._known = dict(known_metadata or {})
        self.used_metadata: dict[str, CoreMetadata] = {}
        self.fetched = {"pages": 0, "metadata_files": 0, "wheels_for_metadata": 0}
        self._pool = cf.ThreadPoolExecutor(max(1, workers), thread_name_prefix="closure-page")

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _once(self, table: dict[str, cf.Future[Any]], key: str, compute: Callable[[], T]) -> T:
        with self._lock:
            future = table.get(key)
            owner = future is None
            if owner:
                future = table[key] = cf.Future()
        assert future is not None
        if owner:
            try:
                future.set_result(compute())
            except BaseException as exc:
                future.set_exception(exc)
        return future.result()

    # -- pages ---------------------------------------------------------------------------------------
    def page(self, name: str) -> ProjectPage | None:
        """The origin's page for a normalized name; None when the origin has no such project."""
        return self._once(self._pages, name, lambda: self._fetch_page(name))

    def _fetch_page(self, name: str) -> ProjectPage | None:
        with self._lock:
            self.fetched["pages"] += 1
        try:
            return self.origin.project_page(name)
        except ProjectGone:
            return None

    def prefetch(self, names: Iterable[str]) -> None:
        """Start fetching these pages in the background (the resolver will ask for them soon)."""
        for name in names:
            with self._lock:
                if name in self._pages:
                    continue
            self._pool.submit(self._quiet_page, name)

    def _quiet_page(self, name: str) -> None:
        try:
            self.page(name)
        except Exception as exc:  # the resolver's own call reports it
            log.debug("prefetch of %s failed: %s", name, exc)

    @property
    def touched(self) -> set[str]:
        """Every project name asked for (present on the origin or not)."""
        with self._lock:
            return set(self._pages)

    def pages(self) -> dict[str, ProjectPage]:
        """The pages fetched successfully so far (for the sync to reuse)."""
        with self._lock:
            futures = dict(self._pages)
        found = {}
        for name, future in futures.items():
            if future.done() and future.exception() is None and (page := future.result()) is not None:
                found[name] = page
        return found

    # -- core metadata ---------------------------------------------------------------------------------
    def metadata(self, item: DistFile) -> CoreMetadata:
        result = self._once(self._metadata, item.sha256, lambda: self._fetch_metadata(item))
        with self._lock:
            self.used_metadata[item.sha256] = result
        return result

    def _fetch_metadata(self, item: DistFile) -> CoreMetadata:
        if item.sha256 in self._known:
            return self._known[item.sha256]
        if item.has_metadata and item.metadata_sha256:
            buffer = io.BytesIO()

            def reset() -> None:
                buffer.seek(0)
                buffer.truncate()

            self.origin.download(item.url + ".metadata", "metadata", buffer.write, sha256=item.metadata_sha256,
                                 size=None, reset=reset)
            with self._lock:
                self.fetched["metadata_files"] += 1
            return parse_metadata(buffer.getvalue(), item.filename)
        with tempfile.TemporaryDirectory(prefix="cloudpypi-closure-") as tmp:
            path = Path(tmp) / "wheel.whl"
            with open(path, "wb") as out:

                def reset_file() -> None:
                    out.seek(0)
                    out.truncate()

                self.origin.download(item.url, "file", out.write, sha256=item.sha256, size=item.size,
                                     reset=reset_file)
            with self._lock:
                self.fetched["wheels_for_metadata"] += 1
            return parse_metadata(metadata_from_wheel(path, item.filename), item.filename)
