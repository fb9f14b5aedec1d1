"""Publishing the root index: its three pages from one pass over the state's project rows."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from cloudpypi.layout import ROOT_KEYS
from cloudpypi.render import iter_root_parts
from cloudpypi.storage import Storage
from cloudpypi.storage.content import content_type_for

__all__ = ["ROOT_KEYS", "publish_root_index"]


def publish_root_index(storage: Storage, rows: Iterable[list[tuple[str, int | None]]], serial: int | None,
                       cache_control: str) -> None:
    """Streamed from the state's cursor: 700,000 projects never sit in memory at once.

    One pass renders both forms and writes the three pages side by side (the two HTML pages are the
    same bytes, hashed once); they are published JSON first.  Three passes (one per page, escaping
    every name) cost about four times the CPU (docs/DESIGN.md, "CPU per byte on the large-file path").
    """
    stagings = [storage.new_staging() for _key in ROOT_KEYS]
    digests, sizes = [hashlib.sha256(), hashlib.sha256()], [0, 0]
    try:
        for json_part, html_part in iter_root_parts(rows, serial):
            stagings[0].write(json_part)
            stagings[1].write(html_part)
            stagings[2].write(html_part)
            digests[0].update(json_part)
            digests[1].update(html_part)
            sizes[0] += len(json_part)
            sizes[1] += len(html_part)
    except BaseException:
        for staging in stagings:
            storage.discard(staging)
        raise
    for number, (key, staging) in enumerate(zip(ROOT_KEYS, stagings, strict=True)):
        form = min(number, 1)
        try:
            storage.publish(staging, key, sha256=digests[form].hexdigest(), size=sizes[form],
                            content_type=content_type_for(key), cache_control=cache_control)
        except BaseException:
            for rest in stagings[number + 1:]:
                storage.discard(rest)
            raise
