"""Parsing origin pages (PEP 691 JSON, PEP 503 HTML) and XML-RPC answers into the model.  Pure: bytes in,
values out.

Everything here is untrusted input.  A page that is malformed or hostile raises OriginError or
UnsafeInput, which fails that project alone.
"""

from __future__ import annotations

import codecs
import io
import json
import xmlrpc.client
from collections.abc import Iterable, Iterator
from html.parser import HTMLParser
from typing import Any, BinaryIO
from urllib.parse import urljoin, urlsplit

import ijson
from defusedxml.xmlrpc import DefusedExpatParser

from cloudpypi.errors import OriginError, UnsafeInput
from cloudpypi.model import PROJECT_STATUSES, DistFile, ProjectPage, checked_project_name
from cloudpypi.paths import absolute_file_url, check_filename, check_sha256, key_for_file

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
# Pages up to this size are parsed whole with the json module (C, one pass); larger ones stream
# through ijson so that memory holds the files, not the document's tree.  Most pypi.org pages are
# a few kB; the largest are tens of MB.
WHOLE_JSON_PAGE = 1 << 20
HTML_TYPES = ("application/vnd.pypi.simple.v1+html", "text/html")


def _serial(value: object, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.isdigit():  # pypi.org sends meta._last-serial as a string
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise OriginError(f"{what}: serial {value!r} is not a non-negative integer")
    return value


def _hash_value(hashes: object, what: str) -> str | None:
    if isinstance(hashes, dict) and "sha256" in hashes:
        return check_sha256(hashes["sha256"])
    if hashes in (None, {}) or isinstance(hashes, dict):
        return None
    raise OriginError(f"{what}: hashes must be an object")


def _metadata_field(entry: dict[str, Any]) -> tuple[bool, str | None]:
    value = entry.get("core-metadata", entry.get("data-dist-info-metadata", entry.get("dist-info-metadata")))
    if value in (None, False):
        return False, None
    if value is True:
        return True, None
    if isinstance(value, dict):
        return True, _hash_value(value, "core-metadata")
    raise OriginError(f"core-metadata {value!r} is neither a boolean nor an object of hashes")


_PAGE_EXTRAS = ("alternate-locations", "project-status")
_JsonParts = tuple[Any, Any, list[Any], Iterable[Any], dict[str, Any]]  # name, meta, versions, files, extras
_ABSENT = object()
MAX_PAGE_URLS = 100  # PEP 708 tracks / alternate-locations per page: far more than any real project declares
MAX_URL_LENGTH = 2048
MAX_REASON_LENGTH = 2000


def _same_host_url(page_url: str, value: object, what: str) -> str:
    """An http(s) URL on the page's own host (the origin), resolved against the page."""
    if (not isinstance(value, str) or not value or len(value) > MAX_URL_LENGTH
            or any(c in value for c in "\\\x00\r\n\t")):
        raise UnsafeInput(f"{what} {value!r} is not a usable URL")
    url = urljoin(page_url, value)
    parts, page = urlsplit(url), urlsplit(page_url)
    if parts.scheme not in ("http", "https") or (parts.hostname or "").lower() != (page.hostname or "").lower():
        raise UnsafeInput(f"{what} {url!r} is not on the origin's host {page.hostname!r}; refusing to fetch it")
    return parts._replace(fragment="").geturl()


def _provenance_url(page_url: str, value: object, filename: str) -> str | None:
    """PEP 740: a file's provenance URL, or None.  Fetched from the origin's host only."""
    if value is None or value == "":  # an empty data-provenance attribute states nothing
        return None
    return _same_host_url(page_url, value, f"{filename}: provenance")


def _url_list(value: object, what: str) -> tuple[str, ...]:
    """PEP 708 tracks / alternate-locations: absolute http(s) URLs, carried through as the origin states them."""
    if not isinstance(value, list) or len(value) > MAX_PAGE_URLS:
        raise OriginError(f"{what} is not a list of at most {MAX_PAGE_URLS} URLs")
    urls = []
    for item in value:
        if (not isinstance(item, str) or len(item) > MAX_URL_LENGTH
                or urlsplit(item).scheme not in ("http", "https") or any(c in item for c in "\x00\r\n\t")):
            raise OriginError(f"{what}: {item!r} is not an absolute http(s) URL")
        urls.append(item)
    return tuple(dict.fromkeys(urls))


def _page_fields(name: str, page_url: str, status: object, reason: object, tracks: object,
                 alternates: object) -> dict[str, Any]:
    """PEP 792 status and PEP 708 fields of a project page, checked."""
    if status is not None and not isinstance(status, str):
        raise OriginError(f"project {name}: project-status {status!r} is not a string")
    if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON_LENGTH):
        raise OriginError(f"project {name}: project-status reason is not a string of at most "
                          f"{MAX_REASON_LENGTH} characters")
    if status is not None and status not in PROJECT_STATUSES:
        # PEP 792: an unknown status is not guessed at; the page is mirrored as if none were given
        status, reason = None, None
    return {"status": status, "status_reason": reason if status is not None else None,
            "tracks": _url_list(tracks, f"project {name}: tracks"),
            "alternate_locations": _url_list(alternates, f"project {name}: alternate-locations")}


