"""assert_mirror_consistent: the invariant every reliability test ends with.

It reads every project page in all three representations (index.v1_json, index.v1_html, index.html),
resolves every link to a storage key, and hashes the stored bytes (on S3 it GETs the object; the
sha256 in its metadata is checked too, but never trusted alone).  It also checks the root index in
all three representations against the set of projects that have pages, and, given the origin's list
of good files, that nothing stored under packages/ is corrupt or foreign.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

from .mirrorview import MirrorView

PAGES = ("index.v1_json", "index.v1_html", "index.html")
PAGE_TYPES = {"index.v1_json": "application/vnd.pypi.simple.v1+json",
              "index.v1_html": "application/vnd.pypi.simple.v1+html", "index.html": "text/html; charset=utf-8"}
FILE_CACHE_CONTROL = "max-age=31536000, immutable"
_PAGE_KEY = re.compile(r"^simple/([^/]+)/(index\.v1_json|index\.v1_html|index\.html)$")


@dataclass(frozen=True)
class Link:
    filename: str
    key: str
    sha256: str
    size: int | None
    metadata_sha256: str | None


@dataclass
class MirrorSummary:
    projects: set[str] = field(default_factory=set)  # projects with at least one page
    root_projects: set[str] = field(default_factory=set)
    links: dict[str, Link] = field(default_factory=dict)  # key -> link (from any page)
    files: dict[str, str] = field(default_factory=dict)  # every key under packages/ -> its sha256
    sizes: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[tuple[dict[str, str | None], str]] = []
        self._attrs: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._attrs, self._text = dict(attrs), []

    def handle_data(self, data: str) -> None:
        if self._attrs is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._attrs is not None:
            self.anchors.append((self._attrs, "".join(self._text).strip()))
            self._attrs = None


def _resolve(page_key: str, href: str) -> str | None:
    """The storage key a relative link on page_key points at, or None when it leaves the mirror."""
    parts = urlsplit(href)
    if parts.scheme or parts.netloc or href.startswith("/"):
        return None
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(page_key), unquote(parts.path)))
    if joined.startswith("../") or joined == ".." or joined.startswith("/"):
        return None
    return joined


def _json_links(page_key: str, body: bytes, problems: list[str]) -> list[Link] | None:
    try:
        data = json.loads(body)
        files = data["files"]
        links = []
        for entry in files:
            key = _resolve(page_key, entry["url"])
            if key is None:
                problems.append(f"{page_key}: link {entry['url']!r} leaves the mirror")
                continue
            metadata = entry.get("core-metadata")
            links.append(Link(entry["filename"], key, entry["hashes"]["sha256"], entry.get("size"),
                              metadata.get("sha256") if isinstance(metadata, dict) else None))
        if not isinstance(data.get("meta", {}).get("api-version"), str):
            problems.append(f"{page_key}: no meta.api-version")
        return links
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        problems.append(f"{page_key}: not a valid PEP 691 page ({exc!r})")
        return None


def _html_links(page_key: str, body: bytes, problems: list[str]) -> list[Link] | None:
    parser = _Anchors()
    try:
        parser.feed(body.decode("utf-8"))
        parser.close()
    except (UnicodeDecodeError, AssertionError) as exc:
        problems.append(f"{page_key}: unreadable HTML ({exc!r})")
        return None
    links = []
    for attrs, text in parser.anchors:
        href = attrs.get("href") or ""
        path, _, fragment = href.partition("#")
        key = _resolve(page_key, path)
        if key is None:
            problems.append(f"{page_key}: link {href!r} leaves the mirror")
            continue
        digest = dict(p.partition("=")[::2] for p in fragment.split("&") if p).get("sha256")
        if not digest:
            problems.append(f"{page_key}: link {href!r} has no #sha256=")
            continue
        metadata = attrs.get("data-core-metadata")
        metadata_sha = metadata.split("=", 1)[1] if metadata and metadata.startswith("sha256=") else None
        if attrs.get("data-dist-info-metadata") != metadata:
            problems.append(f"{page_key}: data-dist-info-metadata differs from data-core-metadata for {text}")
        links.append(Link(text, key, digest, None, metadata_sha))
    return links


def _root_names(key: str, body: bytes | None, problems: list[str]) -> set[str] | None:
    if body is None:
        return None
    if key.endswith("v1_json"):
        try:
            return {p["name"] for p in json.loads(body)["projects"]}
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(f"{key}: not a valid root index ({exc!r})")
            return set()
    parser = _Anchors()
    parser.feed(body.decode("utf-8", "replace"))
    names = set()
    for attrs, text in parser.anchors:
        if attrs.get("href") != f"{text}/":
            problems.append(f"{key}: root link {attrs.get('href')!r} does not match its text {text!r}")
        names.add(text)
    return names


def check_mirror(view: MirrorView, *, known_good: dict[str, str] | None = None, settled: bool = True,
                 check_s3_metadata: bool = False, removed: frozenset[str] = frozenset()) -> MirrorSummary:
    """Collect every consistency problem (see assert_mirror_consistent)."""
    summary = MirrorSummary()
    problems = summary.problems
    pages: dict[str, dict[str, bytes]] = {}
    for key in view.keys("simple/"):
        match = _PAGE_KEY.match(key)
        if match:
            body = view.read(key)
            if body is not None:
                pages.setdefault(match.group(1), {})[match.group(2)] = body
        elif key not in ("simple/index.html", "simple/index.v1_html", "simple/index.v1_json"):
            problems.append(f"unexpected object under simple/: {key}")
    summary.projects = set(pages)
    if check_s3_metadata:
        for name, representations in pages.items():
            for page in representations:
                content_type, cache_control = view.headers(f"simple/{name}/{page}")
                if content_type != PAGE_TYPES[page] or not (cache_control or "").startswith("max-age="):
                    problems.append(f"simple/{name}/{page}: served as {content_type!r}, Cache-Control "
                                    f"{cache_control!r}; expected {PAGE_TYPES[page]!r} and max-age")

    for key in view.keys("packages/"):
        result = view.sha256(key)
        if result is None:
            continue
        summary.files[key], summary.sizes[key] = result
        if known_good is not None and known_good.get(key) != result[0]:
            expected = known_good.get(key, "no such file on the origin")
            problems.append(f"stored {key} has sha256 {result[0][:16]}..., the origin's is {expected[:16]}...")
        if check_s3_metadata:
            recorded = view.stored_sha256(key)
            if recorded != result[0]:
                problems.append(f"{key}: x-amz-meta-sha256 {recorded} but the bytes hash to {result[0]}")
            content_type, cache_control = view.headers(key)
            if cache_control != FILE_CACHE_CONTROL or not content_type or content_type == "binary/octet-stream":
                problems.append(f"{key}: served as {content_type!r} with Cache-Control {cache_control!r}")

    for name, representations in sorted(pages.items()):
        if settled and set(representations) != set(PAGES):
            problems.append(f"project {name}: has {sorted(representations)}, expected all of {PAGES}")
        if "index.html" in representations and "index.v1_html" in representations and settled \
                and representations["index.html"] != representations["index.v1_html"]:
            problems.append(f"project {name}: index.html and index.v1_html differ")
        per_page: dict[str, list[Link]] = {}
        for page, body in representations.items():
            page_key = f"simple/{name}/{page}"
            links = (_json_links if page.endswith("json") else _html_links)(page_key, body, problems)
            if links is None:
                continue
            per_page[page] = links
            for link in links:
                _check_link(view, summary, page_key, link, link.key, link.sha256, link.size)
                if link.metadata_sha256:
                    _check_link(view, summary, page_key, link, link.key + ".metadata", link.metadata_sha256, None)
        if settled and len(per_page) == len(PAGES):
            shapes = {page: sorted((x.filename, x.key, x.sha256, x.metadata_sha256) for x in links)
                      for page, links in per_page.items()}
            if shapes["index.v1_json"] != shapes["index.html"]:
                problems.append(f"project {name}: the JSON and HTML pages list different files")

    roots = {k: _root_names(k, view.read(k), problems)
             for k in ("simple/index.v1_json", "simple/index.v1_html", "simple/index.html")}
    present = {k: v for k, v in roots.items() if v is not None}
    if settled:
        if len(present) != 3:
            problems.append(f"root index: only {sorted(present)} exist")
        for key, names in present.items():
            if names != summary.projects:
                problems.append(f"{key}: lists {sorted(names - summary.projects)[:5]} without pages and "
                                f"omits {sorted(summary.projects - names)[:5]} that have pages")
    else:
        for key, names in present.items():
            if not_there := names - summary.projects - removed:
                problems.append(f"{key}: lists {sorted(not_there)[:5]} whose pages are missing")
    summary.root_projects = set().union(*present.values()) if present else set()
    return summary


def _check_link(view: MirrorView, summary: MirrorSummary, page_key: str, link: Link, key: str, sha256: str,
                size: int | None) -> None:
    if not key.startswith("packages/"):
        summary.problems.append(f"{page_key}: {link.filename} links {key}, outside packages/")
        return
    stored = summary.files.get(key)
    if stored is None:
        result = view.sha256(key)
        if result is None:
            summary.problems.append(f"{page_key}: links {key}, which is not stored")
            return
        summary.files[key], summary.sizes[key] = result
        stored = result[0]
    if stored != sha256:
        summary.problems.append(f"{page_key}: links {key} with sha256 {sha256[:16]}..., stored bytes hash to "
                                f"{stored[:16]}...")
    if size is not None and summary.sizes[key] != size:
        summary.problems.append(f"{page_key}: {key} is {summary.sizes[key]} bytes, the page says {size}")
    summary.links[key] = link


def assert_mirror_consistent(view: MirrorView, *, known_good: dict[str, str] | None = None,
                             settled: bool = True, check_s3_metadata: bool = False,
                             removed: frozenset[str] = frozenset()) -> MirrorSummary:
    """Fail with every problem listed unless the mirror is consistent.

    check_s3_metadata: also each object's x-amz-meta-sha256, Content-Type and Cache-Control.
    settled=True (after a run that finished, even with failures): every project has all three pages,
    they agree, and the root lists exactly the projects that have pages.  settled=False (after a
    SIGKILL): pages may be mid-replacement, so only "every link is present and correct" and "the root
    lists no project whose page is missing" are required.  known_good maps packages/ keys to the
    origin's sha256: anything else stored there is corrupt or foreign.  removed: projects removed
    upstream, whose pages go at once while the root index still lists them until it is rewritten
    (allowed only when not settled).
    """
    summary = check_mirror(view, known_good=known_good, settled=settled, check_s3_metadata=check_s3_metadata,
                           removed=removed)
    assert not summary.problems, (
        f"mirror {view.name} is inconsistent: expected no problems, got {len(summary.problems)}:\n  "
        + "\n  ".join(summary.problems[:40])
    )
    return summary
