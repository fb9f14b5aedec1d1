"""PEP 740 provenance: the origin's provenance object of each file, stored byte for byte beside the file.

The mirror keeps its own copy at ``<file key>.provenance`` (under ``packages/``, so it is written once,
travels in bundles and is served like the file), and its pages link that copy, never the origin's URL.
An object is fetched from the origin's own host only (the parser already refuses any other) and must be
a JSON object of at most MAX_PROVENANCE_BYTES.  The page store publishes it (cloudpypi.extras) before
the page that links it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from urllib.parse import urlsplit

from cloudpypi.errors import CloudPyPIError, OriginError
from cloudpypi.model import DistFile, ProjectPage
from cloudpypi.origin import OriginClient

log = logging.getLogger(__name__)

# pypi.org's provenance objects (attestation bundles with their certificates) weigh a few kB to some tens.
MAX_PROVENANCE_BYTES = 1 << 20


def checked_provenance(data: bytes, url: str) -> bytes:
    """The object as fetched, once it is known to be one JSON object (an error page is not carried)."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        raise OriginError(f"{url}: the provenance is not JSON") from None
    if not isinstance(document, dict):
        raise OriginError(f"{url}: the provenance is not a JSON object")
    return data


def fetch_provenance(origin: OriginClient, item: DistFile) -> bytes:
    assert item.provenance_url is not None
    origin_host = (urlsplit(origin.base).hostname or "").lower()
    if (urlsplit(item.provenance_url).hostname or "").lower() != origin_host:
        raise OriginError(f"{item.provenance_url} is not on the origin's host {origin_host}")
    data = origin.fetch_small(item.provenance_url, "provenance", MAX_PROVENANCE_BYTES)
    return checked_provenance(data, item.provenance_url)


def carry_provenance(page: ProjectPage, mirror_page: ProjectPage | None, origin: OriginClient,
                     reasons: list[str]) -> tuple[ProjectPage, dict[str, bytes]]:
    """The page with has_provenance set on each file whose provenance the mirror holds or now fetched,
    and the fetched objects by key (stored by the page store, after the files and before the pages).

    A copy the mirror's current page already links is kept as it is (provenance objects do not change
    once a file is published).  Any other is fetched now; a failure lists the file without provenance
    and adds a reason (the project is then retried on the next run).
    """
    linked = {f.key for f in mirror_page.files if f.has_provenance} if mirror_page else set()
    files = []
    fetched: dict[str, bytes] = {}
    for item in page.files:
        if item.provenance_url is None:
            files.append(replace(item, has_provenance=False))
            continue
        if item.key in linked:
            files.append(replace(item, has_provenance=True))
            continue
        try:
            fetched[item.provenance_key] = fetch_provenance(origin, item)
        except (CloudPyPIError, OSError) as exc:
            log.warning("%s: provenance not carried: %s", item.filename, exc)
            reasons.append(f"{item.filename}: provenance not carried ({exc})")
            files.append(replace(item, has_provenance=False))
            continue
        files.append(replace(item, has_provenance=True))
    return page.with_files(tuple(files)), fetched
