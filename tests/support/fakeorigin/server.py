"""The fake origin's two HTTP servers (index on one port, files on another) and `running_origin`.

Both are ThreadingHTTPServers speaking HTTP/1.1 with keep-alive (Content-Length always set), streaming
files from the artifact cache, with request accounting and fault injection on every response.
"""

from __future__ import annotations

import json
import logging
import socket
import struct
import threading
import xmlrpc.client
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import render
from .accounting import Counters, RequestRecord, now
from .corpus import Corpus, PageOverride
from .faults import Fault, Faults
from .model import iso_time, normalize

log = logging.getLogger(__name__)

CHUNK = 256 * 1024
WAREHOUSE_CHANGELOG_LIMIT = 50_000


@dataclass
class Options:
    """Runtime-mutable server behaviour (tests may flip these between runs)."""

    static: bool = False  # no X-PyPI-Last-Serial, no XML-RPC (404 on /pypi): a mirror served from S3
    html_only: bool = False  # ignore Accept; serve only PEP 503 HTML
    changelog_limit: int = WAREHOUSE_CHANGELOG_LIMIT  # max entries per changelog_since_serial call
    files_host: str | None = None  # hostname in file URLs (default: the bind host)


@dataclass
class Response:
    status: int
    kind: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    file: Path | None = None
    start: int = 0
    length: int | None = None  # for file bodies
    xmlrpc_method: str | None = None

    @property
    def content_length(self) -> int:
        return self.length if self.file is not None and self.length is not None else len(self.body)

    def chunks(self) -> Iterator[bytes]:
        if self.file is None:
            for offset in range(0, len(self.body), CHUNK):
                yield self.body[offset : offset + CHUNK]
            return
        remaining = self.content_length
        with open(self.file, "rb") as handle:
            handle.seek(self.start)
            while remaining > 0:
                data = handle.read(min(CHUNK, remaining))
                if not data:
                    raise OSError(f"{self.file} is shorter than expected")
                remaining -= len(data)
                yield data


