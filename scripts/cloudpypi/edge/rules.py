"""The edge's routing rules, pure: the Python twin of roles/mirror_cdn/files/viewer-request.js.

Both are checked against the same table (tests/edge/cases.json), so `cloudpypi serve` behaves like
CloudFront plus the function.  Given a request's method, raw URI path, raw query string and Accept
header, :func:`decide` answers either a :class:`Rewrite` (serve this object) or a :class:`Reply`
(answer with this status and no object).

Rules (see docs/edge.md):

* ``/simple/`` and ``/simple/<name>/`` are rewritten to ``index.v1_json``, ``index.v1_html`` or
  ``index.html`` in that folder, by PEP 691 negotiation over ``Accept`` (q-values, ``type/*`` and
  ``*/*``; the most specific range decides an offer's quality; q=0 refuses it; ties go to the
  server's preference json > v1+html > text/html).  ``?format=`` (parsed like ``Accept``) overrides
  ``Accept``.  No ``Accept`` at all means ``text/html``.  Nothing acceptable: 406.
* A name that is not PEP 503-normalized, or a missing trailing slash, gets a 301 (query kept).
* ``/packages/<path>`` passes unchanged (query kept).
* ``/pypi/<name>/json`` (the legacy JSON API) is served from the stored ``pypi/<name>/json`` object,
  query cleared; a name that is not normalized gets a 301 (query kept).  Accept plays no part.
* Anything else is 404: ``/``, ``/.cloudpypi/...``, other names under ``/simple/<name>/``,
  traversal (``.``/``..`` segments, encoded or not), empty segments, backslashes, NUL, malformed or
  double percent-encoding.  Methods other than GET and HEAD: 405.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

from cloudpypi.layout import (
    FILES_PREFIX,
    HTML_PAGE,
    JSON_API_DOC,
    JSON_API_PREFIX,
    JSON_PAGE,
    PAGE_MEDIA_TYPES,
    PAGES_PREFIX,
    V1_HTML_PAGE,
    json_api_key,
    page_url_path,
)

JSON_TYPE = PAGE_MEDIA_TYPES[JSON_PAGE]
V1_HTML_TYPE = PAGE_MEDIA_TYPES[V1_HTML_PAGE]
HTML_TYPE = PAGE_MEDIA_TYPES[HTML_PAGE]

#: (media type, stored page name) in the server's order of preference
OFFERS: tuple[tuple[str, str], ...] = (
    (JSON_TYPE, JSON_PAGE),
    (V1_HTML_TYPE, V1_HTML_PAGE),
    (HTML_TYPE, HTML_PAGE),
)
PAGE_NAMES = frozenset(page for _, page in OFFERS)
_PAGES_AREA = PAGES_PREFIX.rstrip("/")  # "simple": the first segment of every page's path
_FILES_AREA = FILES_PREFIX.rstrip("/")  # "packages"
_JSON_API_AREA = JSON_API_PREFIX.rstrip("/")  # "pypi": the legacy JSON API, /pypi/<name>/json
_ALIASES = {
    "application/vnd.pypi.simple.latest+json": JSON_TYPE,
    "application/vnd.pypi.simple.latest+html": V1_HTML_TYPE,
}

_NAME_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")
_TCHARS = r"[A-Za-z0-9!#$%&'*+.^_`|~-]+"
_TYPE_RE = re.compile(rf"{_TCHARS}/{_TCHARS}")
_Q_RE = re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+")
_SEPARATORS_RE = re.compile(r"[-_.]+")
_ESCAPE_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_UNSAFE_RE = re.compile(r"[\\\x00%]")


@dataclass(frozen=True, slots=True)
class Rewrite:
    """Serve the object at ``uri`` (still percent-encoded, as the origin would receive it)."""

    uri: str
    query: str  # the query string forwarded with it ("" for pages: the function clears it)

    @property
    def key(self) -> str | None:
        """The storage key the origin would look up (S3 decodes the path once), or None if undecodable."""
        decoded = percent_decode(self.uri)
        return None if decoded is None else decoded.lstrip("/")

    @property
    def is_page(self) -> bool:
        return self.uri.startswith(page_url_path(None))


@dataclass(frozen=True, slots=True)
class Reply:
    """Answer directly: 301 (with ``location``), 404, 405 or 406."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def location(self) -> str | None:
        return self.headers.get("location")


Decision = Rewrite | Reply

NOT_FOUND = Reply(404)


def _trim(text: str) -> str:
    return text.strip(" \t")


def normalize_name(name: str) -> str:
    """PEP 503 normalization: lowercase, runs of ``-_.`` become one ``-``."""
    return _SEPARATORS_RE.sub("-", name).lower()


def is_valid_name(name: str) -> bool:
    """A PEP 508 project name (ASCII letters and digits, inner ``-_.``)."""
    return _NAME_RE.fullmatch(name) is not None


