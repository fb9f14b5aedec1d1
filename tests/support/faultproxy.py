"""A loopback HTTP proxy in front of moto that injects S3 errors: throttling (503 SlowDown) and 500s.

    with running_fault_proxy(moto.url, seed=1) as proxy:
        proxy.add(503, "SlowDown", op="put_object", rate=0.3)
        proxy.add(500, "InternalError", op="upload_part", rate=0.3)
        env = moto.env(os.environ) | {"AWS_ENDPOINT_URL": proxy.url}   # the engine talks to the proxy

The client's S3 calls are path-style (http://127.0.0.1:PORT/bucket/key), so each request is classified
by method, path and query into an operation: put_object, upload_part, create_multipart,
complete_multipart, get, head, delete, list, other.  A fault is answered instead of forwarding, after
the request body has been read, so the connection stays usable and moto never sees the request; with
after=True the request is forwarded first and the error replaces moto's answer (S3 did the work, the
client hears a failure: the case that makes retried conditional writes interesting).  The
draw is a hash of (seed, rule, request line, occurrence): a run is reproducible whatever the threads do.
"""

from __future__ import annotations

import hashlib
import http.client
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

OPERATIONS = ("put_object", "upload_part", "create_multipart", "complete_multipart", "get", "head", "delete",
              "list", "other")
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


def classify(method: str, path: str, query: dict[str, list[str]]) -> str:
    has_key = "/" in path.strip("/")
    if method == "PUT" and "partNumber" in query and "uploadId" in query:
        return "upload_part"
    if method == "PUT" and has_key:
        return "put_object"
    if method == "POST" and "uploads" in query:
        return "create_multipart"
    if method == "POST" and "uploadId" in query:
        return "complete_multipart"
    if method == "GET":
        return "get" if has_key else "list"
    if method == "HEAD":
        return "head"
    if method == "DELETE":
        return "delete"
    return "other"


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str  # as sent, query included
    headers: dict[str, str]  # names lowercased
    body_bytes: int


@dataclass
class ProxyRule:
    status: int
    code: str
    op: str | tuple[str, ...] = "any"
    rate: float = 1.0
    first_n: int | None = None
    after: bool = False  # forward first, then answer the error instead of upstream's reply
    matched: int = 0
    fired: int = 0
    _seen: Counter[str] = field(default_factory=Counter, repr=False)

    def __post_init__(self) -> None:
        ops = (self.op,) if isinstance(self.op, str) else self.op
        unknown = set(ops) - set(OPERATIONS) - {"any"}
        if unknown:
            raise ValueError(f"unknown S3 operations {sorted(unknown)}; use {OPERATIONS} or 'any'")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"rate must be within 0..1, got {self.rate}")

    def applies(self, op: str) -> bool:
        ops = (self.op,) if isinstance(self.op, str) else self.op
        return "any" in ops or op in ops


class FaultProxy:
    def __init__(self, upstream: str, *, host: str = "127.0.0.1", seed: int = 0) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"the fault proxy forwards to http://host:port, got {upstream!r}")
        self.upstream = (parts.hostname, parts.port)
        self.seed = seed
        self.rules: list[ProxyRule] = []
        self.ops: Counter[str] = Counter()
        self.seen: list[SeenRequest] = []  # every request as it arrived, before any fault
        self._lock = threading.Lock()
        self._server = _ProxyServer((host, 0), _ProxyHandler, self)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, status: int, code: str, *, op: str | tuple[str, ...] = "any", rate: float = 1.0,
            first_n: int | None = None, after: bool = False) -> ProxyRule:
        rule = ProxyRule(status, code, op, rate, first_n, after)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules = []

    @property
    def fired(self) -> int:
        return sum(rule.fired for rule in self.rules)

    def decide(self, op: str, request_line: str) -> ProxyRule | None:
        with self._lock:
            self.ops[op] += 1
            for index, rule in enumerate(self.rules):
                if not rule.applies(op):
                    continue
                rule.matched += 1
                occurrence = rule._seen[request_line]
                rule._seen[request_line] += 1
                if rule.first_n is not None and rule.matched > rule.first_n:
                    continue
                draw = int.from_bytes(hashlib.sha256(repr((self.seed, index, request_line, occurrence)).encode())
                                      .digest()[:8], "big")
                if rule.rate < 1.0 and (draw % 1_000_000) / 1_000_000 >= rule.rate:
                    continue
                rule.fired += 1
                return rule
        return None

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name="faultproxy")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type, proxy: FaultProxy) -> None:
        self.proxy = proxy
        super().__init__(address, handler)


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def log_message(self, format: str, *args: object) -> None:  # quiet: tests read the counters instead
        return

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        body = self._body()
        with self.server.proxy._lock:
            self.server.proxy.seen.append(SeenRequest(self.command, self.path, {
                name.lower(): value for name, value in self.headers.items()}, len(body)))
        split = urlsplit(self.path)
        op = classify(self.command, split.path, parse_qs(split.query, keep_blank_values=True))
        rule = self.server.proxy.decide(op, f"{self.command} {self.path}")
        if rule is not None:
            if rule.after:
                self._forward(body, reply=False)
            self._fault(rule)
            return
        self._forward(body)

    def _fault(self, rule: ProxyRule) -> None:
        payload = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{rule.code}</Code>'
                   f"<Message>fault injected by the test proxy</Message><RequestId>faultproxy</RequestId></Error>"
                   ).encode()
        self.send_response(rule.status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", "0" if self.command == "HEAD" else str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _forward(self, body: bytes, reply: bool = True) -> None:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        if body or self.command in ("PUT", "POST"):
            headers["Content-Length"] = str(len(body))
        connection = http.client.HTTPConnection(*self.server.proxy.upstream, timeout=120)
        try:
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            if not reply:
                return
            self.send_response(response.status, response.reason)
            for name, value in response.getheaders():
                if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                    self.send_header(name, value)
            length = response.getheader("Content-Length") if self.command == "HEAD" else str(len(data))
            self.send_header("Content-Length", length or "0")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        finally:
            connection.close()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle


@contextmanager
def running_fault_proxy(upstream: str, *, seed: int = 0) -> Iterator[FaultProxy]:
    """Start a fault proxy on loopback in front of upstream; always stopped on exit."""
    proxy = FaultProxy(upstream, seed=seed).start()
    try:
        yield proxy
    finally:
        proxy.stop()
