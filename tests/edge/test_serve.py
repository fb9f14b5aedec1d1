"""`cloudpypi serve` over real HTTP, against a folder mirror and an S3 mirror on moto."""

from __future__ import annotations

import hashlib
import http.client
import os
import signal
import subprocess
import threading
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cloudpypi.edge.server import EdgeServer, parse_range
from cloudpypi.storage import Storage
from cloudpypi.storage.content import cache_control_for, content_type_for
from cloudpypi.storage.folder import FolderStorage
from support.cli import run_cli, start_cli

PIP_ACCEPT = ("application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, "
              "text/html; q=0.01")
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
WHEEL = "packages/ab/cd/0123456789abcdef/demo-1.0-py3-none-any.whl"
PAGES = {
    "simple/index.html": b"<!DOCTYPE html><html><body><a href=\"demo/\">demo</a></body></html>\n",
    "simple/index.v1_html": b"<!DOCTYPE html><html><body><a href=\"demo/\">demo</a> v1</body></html>\n",
    "simple/index.v1_json": b'{"meta":{"api-version":"1.1"},"projects":[{"name":"demo"}]}\n',
    "simple/demo/index.html": b"<html><body>demo html</body></html>\n",
    "simple/demo/index.v1_html": b"<html><body>demo v1 html</body></html>\n",
    "simple/demo/index.v1_json": b'{"meta":{"api-version":"1.1"},"name":"demo","files":[]}\n',
}
WHEEL_BYTES = bytes(range(256)) * 1200  # 307,200 bytes, every offset distinguishable modulo 256


def write_mirror(storage: Storage) -> None:
    """A small mirror written through the Storage interface, with the real content policy."""
    for key, data in PAGES.items():
        storage.write_bytes(key, data, content_type=content_type_for(key),
                            cache_control=cache_control_for(key))
    staging = storage.new_staging()
    staging.write(WHEEL_BYTES)
    storage.publish(staging, WHEEL, sha256=hashlib.sha256(WHEEL_BYTES).hexdigest(), size=len(WHEEL_BYTES),
                    content_type=content_type_for(WHEEL), cache_control=cache_control_for(WHEEL))
    storage.write_bytes(".cloudpypi/state.sqlite", b"SQLite format 3\x00 secret state",
                        content_type="application/octet-stream")


@dataclass
class Edge:
    server: EdgeServer
    storage: Storage

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def request(self, method: str, path: str, headers: dict[str, str] | None = None
                ) -> tuple[http.client.HTTPResponse, bytes]:
        conn = self.connect()
        try:
            conn.request(method, path, headers=headers or {})
            response = conn.getresponse()
            return response, response.read()
        finally:
            conn.close()


def start_edge(storage: Storage) -> Iterator[Edge]:
    server = EdgeServer(storage, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield Edge(server, storage)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        storage.close()


@pytest.fixture()
def folder_edge(tmp_path: Path) -> Iterator[Edge]:
    storage = FolderStorage(tmp_path / "mirror")
    write_mirror(storage)
    yield from start_edge(storage)


@pytest.fixture()
def s3_edge(bucket: str) -> Iterator[Edge]:
    from cloudpypi.storage.s3 import S3Storage

    storage = S3Storage(f"s3://{bucket}/mirror")
    write_mirror(storage)
    yield from start_edge(storage)


@pytest.fixture(params=["folder", pytest.param("s3", marks=pytest.mark.moto)])
def edge(request: pytest.FixtureRequest) -> Edge:
    return request.getfixturevalue(f"{request.param}_edge")


# -- pages ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("accept", "key", "content_type"), [
    (PIP_ACCEPT, "simple/demo/index.v1_json", "application/vnd.pypi.simple.v1+json"),
    (BROWSER_ACCEPT, "simple/demo/index.html", "text/html; charset=utf-8"),
    ("application/vnd.pypi.simple.v1+html", "simple/demo/index.v1_html",
     "application/vnd.pypi.simple.v1+html"),
    (None, "simple/demo/index.html", "text/html; charset=utf-8"),
])
def test_project_page_is_negotiated_with_its_content_type_and_vary(
        edge: Edge, accept: str | None, key: str, content_type: str) -> None:
    response, body = edge.request("GET", "/simple/demo/", {"Accept": accept} if accept else {})
    assert response.status == 200, f"expected 200, got {response.status}"
    assert body == PAGES[key], f"expected the body of {key}, got {body[:60]!r}"
    assert response.getheader("Content-Type") == content_type
    assert response.getheader("Vary") == "Accept", f"expected Vary: Accept, got {response.getheader('Vary')}"
    assert response.getheader("Cache-Control") == "max-age=600"
    assert response.getheader("ETag"), "expected an ETag on a page"
    assert response.getheader("Last-Modified"), "expected a Last-Modified on a page"


def test_root_index_follows_the_format_parameter(edge: Edge) -> None:
    response, body = edge.request("GET", "/simple/?format=application/vnd.pypi.simple.v1%2Bjson",
                                  {"Accept": BROWSER_ACCEPT})
    assert (response.status, body) == (200, PAGES["simple/index.v1_json"]), f"got {response.status} {body!r}"