def percent_decode(text: str) -> str | None:
    """Strict percent-decoding as JavaScript's decodeURIComponent: None for malformed input."""
    if _ESCAPE_RE.search(text):
        return None
    try:
        return unquote_to_bytes(text).decode("utf-8")
    except UnicodeDecodeError:
        return None


def parse_accept(header: str) -> list[tuple[str, float]]:
    """The media ranges of an Accept header with their q-values; malformed entries are skipped."""
    ranges: list[tuple[str, float]] = []
    for part in header.split(","):
        params = part.split(";")
        media_type = _trim(params[0])
        if not _TYPE_RE.fullmatch(media_type):
            continue
        media_type = media_type.lower()
        media_type = _ALIASES.get(media_type, media_type)
        quality = 1.0
        for param in params[1:]:
            pieces = param.split("=")
            if _trim(pieces[0]).lower() == "q":
                raw = _trim(pieces[1]) if len(pieces) > 1 else ""
                quality = float(raw) if _Q_RE.fullmatch(raw) else 2.0
                break  # parameters after q are accept-extensions: ignored
        if quality <= 1.0:
            ranges.append((media_type, quality))
    return ranges


def negotiate(accept: str | None) -> str | None:
    """The stored page name to serve for an Accept value (or a ?format= value), or None: 406."""
    if accept is None or _trim(accept) == "":
        return HTML_PAGE
    ranges = parse_accept(accept)
    best: str | None = None
    best_quality = 0.0
    for offer, page in OFFERS:
        major = offer.split("/")[0]
        specificity, quality = -1, 0.0
        for media_type, q in ranges:
            if media_type == offer:
                rank = 2
            elif media_type == f"{major}/*":
                rank = 1
            elif media_type == "*/*":
                rank = 0
            else:
                continue
            if rank > specificity:
                specificity, quality = rank, q
        if quality > best_quality:
            best, best_quality = page, quality
    return best


def parse_query(query: str) -> list[tuple[str, list[str]]]:
    """A raw query string as CloudFront Functions sees it: names in first-seen order, values kept raw."""
    grouped: dict[str, list[str]] = {}
    for piece in query.split("&"):
        if not piece:
            continue
        name, _, value = piece.partition("=")
        grouped.setdefault(name, []).append(value)
    return list(grouped.items())


def rebuild_query(pairs: list[tuple[str, list[str]]]) -> str:
    return "&".join(f"{name}={value}" for name, values in pairs for value in values)


def decide(method: str, uri: str, query: str = "", accept: str | None = None) -> Decision:
    """Route one request.  ``uri`` is the raw path (percent-encoded), ``query`` the raw query string."""
    if method not in ("GET", "HEAD"):
        return Reply(405, {"allow": "GET, HEAD"})
    path = percent_decode(uri)
    if path is None or _UNSAFE_RE.search(path) or not path.startswith("/"):
        return NOT_FOUND
    segments = path.split("/")
    for index, segment in enumerate(segments[1:], start=1):
        if segment in (".", "..") or (segment == "" and index < len(segments) - 1):
            return NOT_FOUND
    pairs = parse_query(query)
    canonical_query = rebuild_query(pairs)
    suffix = f"?{canonical_query}" if canonical_query else ""

    if segments[1] == _FILES_AREA:
        if len(segments) < 3 or segments[-1] == "":
            return NOT_FOUND
        return Rewrite(uri, canonical_query)
    if segments[1] == _JSON_API_AREA:
        if len(segments) != 4 or segments[3] != JSON_API_DOC or not is_valid_name(segments[2]):
            return NOT_FOUND
        name = normalize_name(segments[2])
        if name != segments[2]:
            return Reply(301, {"location": "/" + json_api_key(name) + suffix})
        return Rewrite("/" + json_api_key(name), "")
    if segments[1] != _PAGES_AREA:
        return NOT_FOUND
    if len(segments) == 2:
        return Reply(301, {"location": page_url_path(None) + suffix})
    if len(segments) > 4 or (len(segments) == 4 and segments[3] != ""):
        return NOT_FOUND
    folder = page_url_path(None)
    if segments[2] != "":
        if not is_valid_name(segments[2]):
            return NOT_FOUND
        name = normalize_name(segments[2])
        if name != segments[2] or len(segments) == 3:
            return Reply(301, {"location": page_url_path(name) + suffix})
        folder = page_url_path(name)

    format_values = dict(pairs).get("format")
    chosen_from = accept
    if format_values is not None:
        fmt = percent_decode(format_values[0])
        if fmt is None:
            return Reply(406, {"vary": "Accept"})
        if _trim(fmt) != "":
            chosen_from = fmt
    page = negotiate(chosen_from)
    if page is None:
        return Reply(406, {"vary": "Accept"})
    return Rewrite(folder + page, "")