def _file(page_url: str, allowed_hosts: frozenset[str], filename: Any, url: Any, sha256: str | None,
          size: Any, requires_python: Any, yanked: Any, metadata: tuple[bool, str | None],
          upload_time: Any, provenance: Any = None) -> DistFile:
    filename = check_filename(filename)
    if not sha256:
        raise OriginError(f"{filename}: no sha256 hash, so the download cannot be verified")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int)):
        raise OriginError(f"{filename}: size {size!r} is not an integer")
    if size is not None and size <= 0:
        raise OriginError(f"{filename}: size {size} cannot be a real distribution file")
    if requires_python is not None and not isinstance(requires_python, str):
        raise OriginError(f"{filename}: requires-python {requires_python!r} is not a string")
    if not isinstance(yanked, bool | str):
        raise OriginError(f"{filename}: yanked {yanked!r} is neither a boolean nor a reason")
    if upload_time is not None and not isinstance(upload_time, str):
        raise OriginError(f"{filename}: upload-time {upload_time!r} is not a string")
    absolute = absolute_file_url(page_url, url, allowed_hosts)
    has_metadata, metadata_sha256 = metadata
    return DistFile(
        filename=filename,
        url=absolute,
        sha256=sha256,
        size=size,
        requires_python=requires_python or None,
        yanked=yanked,
        metadata_sha256=metadata_sha256,
        has_metadata=has_metadata and metadata_sha256 is not None,
        upload_time=upload_time,
        key=key_for_file(absolute, filename, sha256),
        provenance_url=_provenance_url(page_url, provenance, filename),
    )


def _unique(files: list[DistFile], name: str) -> tuple[DistFile, ...]:
    seen: set[str] = set()
    for item in files:
        if item.filename in seen:
            raise OriginError(f"project {name}: the page lists {item.filename} twice")
        seen.add(item.filename)
    return tuple(files)


def _stream(body: bytes | BinaryIO) -> BinaryIO:
    return io.BytesIO(body) if isinstance(body, bytes | bytearray) else body


def _json_items(stream: BinaryIO, prefix: str) -> Iterator[Any]:
    stream.seek(0)
    return ijson.items(stream, prefix, use_float=True)


def _json_shape(stream: BinaryIO) -> tuple[str | None, bool]:
    """The document's top-level type, and whether it has a top-level 'files' array (one event pass)."""
    stream.seek(0)
    top, has_files = None, False
    for prefix, event, _value in ijson.parse(stream, use_float=True):
        if top is None:
            top = event
            if event != "start_map":
                break
        elif prefix == "files" and event == "start_array":
            has_files = True
    return top, has_files


def _refuse_constant(value: str) -> None:
    raise ValueError(f"{value} is not JSON")


def _whole_json_parts(stream: BinaryIO, expected_name: str) -> _JsonParts:
    document = json.loads(stream.read(), parse_constant=_refuse_constant)
    if not isinstance(document, dict) or not isinstance(document.get("files"), list):
        raise OriginError(f"project {expected_name}: JSON page has no 'files' list")
    versions = document.get("versions")
    extras = {key: document[key] for key in _PAGE_EXTRAS if key in document}
    return (document.get("name", expected_name), document.get("meta", {}),
            versions if isinstance(versions, list) else [], document["files"], extras)


