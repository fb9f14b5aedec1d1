"""The mirror's key layout: where every page, file and state object lives in a target.  Pure.

A target holds three areas:

* ``simple/``: the pages.  The root index is ``simple/<form>`` and a project's pages are
  ``simple/<name>/<form>``, each in the three forms of :data:`PAGE_NAMES` (PEP 691 JSON, PEP 691
  HTML, PEP 503 HTML; the two HTML forms are the same bytes under two content types).
* ``packages/``: the distribution files, their ``.metadata`` files and their PEP 740 ``.provenance``
  objects (keys from :func:`cloudpypi.paths.key_for_file`).  Immutable once written.  Uploaded
  (private) files live under ``packages/private/<name>/<filename>`` (:func:`private_file_key`).
* ``pypi/``: the legacy JSON API, one document per project at ``pypi/<name>/json``.  Written with the
  project's pages (before them) and removed with them.
* ``.cloudpypi/``: the engine's state (the SQLite state, the lock, the progress record, the
  invalidation ledger, staging files).  Never served.

This module only names keys; it imports nothing from the engine, so the storage layer, the edge and
the page store (:mod:`cloudpypi.pages`, the one writer of pages) all share it without a cycle.
"""

from __future__ import annotations

PAGES_PREFIX = "simple/"
FILES_PREFIX = "packages/"
STATE_PREFIX = ".cloudpypi/"
JSON_API_PREFIX = "pypi/"

JSON_API_DOC = "json"  # the last segment of a project's JSON API document: pypi/<name>/json
METADATA_SUFFIX = ".metadata"  # PEP 658 core metadata, beside its file
PROVENANCE_SUFFIX = ".provenance"  # PEP 740 provenance, beside its file

JSON_PAGE = "index.v1_json"
V1_HTML_PAGE = "index.v1_html"
HTML_PAGE = "index.html"

#: The three forms of every page, in the server's order of preference.  JSON first: it is the form the
#: engine reads back, so writers publish the forms in reverse (JSON last) and removers delete in reverse.
PAGE_NAMES: tuple[str, ...] = (JSON_PAGE, V1_HTML_PAGE, HTML_PAGE)

#: The media type each form answers in content negotiation (PEP 691).
PAGE_MEDIA_TYPES: dict[str, str] = {
    JSON_PAGE: "application/vnd.pypi.simple.v1+json",
    V1_HTML_PAGE: "application/vnd.pypi.simple.v1+html",
    HTML_PAGE: "text/html",
}

#: The Content-Type each form is stored with.
PAGE_CONTENT_TYPES: dict[str, str] = {
    JSON_PAGE: PAGE_MEDIA_TYPES[JSON_PAGE],
    V1_HTML_PAGE: PAGE_MEDIA_TYPES[V1_HTML_PAGE],
    HTML_PAGE: "text/html; charset=utf-8",
}

#: The root index's three pages, JSON first.
ROOT_KEYS: tuple[str, ...] = tuple(PAGES_PREFIX + page for page in PAGE_NAMES)
ROOT_JSON_KEY = ROOT_KEYS[0]

#: Uploaded files (``cloudpypi upload``): no key of the origin's files (``packages/<2 hex>/<2 hex>/...``)
#: can land here, and one filename maps to one key, which is what makes an upload immutable.
PRIVATE_FILES_PREFIX = FILES_PREFIX + "private/"

STATE_KEY = STATE_PREFIX + "state.sqlite"
LOCK_KEY = STATE_PREFIX + "lock"
PROGRESS_KEY = STATE_PREFIX + "progress.json"
LEDGER_KEY = STATE_PREFIX + "invalidations.json"


def page_dir(name: str) -> str:
    """The folder of a project's pages: ``simple/<name>/``."""
    return f"{PAGES_PREFIX}{name}/"


def page_keys(name: str) -> dict[str, str]:
    """A project's three page keys by form, JSON first."""
    folder = page_dir(name)
    return {page: folder + page for page in PAGE_NAMES}


def json_page_key(name: str) -> str:
    """The key of a project's JSON page: the one the engine reads back."""
    return page_dir(name) + JSON_PAGE


def page_url_path(name: str | None) -> str:
    """The URL path a client asks for: ``/simple/<name>/``, or ``/simple/`` for the root (None)."""
    return "/" + (page_dir(name) if name is not None else PAGES_PREFIX)


def json_api_key(name: str) -> str:
    """The key of a project's legacy JSON API document: ``pypi/<name>/json``."""
    return f"{JSON_API_PREFIX}{name}/{JSON_API_DOC}"


def split_json_api_key(key: str) -> str | None:
    """``pypi/<name>/json`` -> name; anything else -> None."""
    parts = key.split("/")
    if len(parts) == 3 and parts[0] + "/" == JSON_API_PREFIX and parts[1] and parts[2] == JSON_API_DOC:
        return parts[1]
    return None


def project_extra_keys(name: str) -> tuple[str, ...]:
    """A project's objects besides its three pages: published before them, removed before them."""
    return (json_api_key(name),)


def provenance_key(file_key: str) -> str:
    """Where the mirror keeps a file's PEP 740 provenance: beside the file."""
    return file_key + PROVENANCE_SUFFIX


def split_page_key(key: str) -> tuple[str | None, str] | None:
    """``simple/<name>/<form>`` -> (name, form); ``simple/<form>`` -> (None, form); anything else -> None."""
    parts = key.split("/")
    if parts[0] + "/" != PAGES_PREFIX or parts[-1] not in PAGE_NAMES:
        return None
    if len(parts) == 2:
        return None, parts[1]
    if len(parts) == 3 and parts[1]:
        return parts[1], parts[2]
    return None


def is_file_key(key: str) -> bool:
    """True for a distribution file, its metadata or its provenance (``packages/...``)."""
    return key.startswith(FILES_PREFIX)


def private_file_key(name: str, filename: str) -> str:
    """Where an uploaded file of the private project ``name`` lives: ``packages/private/<name>/<filename>``."""
    return f"{PRIVATE_FILES_PREFIX}{name}/{filename}"


def is_private_file_key(key: str) -> bool:
    """True for an uploaded file or its metadata (``packages/private/...``)."""
    return key.startswith(PRIVATE_FILES_PREFIX)


def is_page_area(key: str) -> bool:
    """True for any key under ``simple/``."""
    return key.startswith(PAGES_PREFIX)
