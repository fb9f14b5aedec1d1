"""Content-Type and Cache-Control of each stored object: one policy shared by the writers and `serve`."""

from __future__ import annotations

from cloudpypi.layout import (
    FILES_PREFIX,
    HTML_PAGE,
    JSON_API_PREFIX,
    JSON_PAGE,
    PAGE_CONTENT_TYPES,
    PAGES_PREFIX,
    PROVENANCE_SUFFIX,
    V1_HTML_PAGE,
    split_json_api_key,
)

JSON_PAGE_TYPE = PAGE_CONTENT_TYPES[JSON_PAGE]
HTML_PAGE_TYPE = PAGE_CONTENT_TYPES[HTML_PAGE]
V1_HTML_PAGE_TYPE = PAGE_CONTENT_TYPES[V1_HTML_PAGE]
JSON_API_TYPE = "application/json"  # the legacy JSON API (pypi/<name>/json) and PEP 740 provenance objects

FILE_CACHE_CONTROL = "max-age=31536000, immutable"

# Longest suffix first, so .tar.gz wins over .gz.
_FILE_TYPES = (
    (".metadata", "text/plain; charset=utf-8"),
    (PROVENANCE_SUFFIX, JSON_API_TYPE),
    (".whl", "application/zip"),
    (".zip", "application/zip"),
    (".egg", "application/zip"),
    (".tar.gz", "application/gzip"),
    (".tgz", "application/gzip"),
    (".tar.bz2", "application/x-bzip2"),
    (".tar.xz", "application/x-xz"),
    (".tar", "application/x-tar"),
)


def content_type_for(key: str) -> str:
    name = key.rsplit("/", 1)[-1]
    if key.startswith(PAGES_PREFIX) and name in PAGE_CONTENT_TYPES:
        return PAGE_CONTENT_TYPES[name]
    if split_json_api_key(key) is not None:
        return JSON_API_TYPE
    lowered = name.lower()
    for suffix, content_type in _FILE_TYPES:
        if lowered.endswith(suffix):
            return content_type
    return "application/octet-stream"


def page_cache_control(max_age: int) -> str:
    return f"max-age={max_age}"


def cache_control_for(key: str, page_max_age: int = 600) -> str | None:
    """The same policy by path that S3 objects carry; `serve` applies it to folder targets."""
    if key.startswith((PAGES_PREFIX, JSON_API_PREFIX)):
        return page_cache_control(page_max_age)
    if key.startswith(FILES_PREFIX):
        return FILE_CACHE_CONTROL
    return None