def text_response(status: int, kind: str, message: str, **headers: str) -> Response:
    return Response(status, kind, {"Content-Type": "text/plain; charset=utf-8", **headers}, message.encode())


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], handler: type, origin: OriginServer, port_name: str) -> None:
        self.origin = origin
        self.port_name = port_name
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients dropping connections (often on purpose, under faults) are not errors worth a traceback."""
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True  # a small body must not wait for the client's delayed ACK (~40 ms)
    protocol_version = "HTTP/1.1"
    server_version = "fakeorigin/1"
    timeout = 300  # idle keep-alive connections give up eventually; stop() closes them at once
    server: _Server

    # ---- plumbing --------------------------------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self.server.origin._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        self.server.origin._track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.server.port_name, format % args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def route(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> Response:
        raise NotImplementedError

    def _dispatch(self, method: str) -> None:
        origin = self.server.origin
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        try:
            response = self.route(method, split.path, parse_qs(split.query), body)
        except Exception as exc:  # a bug in the fake origin must be visible, not a hung client
            log.exception("fake origin failed on %s %s", method, self.path)
            response = text_response(500, "other", f"fake origin internal error: {exc}\n")
        if response.kind == "control":
            self._send(response, None, method)
            return
        fault = origin.faults.decide(self.server.port_name, method, self.path, response.kind)
        status = fault.status if fault and fault.status else response.status
        origin.counters.record(
            RequestRecord(
                self.server.port_name,
                method,
                self.path,
                response.kind,
                status,
                fault.kind if fault else None,
                now(),
                response.xmlrpc_method,
            )
        )
        try:
            self._send(response, fault, method)
        except OSError:  # the client went away (or stop() shut the socket): nothing left to send to
            self.close_connection = True

    # ---- sending, with faults ------------------------------------------------------------------------------

    def _reset(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        # Close the read side's file object too, so the socket really closes now (with linger 0: a RST).
        # wfile is an unbuffered socket writer that finish() flushes and closes later; leave it open.
        for closable in (self.rfile, self.connection):
            try:
                closable.close()
            except OSError:
                pass

    def _send(self, response: Response, fault: Fault | None, method: str) -> None:
        kind = fault.kind if fault else None
        if fault and fault.status:
            extra = {"Retry-After": f"{fault.rule.retry_after:g}"} if fault.status == 429 else {}
            response = text_response(
                fault.status, response.kind, f"fault injected: {fault.status}\n", **extra
            )
            kind = None
        if kind == "bad_metadata":
            data = b"".join(response.chunks())
            tampered = data.replace(b"Summary: ", b"Summary: (tampered) ", 1)
            response = Response(
                response.status,
                response.kind,
                response.headers,
                tampered if tampered != data else data + b"X-Tampered: yes\n",
            )
            kind = None
        if kind == "reset" and fault and fault.rule.after_bytes <= 0:
            self._reset()
            return
        if kind == "timeout" and fault and fault.rule.after_bytes <= 0:
            if self.server.origin.stop_event.wait(fault.rule.stall_s):
                self._reset()
                return
        size = response.content_length
        announced = size + fault.rule.length_delta if kind == "wrong_length" and fault else size
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(max(announced, 0)))
        if kind in ("truncate", "wrong_length"):
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if method == "HEAD":
            return
        if kind is None and response.file is not None and size > 0:
            self._sendfile(response.file, response.start, size)
            return
        self._stream(response, fault, kind, size)

    def _sendfile(self, path: Path, offset: int, count: int) -> None:
        """Zero-copy send of a clean file body, so the origin is never a benchmark's bottleneck."""
        with open(path, "rb") as handle:
            sent = self.connection.sendfile(handle, offset, count)
        if sent != count:
            raise OSError(f"sent {sent} of {count} bytes of {path}")

    def _stream(self, response: Response, fault: Fault | None, kind: str | None, size: int) -> None:
        stop = self.server.origin.stop_event
        limit = size
        if kind == "truncate" and fault:
            limit = min(size - 1, int(size * fault.rule.truncate_at)) if size else 0
        flip: set[int] = set()
        if kind == "corrupt" and fault and size:
            flip = {(fault.draw + i * 7919) % size for i in range(fault.rule.corrupt_bytes)}
        break_at = fault.rule.after_bytes if fault and kind in ("reset", "timeout") else None
        started, sent = now(), 0
        for chunk in response.chunks():
            if sent >= limit:
                break
            chunk = chunk[: limit - sent]
            if flip:
                hits = [p - sent for p in flip if sent <= p < sent + len(chunk)]
                if hits:
                    mutable = bytearray(chunk)
                    for h in hits:
                        mutable[h] ^= 0xFF
                    chunk = bytes(mutable)
            if break_at is not None and sent <= break_at < sent + len(chunk):
                self.wfile.write(chunk[: break_at - sent])
                if kind == "reset" or stop.wait(fault.rule.stall_s):  # type: ignore[union-attr]
                    self._reset()
                    return
                chunk = chunk[break_at - sent :]
                sent = break_at
                break_at = None
            if kind == "slow" and fault:
                step = max(1024, fault.rule.bandwidth // 20)
                for offset in range(0, len(chunk), step):
                    piece = chunk[offset : offset + step]
                    self.wfile.write(piece)
                    sent += len(piece)
                    delay = sent / fault.rule.bandwidth - (now() - started)
                    if delay > 0 and stop.wait(delay):
                        self._reset()
                        return
                continue
            self.wfile.write(chunk)
            sent += len(chunk)
        if kind in ("truncate", "wrong_length"):
            self.close_connection = True


class IndexHandler(_Handler):
    def route(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> Response:
        origin = self.server.origin
        if path.startswith("/_fakeorigin/"):
            return origin.control(method, path, body)
        if path == "/pypi" or path == "/pypi/":
            if origin.options.static:
                return text_response(404, "xmlrpc", "not found\n")
            if method != "POST":
                return text_response(405, "xmlrpc", "XML-RPC needs POST\n", Allow="POST")
            return origin.xmlrpc(body)
        if path.startswith("/integrity/") and path.endswith("/provenance"):
            return origin.provenance(path)
        if path.startswith("/pypi/") and path.endswith("/json"):
            return origin.json_api(path[len("/pypi/") : -len("/json")].strip("/"))
        if method not in ("GET", "HEAD"):
            return text_response(405, "other", "method not allowed\n", Allow="GET, HEAD")
        accept = self.headers.get("Accept")
        fmt_param = (query.get("format") or [None])[0]
        if path == "/simple":
            return Response(301, "root", {"Location": "/simple/"}, b"")
        if path == "/simple/":
            return origin.root_page(accept, fmt_param)
        if path.startswith("/simple/"):
            rest = path[len("/simple/") :]
            if "/" not in rest:
                return Response(301, "project", {"Location": f"/simple/{rest}/"}, b"")
            segment = rest[:-1] if rest.endswith("/") and rest.count("/") == 1 else None
            if segment is None:
                return text_response(404, "project", "not found\n")
            return origin.project_page(segment, accept, fmt_param)
        return text_response(404, "other", "not found\n")


class FilesHandler(_Handler):
    def route(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> Response:
        origin = self.server.origin
        raw = origin.corpus.overrides.raw_files.get(self.path)
        if raw is not None:
            return Response(200, "file", {"Content-Type": "application/octet-stream"}, raw)
        if method not in ("GET", "HEAD"):
            return text_response(405, "other", "method not allowed\n", Allow="GET, HEAD")
        if path.endswith(".metadata"):
            spec = origin.corpus.file_at(path[: -len(".metadata")])
            if spec is None or spec.is_sdist:
                return text_response(404, "metadata", "not found\n")
            art = origin.corpus.store.get(spec)
            assert art.metadata_path is not None
            return self._file_response(
                "metadata", art.metadata_path, art.metadata_size or 0, art.metadata_sha256 or ""
            )
        spec = origin.corpus.file_at(path)
        if spec is None:
            return text_response(404, "file", "not found\n")
        art = origin.corpus.store.get(spec)
        return self._file_response("file", art.path, art.size, art.sha256)

    def _file_response(self, kind: str, file: Path, size: int, sha256: str) -> Response:
        headers = {
            "Content-Type": "application/octet-stream",
            "Accept-Ranges": "bytes",
            "ETag": f'"{sha256}"',
            "Cache-Control": "max-age=365000000, immutable, public",
        }
        spec = self.headers.get("Range")
        byte_range = parse_range(spec, size) if spec else None
        if byte_range == "unsatisfiable":
            return text_response(416, kind, "range not satisfiable\n", **{"Content-Range": f"bytes */{size}"})
        if isinstance(byte_range, tuple):
            start, end = byte_range
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            return Response(206, kind, headers, file=file, start=start, length=end - start + 1)
        return Response(200, kind, headers, file=file, start=0, length=size)


def parse_range(header: str, size: int) -> tuple[int, int] | str | None:
    """One `bytes=` range -> (start, end) inclusive; "unsatisfiable"; or None to serve the whole file."""
    if not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[len("bytes=") :].strip().partition("-")
    try:
        if first == "":
            count = int(last)
            if count <= 0:
                return "unsatisfiable"
            return (max(0, size - count), size - 1)
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size or end < start:
        return "unsatisfiable"
    return (start, min(end, size - 1))


class OriginServer:
    """A running fake origin.  Use running_origin(); attributes are the test-facing API."""

    def __init__(
        self,
        corpus: Corpus,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        files_port: int = 0,
        seed: int = 0,
        **options: Any,
    ) -> None:
        self.corpus = corpus
        self.options = Options(**options)
        self.counters = Counters()
        self.faults = Faults(seed)
        self.stop_event = threading.Event()
        self.host = host
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        self._cache: dict[tuple[str, str], tuple[bytes, int]] = {}
        self._cache_generation = -1
        self._cache_lock = threading.Lock()
        self._index = _Server((host, port), IndexHandler, self, "index")
        self._files = _Server((host, files_port), FilesHandler, self, "files")
        self._threads: list[threading.Thread] = []

    # ---- lifecycle -----------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._index.server_address[1]

    @property
    def files_port(self) -> int:
        return self._files.server_address[1]

    @property
    def url(self) -> str:
        """Index base URL (use as --origin), e.g. http://127.0.0.1:PORT."""
        return f"http://{self.host}:{self.port}"

    @property
    def simple_url(self) -> str:
        return f"{self.url}/simple/"

    @property
    def xmlrpc_url(self) -> str:
        return f"{self.url}/pypi"

    @property
    def files_url(self) -> str:
        return f"http://{self.options.files_host or self.host}:{self.files_port}"

    def start(self) -> OriginServer:
        for server in (self._index, self._files):
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                daemon=True,
                name=f"fakeorigin-{server.port_name}",
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop both servers, interrupt stalled responses and close keep-alive connections.  Idempotent."""
        if self.stop_event.is_set():
            return
        self.stop_event.set()
        for server in (self._index, self._files):
            server.shutdown()
        with self._conn_lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for server in (self._index, self._files):
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _track(self, conn: socket.socket, opened: bool) -> None:
        with self._conn_lock:
            if opened:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def reset_counters(self) -> None:
        self.counters.reset()

    # ---- pages ------------------------------------------------------------------------------------------

    def _cached(self, key: tuple[str, str], build: Any) -> tuple[bytes, int]:
        generation = self.corpus.generation
        with self._cache_lock:
            if generation != self._cache_generation:
                self._cache = {}
                self._cache_generation = generation
            hit = self._cache.get(key)
        if hit is not None:
            return hit
        value = build()
        with self._cache_lock:
            if generation == self._cache_generation:
                self._cache[key] = value
        return value

    def _page(self, kind: str, fmt: str, body: bytes, serial: int, status: int = 200) -> Response:
        content_type = f"{fmt}; charset=utf-8" if fmt == render.TEXT_HTML else fmt
        headers = {"Content-Type": content_type, "Vary": "Accept", "Cache-Control": "max-age=600, public"}
        if not self.options.static:
            headers["X-PyPI-Last-Serial"] = str(serial)
        return Response(status, kind, headers, body)

    def _override(self, kind: str, fmt: str, override: PageOverride) -> Response | None:
        data = override.json if fmt == render.JSON_V1 else override.html
        if data is None:
            return None
        content_type = override.content_type or (f"{fmt}; charset=utf-8" if fmt == render.TEXT_HTML else fmt)
        headers = {"Content-Type": content_type, "Vary": "Accept"}
        if not self.options.static:
            headers["X-PyPI-Last-Serial"] = str(self.corpus.serial)
        return Response(override.status, kind, headers, data)

    def root_page(self, accept: str | None, fmt_param: str | None) -> Response:
        fmt = render.negotiate(accept, html_only=self.options.html_only, format_param=fmt_param)
        if fmt is None:
            return text_response(406, "root", "not acceptable: ask for JSON v1 or HTML\n")
        override = self.corpus.overrides.root
        if override is not None:
            response = self._override("root", fmt, override)
            if response is not None:
                return response

        def build() -> tuple[bytes, int]:
            serial, names = render.root_listing(self.corpus)
            if fmt == render.JSON_V1:
                return render.root_json(serial, names), serial
            return render.root_html(serial, names), serial

        body, serial = self._cached(("", fmt), build)
        return self._page("root", fmt, body, serial)

    def project_page(self, segment: str, accept: str | None, fmt_param: str | None) -> Response:
        fmt = render.negotiate(accept, html_only=self.options.html_only, format_param=fmt_param)
        if fmt is None:
            return text_response(406, "project", "not acceptable: ask for JSON v1 or HTML\n")
        pages = self.corpus.overrides.pages
        name = unquote(segment)
        for key in (segment, name):
            if key in pages:
                response = self._override("project", fmt, pages[key])
                if response is not None:
                    return response
        normalized = normalize(name)
        if name != normalized:
            return Response(301, "project", {"Location": f"/simple/{normalized}/"}, b"")
        project = self.corpus.snapshot(normalized)
        if project is None:
            return text_response(404, "project", f"no project {normalized}\n")

        def build() -> tuple[bytes, int]:
            entries = render.file_entries(self.corpus, project, self.files_url, self.url)
            raw = self.corpus.overrides.raw_entries.get(normalized, [])
            if fmt == render.JSON_V1:
                return render.project_json(project, project.last_serial, entries, [e for e, _ in raw]), 0
            return render.project_html(project, project.last_serial, entries, raw), 0

        body, _ = self._cached((normalized, fmt), build)
        return self._page("project", fmt, body, project.last_serial)

    def provenance(self, path: str) -> Response:
        """PEP 740 provenance objects, served from the index host as pypi.org's integrity API does."""
        parts = path.split("/")  # "", "integrity", project, version, filename, "provenance"
        if len(parts) != 6:
            return text_response(404, "provenance", "not found\n")
        data = self.corpus.provenance_at(parts[2], unquote(parts[4]))
        if data is None:
            return text_response(404, "provenance", "not found\n")
        return Response(200, "provenance", {"Content-Type": "application/json"}, data)

    def json_api(self, name: str) -> Response:
        """Legacy /pypi/<name>/json (bandersnatch reads it); files only, minimal info."""
        project = self.corpus.snapshot(normalize(unquote(name)))
        if project is None:
            return text_response(404, "json_api", "not found\n")
        releases: dict[str, list[dict[str, Any]]] = {}
        entries = render.file_entries(self.corpus, project, self.files_url, self.url)
        by_name = {e["filename"]: e for e in entries}
        for version in sorted(project.releases, key=render._version_key):
            release = project.releases[version]
            releases[version] = []
            for dist in release.files.values():
                entry = by_name[dist.filename]
                releases[version].append(
                    {
                        "filename": dist.filename,
                        "url": entry["url"],
                        "digests": {"sha256": entry["hashes"]["sha256"]},
                        "size": entry["size"],
                        "packagetype": "sdist" if dist.is_sdist else "bdist_wheel",
                        "python_version": dist.python_tag,
                        "requires_python": release.requires_python,
                        "yanked": release.yanked,
                        "yanked_reason": release.yanked_reason or None,
                        "upload_time": dist.upload_time[:19],
                        "upload_time_iso_8601": dist.upload_time,
                        "has_sig": False,
                        "comment_text": "",
                        # as pypi.org: the PEP 658 hash, so a JSON-API mirror (bandersnatch) fetches .metadata
                        "core-metadata": entry.get("core-metadata", False),
                    }
                )
        latest = next(reversed(releases), "")
        latest_release = project.releases.get(latest)
        doc = {
            "info": {
                "name": project.name,
                "version": latest,
                "requires_python": latest_release.requires_python if latest_release else None,
                "summary": f"Synthetic test project {project.name}",
            },
            "last_serial": project.last_serial,
            "releases": releases,
            "urls": releases.get(latest, []),
        }
        headers = {"Content-Type": "application/json"}
        if not self.options.static:
            headers["X-PyPI-Last-Serial"] = str(project.last_serial)
        return Response(200, "json_api", headers, json.dumps(doc).encode())

    # ---- XML-RPC -----------------------------------------------------------------------------------------

    def xmlrpc(self, body: bytes) -> Response:
        method = None
        try:
            params, method = xmlrpc.client.loads(body)
            result = self._xmlrpc_call(method or "", params)
            payload = xmlrpc.client.dumps((result,), methodresponse=True, allow_none=True)
        except xmlrpc.client.Fault as fault:
            payload = xmlrpc.client.dumps(fault, methodresponse=True)
        except Exception as exc:  # malformed request body
            payload = xmlrpc.client.dumps(
                xmlrpc.client.Fault(-32700, f"parse error: {exc}"), methodresponse=True
            )
        headers = {"Content-Type": "text/xml; charset=utf-8"}
        if not self.options.static:
            headers["X-PyPI-Last-Serial"] = str(self.corpus.serial)
        return Response(200, "xmlrpc", headers, payload.encode(), xmlrpc_method=method)

    def _xmlrpc_call(self, method: str, params: tuple[Any, ...]) -> Any:
        if method == "changelog_last_serial":
            return self.corpus.serial
        if method == "changelog_since_serial":
            if len(params) != 1 or not isinstance(params[0], int):
                raise xmlrpc.client.Fault(-32602, "changelog_since_serial takes one int serial")
            entries = self.corpus.changelog_since(params[0], self.options.changelog_limit)
            return [e.as_list() for e in entries]
        if method == "list_packages_with_serial":
            with self.corpus.lock:
                return {name: serial for name, serial in self.corpus.project_serials()}
        raise xmlrpc.client.Fault(-32601, f"method {method!r} not supported by the fake origin")

    # ---- control (separate-process use) -------------------------------------------------------------------

    MUTATIONS = frozenset(
        {
            "add_project",
            "add_release",
            "add_file",
            "remove_file",
            "remove_release",
            "remove_project",
            "yank",
            "unyank",
            "touch",
            "set_synthetic_root",
        }
    )

    def control(self, method: str, path: str, body: bytes) -> Response:
        """/_fakeorigin/{state,counters,reset_counters,mutate,faults}: not counted, never faulted."""
        action = path[len("/_fakeorigin/") :].strip("/")
        request = json.loads(body) if body else {}
        result: Any
        if action == "state":
            result = {"serial": self.corpus.serial, "projects": len(self.corpus.projects)}
        elif action == "counters":
            result = {"total": self.counters.total(), "by_kind": self.counters.by_kind()}
        elif action == "reset_counters" and method == "POST":
            self.counters.reset()
            result = {"ok": True}
        elif action == "mutate" and method == "POST":
            op = request.get("op")
            if op not in self.MUTATIONS:
                return Response(400, "control", {}, f"unknown op {op!r}\n".encode())
            value = getattr(self.corpus, op)(*request.get("args", []), **request.get("kwargs", {}))
            result = {"serial": self.corpus.serial, "result": value if isinstance(value, int) else None}
        elif action == "faults" and method == "POST":
            if request.get("clear"):
                self.faults.clear(request.get("seed"))
            for rule in request.get("add", []):
                options = dict(rule)
                kind = options.pop("kind")
                self.faults.add(kind if isinstance(kind, str) else tuple(kind), **options)
            result = {"rules": len(self.faults.rules)}
        else:
            return Response(404, "control", {}, b"unknown control action\n")
        return Response(200, "control", {"Content-Type": "application/json"}, json.dumps(result).encode())


@contextmanager
def running_origin(corpus: Corpus | None = None, **options: Any) -> Iterator[OriginServer]:
    """Start the fake origin on loopback; always stopped on exit.

    Options: host, port, files_port, seed (faults), static, html_only, changelog_limit, files_host.
    """
    origin = OriginServer(corpus if corpus is not None else Corpus(), **options).start()
    try:
        yield origin
    finally:
        origin.stop()


__all__ = ["Options", "OriginServer", "iso_time", "parse_range", "running_origin"]