def test_nothing_acceptable_is_406(edge: Edge) -> None:
    response, _ = edge.request("GET", "/simple/demo/", {"Accept": "application/xml"})
    assert response.status == 406, f"expected 406, got {response.status}"
    assert response.getheader("Vary") == "Accept"


@pytest.mark.parametrize(("path", "location"), [
    ("/simple/Demo/", "/simple/demo/"),
    ("/simple/demo", "/simple/demo/"),
    ("/simple", "/simple/"),
    ("/simple/DEMO?format=text/html", "/simple/demo/?format=text/html"),
])
def test_non_canonical_urls_redirect_permanently(edge: Edge, path: str, location: str) -> None:
    response, _ = edge.request("GET", path)
    assert response.status == 301, f"{path}: expected 301, got {response.status}"
    got = response.getheader("Location")
    assert got == location, f"{path}: expected Location {location}, got {got}"


@pytest.mark.parametrize("path", ["/", "/.cloudpypi/state.sqlite", "/simple/../.cloudpypi/state.sqlite",
                                  "/packages/%2e%2e/.cloudpypi/state.sqlite", "/simple/missing/",
                                  "/packages/ab/cd/0123456789abcdef/missing-1.0.tar.gz", "/packages/ab",
                                  "/simple/demo/index.v1_json", "//packages/" + WHEEL,
                                  "//simple/demo/"])
def test_state_missing_keys_and_traversal_are_404_never_403(edge: Edge, path: str) -> None:
    response, body = edge.request("GET", path)
    assert response.status == 404, f"{path}: expected 404, got {response.status}"
    assert b"secret state" not in body


def test_absolute_form_request_target_is_routed_by_its_path(edge: Edge) -> None:
    response, body = edge.request("GET", f"http://127.0.0.1:{edge.port}/simple/demo/?format=text/html")
    assert (response.status, body) == (200, PAGES["simple/demo/index.html"]), f"got {response.status}"


def test_other_methods_are_405(edge: Edge) -> None:
    response, _ = edge.request("POST", "/simple/demo/")
    assert response.status == 405, f"expected 405, got {response.status}"
    assert response.getheader("Allow") == "GET, HEAD"


# -- files ------------------------------------------------------------------------------------------

def test_file_is_served_whole_with_immutable_caching(edge: Edge) -> None:
    response, body = edge.request("GET", "/" + WHEEL)
    assert response.status == 200, f"expected 200, got {response.status}"
    assert body == WHEEL_BYTES, f"expected {len(WHEEL_BYTES)} exact bytes, got {len(body)}"
    assert response.getheader("Content-Type") == "application/zip"
    assert response.getheader("Cache-Control") == "max-age=31536000, immutable"
    assert response.getheader("Accept-Ranges") == "bytes"
    assert response.getheader("Vary") is None, "files do not vary by Accept"


def test_head_gives_headers_and_length_without_body(edge: Edge) -> None:
    response, body = edge.request("HEAD", "/" + WHEEL)
    assert response.status == 200, f"expected 200, got {response.status}"
    assert int(response.getheader("Content-Length")) == len(WHEEL_BYTES)
    assert body == b"", f"expected no body on HEAD, got {len(body)} bytes"


@pytest.mark.parametrize(("header", "start", "end"), [
    ("bytes=100-199", 100, 199),
    ("bytes=300000-", 300000, len(WHEEL_BYTES) - 1),
    ("bytes=-50", len(WHEEL_BYTES) - 50, len(WHEEL_BYTES) - 1),
    ("bytes=307000-999999", 307000, len(WHEEL_BYTES) - 1),
])
def test_single_range_is_206_with_content_range(edge: Edge, header: str, start: int, end: int) -> None:
    response, body = edge.request("GET", "/" + WHEEL, {"Range": header})
    assert response.status == 206, f"{header}: expected 206, got {response.status}"
    assert response.getheader("Content-Range") == f"bytes {start}-{end}/{len(WHEEL_BYTES)}"
    assert body == WHEEL_BYTES[start:end + 1], f"{header}: wrong bytes"
    assert int(response.getheader("Content-Length")) == end - start + 1


def test_unsatisfiable_range_is_416(edge: Edge) -> None:
    response, _ = edge.request("GET", "/" + WHEEL, {"Range": f"bytes={len(WHEEL_BYTES)}-"})
    assert response.status == 416, f"expected 416, got {response.status}"
    assert response.getheader("Content-Range") == f"bytes */{len(WHEEL_BYTES)}"


def test_if_none_match_gives_304(edge: Edge) -> None:
    first, _ = edge.request("GET", "/" + WHEEL)
    etag = first.getheader("ETag")
    response, body = edge.request("GET", "/" + WHEEL, {"If-None-Match": etag})
    assert response.status == 304, f"expected 304 for a matching ETag, got {response.status}"
    assert body == b""


