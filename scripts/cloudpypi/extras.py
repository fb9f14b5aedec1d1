"""What a project's pages link besides its files: the page store's extra objects (cloudpypi.pages).

Two kinds: each file's PEP 740 provenance (cloudpypi.provenance) and the project's legacy JSON API
document (cloudpypi.jsonapi).  :class:`ApiExtras` plays two parts:

* :meth:`ApiExtras.carry`, called by a project's job once its files are in, fetches the provenance
  objects the new page will link (a failure lists the file without one) and holds their bytes;
* calling the object (the page store's :data:`cloudpypi.pages.ExtraObjects`) hands the held
  provenance objects and the JSON API document to the page store, which writes them after the files
  and before the pages, so a reader never meets a page or a document that links a missing object.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from cloudpypi.jsonapi import json_api_objects
from cloudpypi.model import ProjectPage
from cloudpypi.origin import OriginClient
from cloudpypi.pages import ExtraObject
from cloudpypi.provenance import carry_provenance
from cloudpypi.storage import Storage
from cloudpypi.storage.content import JSON_API_TYPE


class ApiExtras:
    """The Simple API 1.4 objects of a mirror's projects (see the module's docstring)."""

    def __init__(self, storage: Storage, origin: OriginClient, public_url: str = "") -> None:
        self.storage = storage
        self.origin = origin
        self.public_url = public_url
        self._held: dict[str, bytes] = {}  # provenance objects fetched and not yet published, by key
        self._lock = threading.Lock()  # jobs of different projects run on different workers

    def carry(self, page: ProjectPage, mirror_page: ProjectPage | None, reasons: list[str]) -> ProjectPage:
        """The page with has_provenance set where the mirror holds, or now holds, a copy.

        Failures to fetch a provenance are appended to reasons (the project is retried next run).
        """
        page, fetched = carry_provenance(page, mirror_page, self.origin, reasons)
        if fetched:
            with self._lock:
                self._held.update(fetched)
        return page

    def forget(self, page: ProjectPage) -> None:
        """Drop what carry() held for a page that was not published."""
        with self._lock:
            for item in page.files:
                self._held.pop(item.provenance_key, None)

    def __call__(self, page: ProjectPage) -> Iterator[ExtraObject]:
        for item in page.files:
            if item.has_provenance:
                with self._lock:
                    data = self._held.pop(item.provenance_key, None)
                if data is not None:  # None: a copy the mirror already holds (its page linked it)
                    yield item.provenance_key, data, JSON_API_TYPE
        yield from json_api_objects(page, self.storage.read_bytes, self.public_url)
