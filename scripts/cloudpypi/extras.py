"""What a project's pages link besides its files, published after the files and before the pages.

Two kinds: each file's PEP 740 provenance (cloudpypi.provenance) and the project's legacy JSON API
document (cloudpypi.jsonapi).  The sync calls :func:`publish_extras` once per project, right before it
writes the project's pages, so a reader never meets a page or a JSON document that links a missing
object, and a run killed in between leaves nothing that the next run does not complete.
"""

from __future__ import annotations

from cloudpypi.jsonapi import json_api_key, json_api_objects
from cloudpypi.model import ProjectPage
from cloudpypi.origin import OriginClient
from cloudpypi.provenance import carry_provenance
from cloudpypi.storage import Storage
from cloudpypi.storage.content import page_cache_control


def extra_keys(name: str) -> tuple[str, ...]:
    """The per-project objects besides the three pages (removed with the project, before its pages)."""
    return (json_api_key(name),)


def publish_extras(storage: Storage, origin: OriginClient, page: ProjectPage, mirror_page: ProjectPage | None,
                   reasons: list[str], *, public_url: str = "", index_max_age: int = 600) -> ProjectPage:
    """Store the provenance objects the page will link and write the JSON API document where it changed.

    Returns the page as it is to be rendered (has_provenance set where the mirror holds a copy).
    Failures to carry a provenance are appended to reasons; storage failures raise, as page writes do.
    """
    page = carry_provenance(page, mirror_page, origin, storage, reasons)
    for key, data, content_type in json_api_objects(page, storage.read_bytes, public_url):
        if storage.read_bytes(key) != data:
            storage.write_bytes(key, data, content_type=content_type, cache_control=page_cache_control(index_max_age))
    return page