def test_stale_if_range_sends_the_whole_file(edge: Edge) -> None:
    response, body = edge.request("GET", "/" + WHEEL, {"Range": "bytes=0-9", "If-Range": '"stale"'})
    got = (response.status, len(body))
    assert got == (200, len(WHEEL_BYTES)), f"expected the whole file with 200, got {got}"


def test_keep_alive_serves_many_requests_on_one_connection(edge: Edge) -> None:
    conn = edge.connect()
    try:
        sockets = set()
        for path, headers in [("/simple/demo/", {"Accept": PIP_ACCEPT}),
                              ("/" + WHEEL, {"Range": "bytes=0-9"}), ("/simple/missing/", {}),
                              ("/simple/Demo/", {}), ("/" + WHEEL, {})]:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            sockets.add(id(conn.sock))
            assert not response.will_close, f"{path}: expected the connection kept alive"
        assert len(sockets) == 1, f"expected one connection for five requests, got {len(sockets)}"
    finally:
        conn.close()


def test_range_parser_edge_cases() -> None:
    assert parse_range(None, 10) is None
    assert parse_range("bytes=0-0,5-6", 10) is None, "several ranges: the whole object (RFC 9110 allows it)"
    assert parse_range("bytes=5-2", 10) is None, "an invalid range is ignored"
    assert parse_range("items=0-1", 10) is None
    assert parse_range("bytes=-0", 10) is False
    assert parse_range("bytes=10-", 10) is False
    assert parse_range("bytes=0-", 0) is False
    assert parse_range("bytes=-20", 10) == (0, 9)


def test_large_file_streams_with_bounded_memory(tmp_path: Path) -> None:
    storage = FolderStorage(tmp_path / "mirror")
    key = "packages/aa/bb/big-1.0-py3-none-any.whl"
    path = tmp_path / "mirror" / key
    path.parent.mkdir(parents=True)
    size = 48 * 2**20
    with open(path, "wb") as handle:
        handle.truncate(size)  # sparse: no disk, but 48 MiB to serve
    for edge in start_edge(storage):
        tracemalloc.start()
        try:
            conn = edge.connect()
            conn.request("GET", "/" + key)
            response = conn.getresponse()
            received = 0
            while chunk := response.read(256 * 1024):
                received += len(chunk)
            conn.close()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert received == size, f"expected {size} bytes, got {received}"
        assert peak < 8 * 2**20, f"expected under 8 MiB allocated while serving 48 MiB, peak was {peak}"


# -- the command ------------------------------------------------------------------------------------

def _start_cli(target: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    process = start_cli("serve", "--target", target, "--port", "0", env=env, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()  # blocks until the server says it is ready (or exits)
    if not line.startswith("Serving "):
        process.kill()
        raise AssertionError(f"expected 'Serving ...', got {line!r}; stderr: {process.stderr.read()}")
    return process, line.strip().rsplit(" on ", 1)[1]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_announces_itself_serves_and_stops_cleanly_on_signal(tmp_path: Path, sig: int) -> None:
    write_mirror(FolderStorage(tmp_path / "mirror"))
    process, url = _start_cli(str(tmp_path / "mirror"), {**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/simple/"), f"unexpected URL {url}"
        port = int(url.split(":")[2].split("/")[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/simple/demo/", headers={"Accept": PIP_ACCEPT})
        response = conn.getresponse()
        assert (response.status, response.read()) == (200, PAGES["simple/demo/index.v1_json"])
        conn.close()
        started = time.monotonic()
        process.send_signal(sig)
        code = process.wait(10)
        assert code == 0, f"expected exit 0 after {signal.Signals(sig).name}, got {code}"
        assert time.monotonic() - started < 5, "expected a prompt shutdown"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()


def test_cli_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        completed = run_cli("serve", "--target", str(tmp_path), "--port", str(port), timeout=30)
    assert completed.returncode == 1, f"expected exit 1, got {completed.returncode}"
    lines = completed.stderr.strip().splitlines()
    assert lines and "cannot listen" in lines[-1], f"expected one clear line, got {completed.stderr!r}"


def test_many_concurrent_clients_all_get_correct_answers(folder_edge: Edge) -> None:
    failures: list[str] = []

    def client(worker: int) -> None:
        conn = folder_edge.connect()
        try:
            for i in range(15):
                start = (worker * 997 + i * 131) % (len(WHEEL_BYTES) - 1000)
                conn.request("GET", "/" + WHEEL, headers={"Range": f"bytes={start}-{start + 999}"})
                response = conn.getresponse()
                body = response.read()
                if response.status != 206 or body != WHEEL_BYTES[start:start + 1000]:
                    failures.append(f"worker {worker} request {i}: {response.status}, {len(body)} bytes")
                conn.request("GET", "/simple/demo/", headers={"Accept": PIP_ACCEPT})
                response = conn.getresponse()
                if response.read() != PAGES["simple/demo/index.v1_json"]:
                    failures.append(f"worker {worker} page {i}: wrong body")
        except OSError as exc:
            failures.append(f"worker {worker}: {exc}")
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures, f"expected every answer right, got {failures[:5]}"
