"""`cloudpypi serve`: a small local edge that behaves like the CloudFront distribution plus its function.

Routing comes from :mod:`cloudpypi.edge.rules` (the Python twin of the function); objects come from a
:class:`~cloudpypi.storage.Storage` (folder or S3).  Headers follow the distribution: the stored
Content-Type and Cache-Control (S3), or the same policy by path for a folder (content.py);
``Vary: Accept`` on /simple/ answers; ETag and Last-Modified; HEAD; one byte range per request.

With an auth file (``serve --auth-file``) every request first needs HTTP Basic credentials whose token
hash is in the file (:mod:`cloudpypi.edge.auth`, the function's twin), else 401; the file is re-read
when it changes, and a missing or damaged file refuses everyone.

Threaded (one daemon thread per connection), HTTP/1.1 keep-alive with exact Content-Length, and
bodies streamed in bounded chunks, so memory stays flat whatever the file size.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
from email.utils import formatdate, parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import BinaryIO
from urllib.parse import urlsplit

from cloudpypi import __version__
from cloudpypi.edge import auth, rules
from cloudpypi.errors import CloudPyPIError, UnsafeInput
from cloudpypi.storage import ObjectInfo, Storage
from cloudpypi.storage.content import cache_control_for, content_type_for
from cloudpypi.tokens import AuthWatcher

log = logging.getLogger(__name__)

CHUNK_SIZE = 64 * 1024
_RANGE_RE = re.compile(r"bytes=(\d*)-(\d*)")


def parse_range(header: str | None, size: int) -> tuple[int, int] | bool | None:
    """A single ``Range: bytes=`` header -> (start, end) inclusive.

    None means "serve the whole object" (no header, a syntax we ignore, or several ranges, which
    RFC 9110 lets a server answer with 200).  False means unsatisfiable (416).
    """
    if not header:
        return None
    match = _RANGE_RE.fullmatch(header.strip())
    if not match or match.group(1) == match.group(2) == "":
        return None
    first, last = match.group(1), match.group(2)
    if first == "":  # suffix: the last N bytes
        length = int(last)
        if length == 0:
            return False
        return (max(0, size - length), size - 1) if size else False
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if last != "" and int(last) < start:
        return None  # invalid range: ignore the header
    if start >= size:
        return False
    return start, end


def http_date(timestamp: float) -> str:
    return formatdate(timestamp, usegmt=True)


def quoted_etag(etag: str) -> str:
    return etag if etag.startswith(('"', 'W/"')) else f'"{etag}"'


class EdgeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = f"cloudpypi-edge/{__version__}"
    timeout = 60  # an idle keep-alive connection releases its thread after this many seconds
    server: EdgeServer

    # -- plumbing --------------------------------------------------------------------------------
    def log_message(self, format: str, *args: object) -> None:
        log.info("%s %s", self.address_string(), format % args)

    def log_error(self, format: str, *args: object) -> None:
        log.warning("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self.handle_request(head=False)

    def do_HEAD(self) -> None:
        self.handle_request(head=True)

    def _other_method(self) -> None:
        self.close_connection = True  # a request body we will not read must not poison the connection
        self.handle_request(head=False)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _other_method

    def _reply(self, status: int, headers: dict[str, str], body: bytes = b"", head: bool = False) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if body and "Content-Type" not in headers:
            self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.end_headers()
        if body and not head:
            self.wfile.write(body)

    # -- one request -----------------------------------------------------------------------------
    def handle_request(self, head: bool) -> None:
        words = self.requestline.split()
        # The target as sent: http.server collapses a leading "//" in self.path; CloudFront does not.
        raw = words[1] if len(words) == 3 else self.path
        if not raw.startswith("/"):  # absolute-form (http://host/path), as a proxy would send it
            parts = urlsplit(raw)
            raw = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        # Split by hand: urlsplit would read "//x/y" as host "x", path "/y".
        path, _, query = raw.partition("?")
        if not self.allowed():
            headers = {"WWW-Authenticate": auth.CHALLENGE, "Cache-Control": "no-store"}
            self._reply(HTTPStatus.UNAUTHORIZED, headers, b"401 Unauthorized\n", head)
            return
        accept_values = self.headers.get_all("Accept")
        accept = ",".join(accept_values) if accept_values else None
        decision = rules.decide(self.command, path, query, accept)
        if isinstance(decision, rules.Reply):
            self.answer_reply(decision, path, head)
            return
        key = decision.key
        if key is None:
            self.answer_reply(rules.NOT_FOUND, path, head)
            return
        try:
            self.serve_object(key, decision.is_page, head)
        except CloudPyPIError as exc:
            log.error("serving %s: %s", key, exc)
            if not self.wfile.closed:
                self.close_connection = True
                self._reply(HTTPStatus.BAD_GATEWAY, {}, f"the storage failed: {exc}\n".encode(), head)

    def allowed(self) -> bool:
        """No auth file: everyone.  Otherwise Basic credentials whose token hash is in the file."""
        watcher = self.server.auth
        if watcher is None:
            return True
        try:
            return auth.authorized(self.headers.get("Authorization"), watcher.lookup)
        except CloudPyPIError as exc:  # the auth file vanished or broke: refuse everyone, say why
            log.error("refusing the request: %s", exc)
            return False

    def answer_reply(self, reply: rules.Reply, path: str, head: bool) -> None:
        headers = {name.title(): value for name, value in reply.headers.items()}
        if path.startswith("/simple"):
            headers.setdefault("Vary", "Accept")
        phrase = HTTPStatus(reply.status).phrase
        self._reply(reply.status, headers, f"{reply.status} {phrase}\n".encode(), head)

    def serve_object(self, key: str, is_page: bool, head: bool) -> None:
        try:
            info = self.server.storage.stat(key)
        except UnsafeInput:  # the rules already refuse these; the storage's own check is the last line
            info = None
        if info is None:
            self.answer_reply(rules.NOT_FOUND, "/" + key, head)
            return
        headers = self.object_headers(info, is_page)
        if self.not_modified(info):
            headers.pop("Content-Type", None)
            self.send_response(HTTPStatus.NOT_MODIFIED)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            return
        wanted = parse_range(self.range_header(info), info.size)
        if wanted is False:
            headers["Content-Range"] = f"bytes */{info.size}"
            headers["Content-Type"] = "text/plain; charset=utf-8"  # the body is this message, not the object
            body = b"416 Range Not Satisfiable\n"
            self._reply(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, headers, body, head)
            return
        status, start, end = HTTPStatus.OK, 0, info.size - 1
        if isinstance(wanted, tuple):
            status, (start, end) = HTTPStatus.PARTIAL_CONTENT, wanted
            headers["Content-Range"] = f"bytes {start}-{end}/{info.size}"
        length = max(0, end - start + 1)
        read_start, read_end = start, (end if status == HTTPStatus.PARTIAL_CONTENT else None)
        if head:
            # Open one byte all the same: a folder's stat also answers for a directory, which is no object.
            read_start, read_end = 0, 0
        try:
            if head and info.size == 0:
                self.send_headers(status, headers, length)
                return
            with self.server.storage.open_read(key, read_start, read_end) as stream:
                self.send_headers(status, headers, length)
                if not head:
                    self.copy(stream, length)
        except FileNotFoundError:  # deleted between stat and read, or a folder, not an object
            self.answer_reply(rules.NOT_FOUND, "/" + key, head)

    def range_header(self, info: ObjectInfo) -> str | None:
        header = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if header and if_range and (info.etag is None or if_range.strip() != quoted_etag(info.etag)):
            return None  # the client's copy is stale: send the whole new object
        return header

    def not_modified(self, info: ObjectInfo) -> bool:
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None:
            if info.etag is None:
                return False
            tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
            return "*" in tags or quoted_etag(info.etag).removeprefix("W/") in tags
        since = self.headers.get("If-Modified-Since")
        if since and info.last_modified is not None:
            try:
                return int(info.last_modified) <= parsedate_to_datetime(since).timestamp()
            except (TypeError, ValueError):
                return False
        return False

    def object_headers(self, info: ObjectInfo, is_page: bool) -> dict[str, str]:
        headers = {
            "Content-Type": info.content_type or content_type_for(info.key),
            "Accept-Ranges": "bytes",
        }
        cache_control = info.cache_control or cache_control_for(info.key, self.server.page_max_age)
        if cache_control:
            headers["Cache-Control"] = cache_control
        if info.etag:
            headers["ETag"] = quoted_etag(info.etag)
        if info.last_modified is not None:
            headers["Last-Modified"] = http_date(info.last_modified)
        if is_page:
            headers["Vary"] = "Accept"
        return headers

    def send_headers(self, status: int, headers: dict[str, str], length: int) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def copy(self, stream: BinaryIO, length: int) -> None:
        if self._sendfile(stream, length):
            return
        left = length
        while left > 0:
            chunk = stream.read(min(CHUNK_SIZE, left))
            if not chunk:
                # The object shrank under us: the promised Content-Length cannot be met, so drop the
                # connection rather than let the client read a short body as complete.
                log.error("object ended %d bytes early; closing the connection", left)
                self.close_connection = True
                return
            self.wfile.write(chunk)
            left -= len(chunk)


    def _sendfile(self, stream: BinaryIO, length: int) -> bool:
        """Zero-copy from a local file (a folder target's whole object); False when the stream is no file."""
        try:
            stream.fileno()
            offset = stream.tell()
        except (AttributeError, OSError, ValueError):
            return False
        sent = self.connection.sendfile(stream, offset, length)
        if sent < length:
            log.error("object ended %d bytes early; closing the connection", length - sent)
            self.close_connection = True
        return True


class EdgeServer(ThreadingHTTPServer):
    """A threaded HTTP server bound to one Storage.  ``serve_forever`` in a thread; ``shutdown`` to stop."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, storage: Storage, host: str = "127.0.0.1", port: int = 8080,
                 page_max_age: int = 600, auth: AuthWatcher | None = None) -> None:
        self.storage = storage
        self.auth = auth  # None: no credentials needed
        self.page_max_age = page_max_age
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), EdgeHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        shown = f"[{host}]" if ":" in str(host) else str(host)
        return f"http://{shown}:{port}/simple/"

    def handle_error(self, request: object, client_address: object) -> None:
        log.warning("connection from %s ended abruptly", client_address,
                    exc_info=log.isEnabledFor(logging.DEBUG))


def run_until_stopped(server: EdgeServer, stop: threading.Event) -> None:
    """Serve in a background thread until ``stop`` is set (by a signal handler), then shut down cleanly."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              name="cloudpypi-edge", daemon=True)
    thread.start()
    try:
        while not stop.wait(1.0):
            if not thread.is_alive():
                raise CloudPyPIError("the edge server stopped unexpectedly")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
