"""The page store: the one reader and writer of the mirror's pages in a target.

Keys come from :mod:`cloudpypi.layout`, bytes from the pure renderers in :mod:`cloudpypi.render`.
What the store adds is the order that keeps a mirror consistent whenever a writer stops:

1. a project's files are stored before anything links them (the caller's part: the jobs that
   fetch them, or the bundle import);
2. a project's extra objects (:data:`ExtraObjects`), then its pages: ``index.html``,
   ``index.v1_html`` and ``index.v1_json`` last.  The JSON page is the one the next run compares,
   so after a crash between the writes it still differs and all of them are written again;
3. the root index, after the pages it lists (:meth:`PageStore.publish_root`);
4. the state, after the root (the caller's part: :class:`cloudpypi.state.State`).

A removal runs the other way round: the pages go JSON last (a crash before it repeats the removal),
after the caller has scheduled the deletion of the files they link.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from cloudpypi.layout import (
    JSON_PAGE,
    ROOT_JSON_KEY,
    is_file_key,
    json_page_key,
    page_dir,
    page_keys,
    project_extra_keys,
)
from cloudpypi.model import DistFile, ProjectPage
from cloudpypi.render import render_project
from cloudpypi.rootindex import publish_root_index
from cloudpypi.storage.content import FILE_CACHE_CONTROL, content_type_for, page_cache_control

if TYPE_CHECKING:
    from cloudpypi.storage import Storage

log = logging.getLogger(__name__)

#: An extra object published with a project's pages: (key, bytes, content type).
ExtraObject = tuple[str, bytes, str]
#: The seam for objects that belong to a project's pages but are not one of the three page forms (the
#: PEP 740 provenance objects and the legacy JSON API document, cloudpypi.extras): given the page about
#: to be published, the objects to publish with it.  They are written after the files and before the
#: pages, and only when the pages are written, so no page is ever visible before what it describes.
#: An object under ``packages/`` is published as a file is (write-once on S3, cached for a year); any
#: other with the pages' cache policy.
ExtraObjects = Callable[[ProjectPage], Iterable[ExtraObject]]

UNREADABLE = (ValueError, KeyError, TypeError)  # what parse_mirror_json raises on a page it cannot read


def parse_mirror_json(body: bytes, name: str) -> ProjectPage:
    """Read back a page this mirror wrote (to diff against, verify, or repair).  Trusted shape."""
    data = json.loads(body)
    files = []
    depth = page_dir(name).count("/")
    for entry in data["files"]:
        href: str = entry["url"]
        key = href[len("../" * depth):] if href.startswith("../" * depth) else href
        metadata = entry.get("core-metadata") or False
        provenance = entry.get("provenance")
        files.append(DistFile(
            filename=entry["filename"],
            url=href,
            sha256=entry["hashes"]["sha256"],
            size=entry.get("size"),
            requires_python=entry.get("requires-python"),
            yanked=entry.get("yanked", False),
            metadata_sha256=metadata.get("sha256") if isinstance(metadata, dict) else None,
            has_metadata=bool(metadata),
            upload_time=entry.get("upload-time"),
            key=key,
            has_provenance=bool(provenance),
        ))
    meta = data.get("meta", {})
    status = data.get("project-status") or {}
    return ProjectPage(name=data.get("name", name), files=tuple(files), versions=tuple(data.get("versions", ())),
                       last_serial=meta.get("_last-serial"), status=status.get("status"),
                       status_reason=status.get("reason"), tracks=tuple(meta.get("tracks", ())),
                       alternate_locations=tuple(data.get("alternate-locations", ())))


class PageStore:
    """A target's pages: read the mirror's own, publish and remove a project's, publish the root index.

    ``extra_objects`` (see :data:`ExtraObjects`) is the one argument that adds objects to every
    project's publication, written in the crash-safe place: after the files, before the pages.
    ``public_url`` is the mirror's own base URL, when the operator set one: the pages then link
    provenance objects absolutely, as PEP 740 asks (cloudpypi.render.render_project).
    """

    def __init__(self, storage: Storage, index_max_age: int = 600, *,
                 extra_objects: ExtraObjects | None = None, public_url: str = "") -> None:
        self.storage = storage
        self.cache_control = page_cache_control(index_max_age)
        self.extra_objects = extra_objects
        self.public_url = public_url

    # -- reading -------------------------------------------------------------------------------
    def read_json(self, name: str) -> bytes | None:
        """The stored bytes of a project's JSON page, or None when it has none."""
        return self.storage.read_bytes(json_page_key(name))

    def read(self, name: str) -> ProjectPage | None:
        """A project's page as this mirror wrote it, or None when it has none.

        Raises one of :data:`UNREADABLE` when the stored page cannot be read.
        """
        raw = self.read_json(name)
        return None if raw is None else parse_mirror_json(raw, name)

    def mirror_page(self, name: str) -> ProjectPage | None:
        """The page to diff against: None when absent, and when unreadable (then it is rebuilt)."""
        try:
            return self.read(name)
        except UNREADABLE as exc:
            log.warning("project %s: the mirror's own page is unreadable (%s); rebuilding it", name, exc)
            return None

    def has_pages(self, name: str) -> bool:
        """True when a project's JSON page is stored (it is written last, so the others are too)."""
        return self.storage.stat(json_page_key(name)) is not None

    def has_root(self) -> bool:
        return self.storage.stat(ROOT_JSON_KEY) is not None

    # -- publishing ----------------------------------------------------------------------------
    def publish_project(self, page: ProjectPage, *, rewrite: bool = False) -> bool:
        """Render and publish a project's pages (and extra objects); True when they were written.

        Unless ``rewrite``, nothing is written while the stored JSON page already has the same bytes.
        ``rewrite`` writes all three forms whatever is stored: repair uses it, since a tampered HTML
        page beside an intact JSON page is not noticed by comparing the JSON page alone.
        """
        pages = render_project(page, self.public_url)
        if not rewrite and self.read_json(page.name) == pages[JSON_PAGE]:
            return False
        if self.extra_objects is not None:
            for extra in self.extra_objects(page):
                self._write_extra(*extra)
        self._write_pages(page.name, pages)
        return True

    def publish_rendered(self, name: str, pages: Mapping[str, bytes], extras: Iterable[ExtraObject] = ()) -> int:
        """Publish a project's pages as given (a bundle's bytes): the forms whose bytes differ, JSON last.

        ``extras`` (a bundle's JSON API document) go first, each only when its bytes differ.
        Returns how many objects were written.
        """
        written = 0
        for key, data, content_type in extras:
            if self.storage.read_bytes(key) != data:
                self._write_extra(key, data, content_type)
                written += 1
        return written + self._write_pages(name, pages, only_changed=True)

    def _write_extra(self, key: str, data: bytes, content_type: str) -> None:
        if not is_file_key(key):
            self.storage.write_bytes(key, data, content_type=content_type, cache_control=self.cache_control)
            return
        # under packages/: published as a file is, write-once (an identical copy already there is accepted)
        staging = self.storage.new_staging()
        try:
            staging.write(data)
        except BaseException:
            self.storage.discard(staging)
            raise
        self.storage.publish(staging, key, sha256=hashlib.sha256(data).hexdigest(), size=len(data),
                             content_type=content_type, cache_control=FILE_CACHE_CONTROL)

    def _write_pages(self, name: str, pages: Mapping[str, bytes], *, only_changed: bool = False) -> int:
        written = 0
        for form, key in reversed(page_keys(name).items()):  # JSON last: see the module's docstring
            data = pages[form]
            if only_changed and self.storage.read_bytes(key) == data:
                continue
            self.storage.write_bytes(key, data, content_type=content_type_for(key), cache_control=self.cache_control)
            written += 1
        return written

    def remove_project(self, name: str) -> None:
        """Delete a project's extra objects (its JSON API document), then its pages, JSON last: a crash
        before the JSON page is deleted leaves a page that repeats the removal.

        The caller has already scheduled (and committed) the deletion of the files they link (provenance
        objects included): once the JSON page is gone, nothing else lists them.
        """
        for key in (*project_extra_keys(name), *reversed(page_keys(name).values())):
            self.storage.delete(key)

    def publish_root(self, rows: Iterable[list[tuple[str, int | None]]], serial: int | None) -> None:
        """The root index from (name, serial) rows in name order: after every page it lists is published."""
        publish_root_index(self.storage, rows, serial, self.cache_control)