def _streamed_json_parts(stream: BinaryIO, expected_name: str) -> _JsonParts:
    top, has_files = _json_shape(stream)
    if top != "start_map" or not has_files:
        raise OriginError(f"project {expected_name}: JSON page has no 'files' list")
    raw_name = next(_json_items(stream, "name"), expected_name)
    meta = next(_json_items(stream, "meta"), {})
    versions = list(_json_items(stream, "versions.item"))
    extras = {}
    for key in _PAGE_EXTRAS:
        value = next(_json_items(stream, key), _ABSENT)
        if value is not _ABSENT:
            extras[key] = value
    return raw_name, meta, versions, _json_items(stream, "files.item"), extras


def parse_json_page(body: bytes | BinaryIO, page_url: str, expected_name: str, allowed_hosts: frozenset[str],
                    header_serial: int | None = None) -> ProjectPage:
    """Parse a PEP 691 page: whole when small, else streamed with ijson over the spooled body.

    A page of tens of MB (projects with tens of thousands of files), or a compressed page that decodes
    to far more than it weighs on the wire, stays within the sync's memory budget.
    """
    stream = _stream(body)
    try:
        size = stream.seek(0, io.SEEK_END)
        stream.seek(0)
        parts = _whole_json_parts if size <= WHOLE_JSON_PAGE else _streamed_json_parts
        raw_name, meta, versions, entries, extras = parts(stream, expected_name)
        name = checked_project_name(raw_name)
        if name != expected_name:
            raise UnsafeInput(f"project {expected_name}: page claims to be project {name!r}")
        meta = meta if isinstance(meta, dict) else {}
        api_version = meta.get("api-version")
        if isinstance(api_version, str) and api_version.split(".", 1)[0] != "1":  # PEP 691: refuse unknown majors
            raise OriginError(f"project {expected_name}: api-version {api_version!r} is not a 1.x version")
        serial = _serial(meta.get("_last-serial"), f"project {name}")
        if serial is None:
            serial = header_serial
        files = []
        for entry in entries:
            if not isinstance(entry, dict):
                raise OriginError(f"project {name}: a file entry is not an object")
            try:
                files.append(_file(
                    page_url, allowed_hosts, entry.get("filename"), entry.get("url"),
                    _hash_value(entry.get("hashes"), f"project {name}"), entry.get("size"),
                    entry.get("requires-python"), entry.get("yanked", False), _metadata_field(entry),
                    entry.get("upload-time"), entry.get("provenance"),
                ))
            except (OriginError, UnsafeInput) as exc:
                raise type(exc)(f"project {name}: {exc}") from None
    except (ijson.JSONError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        if isinstance(exc, OriginError | UnsafeInput):
            raise
        if isinstance(exc, RecursionError):
            raise OriginError(f"project {expected_name}: page is nested too deeply to be a PEP 691 page") from None
        raise OriginError(f"project {expected_name}: page is not valid JSON ({exc})") from None
    if not all(isinstance(v, str) for v in versions):
        versions = ()
    status = extras.get("project-status")
    if status is not None and not isinstance(status, dict):
        raise OriginError(f"project {name}: project-status {status!r} is not an object")
    status = status or {}
    return ProjectPage(name=name, files=_unique(files, name), versions=tuple(versions), last_serial=serial,
                       display_name=str(raw_name),
                       **_page_fields(name, page_url, status.get("status"), status.get("reason"),
                                      meta.get("tracks") or [], extras.get("alternate-locations") or []))


class AnchorParser(HTMLParser):
    """The anchors (attributes, label) of an HTML page fed to it in chunks, and its pypi:last-serial."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[tuple[dict[str, str | None], str]] = []
        self.serial: str | None = None
        self.pypi_meta: dict[str, list[str]] = {}  # <meta name="pypi:X" content="..."> by X, in page order
        self._current: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._current, self._text = dict(attrs), []
        elif tag == "meta":
            attributes = dict(attrs)
            meta_name, content = attributes.get("name") or "", attributes.get("content")
            if meta_name == "pypi:last-serial":
                self.serial = content
            elif meta_name.startswith("pypi:") and content is not None and len(self.pypi_meta) < 64:
                self.pypi_meta.setdefault(meta_name[5:], []).append(content)

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._current is not None:
            self.anchors.append((self._current, "".join(self._text).strip()))
            self._current = None


def _html_metadata(value: str | None) -> tuple[bool, str | None]:
    if value is None:
        return False, None
    if value.startswith("sha256="):
        return True, check_sha256(value.split("=", 1)[1])
    return value.lower() == "true", None


def parse_html_page(body: bytes | BinaryIO, page_url: str, expected_name: str, allowed_hosts: frozenset[str],
                    header_serial: int | None = None) -> ProjectPage:
    stream = _stream(body)
    stream.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    parser = AnchorParser()
    try:
        while chunk := stream.read(1 << 20):
            parser.feed(decoder.decode(chunk))
        parser.feed(decoder.decode(b"", final=True))
    except UnicodeDecodeError:
        raise OriginError(f"project {expected_name}: HTML page is not UTF-8") from None
    except Exception as exc:  # html.parser raises assorted errors on garbage
        raise OriginError(f"project {expected_name}: HTML page cannot be parsed ({exc})") from None
    try:
        cut_in_tag = parser.rawdata.lstrip().startswith("<")  # close() would silently drop the partial tag
        parser.close()
    except Exception as exc:  # html.parser raises assorted errors on garbage
        raise OriginError(f"project {expected_name}: HTML page cannot be parsed ({exc})") from None
    if cut_in_tag or parser._current is not None:
        # A page cut short would silently list fewer files, and the mirror would then drop the rest.
        raise OriginError(f"project {expected_name}: HTML page ends inside a tag or an open link (truncated?)")
    files = []
    for attrs, label in parser.anchors:
        href = attrs.get("href") or ""
        fragment = href.partition("#")[2]
        sha256 = None
        for part in fragment.split("&"):
            algo, _, digest = part.partition("=")
            if algo == "sha256":
                sha256 = check_sha256(digest)
        yanked_attr = attrs.get("data-yanked")
        yanked: bool | str = False if yanked_attr is None else (yanked_attr or True)
        metadata_attr = attrs.get("data-core-metadata", attrs.get("data-dist-info-metadata"))
        try:
            files.append(_file(page_url, allowed_hosts, label, href, sha256, None,
                               attrs.get("data-requires-python"), yanked, _html_metadata(metadata_attr), None,
                               attrs.get("data-provenance")))
        except (OriginError, UnsafeInput) as exc:
            raise type(exc)(f"project {expected_name}: {exc}") from None
    serial = header_serial
    if serial is None and parser.serial and parser.serial.isdigit():
        serial = int(parser.serial)
    meta = parser.pypi_meta
    return ProjectPage(name=expected_name, files=_unique(files, expected_name), last_serial=serial,
                       display_name=expected_name,
                       **_page_fields(expected_name, page_url, next(iter(meta.get("project-status", [])), None),
                                      next(iter(meta.get("project-status-reason", [])), None),
                                      meta.get("tracks", []), meta.get("alternate-locations", [])))


def parse_project_page(body: bytes | BinaryIO, content_type: str, page_url: str, expected_name: str,
                       allowed_hosts: frozenset[str], header_serial: int | None = None) -> ProjectPage:
    media = content_type.split(";", 1)[0].strip().lower()
    if media == JSON_TYPE or media == "application/json":
        return parse_json_page(body, page_url, expected_name, allowed_hosts, header_serial)
    if media in HTML_TYPES or not media:
        return parse_html_page(body, page_url, expected_name, allowed_hosts, header_serial)
    raise OriginError(f"project {expected_name}: unexpected Content-Type {content_type!r}")


NOT_XMLRPC: Any = object()  # what parse_xmlrpc_answer returns for an answer that is not XML-RPC at all
_XMLRPC_SNIFF = 512


def parse_xmlrpc_answer(chunks: Iterable[bytes]) -> Any:
    """The value of an XML-RPC methodResponse, parsed as it streams in with a hardened expat parser
    (no DTDs' entities, no external references: defusedxml).  NOT_XMLRPC when the answer's first
    bytes are not a methodResponse (an origin without XML-RPC answering with a page).

    Raises xmlrpc.client.Fault for a fault answer, and expat or defusedxml errors for malformed XML.
    """
    unmarshaller = xmlrpc.client.Unmarshaller()
    parser = DefusedExpatParser(unmarshaller)
    head = b""
    sniffed = False
    for chunk in chunks:
        if not sniffed:
            head += chunk
            if len(head) < _XMLRPC_SNIFF:
                continue
            if b"<methodResponse" not in head[:_XMLRPC_SNIFF]:
                return NOT_XMLRPC
            sniffed, chunk, head = True, head, b""
        parser.feed(chunk)
    if not sniffed:
        if b"<methodResponse" not in head:
            return NOT_XMLRPC
        parser.feed(head)
    parser.close()
    return unmarshaller.close()[0]
