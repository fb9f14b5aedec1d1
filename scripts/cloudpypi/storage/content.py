"""Content-Type and Cache-Control of each stored object: one policy shared by the writers and `serve`."""

from __future__ import annotations

JSON_PAGE_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_PAGE_TYPE = "text/html; charset=utf-8"
V1_HTML_PAGE_TYPE = "application/vnd.pypi.simple.v1+html"
JSON_API_TYPE = "application/json"  # the legacy JSON API (pypi/<name>/json) and PEP 740 provenance objects

FILE_CACHE_CONTROL = "max-age=31536000, immutable"

_PAGE_TYPES = {
    "index.html": HTML_PAGE_TYPE,
    "index.v1_html": V1_HTML_PAGE_TYPE,
    "index.v1_json": JSON_PAGE_TYPE,
}

# Longest suffix first, so .tar.gz wins over .gz.
_FILE_TYPES = (
    (".metadata", "text/plain; charset=utf-8"),
    (".provenance", JSON_API_TYPE),
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
    if key.startswith("simple/") and name in _PAGE_TYPES:
        return _PAGE_TYPES[name]
    if key.startswith("pypi/") and name == "json":
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
    if key.startswith(("simple/", "pypi/")):
        return page_cache_control(page_max_age)
    if key.startswith("packages/"):
        return FILE_CACHE_CONTROL
    return None
