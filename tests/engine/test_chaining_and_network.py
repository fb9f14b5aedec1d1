"""Mirror chaining through `cloudpypi serve`, and how the engine behaves on the network (proxy, User-Agent)."""

from __future__ import annotations

import http.client
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from engine.conftest import cloudpypi
from support.cli import start_cli


@pytest.fixture
def served_mirror(origin, tmp_path) -> Iterator[tuple[Path, str]]:
    upstream = tmp_path / "upstream"
    run = cloudpypi("sync", "--origin", origin.url, "--target", str(upstream), "--no-progress")
    assert run.returncode == 0, run
    proc = start_cli("serve", "--target", str(upstream), "--port", "0", stdout=subprocess.PIPE,
                     stderr=subprocess.STDOUT, text=True)
    try:
        url = None
        for line in proc.stdout:  # type: ignore[union-attr]
            if "Serving" in line:
                url = line.split(" on ", 1)[1].strip().removesuffix("/simple/")
                break
        assert url, "cloudpypi serve did not say where it serves"
        yield upstream, url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_mirror_can_mirror_another_cloudpypi_mirror_with_one_request_noops(served_mirror, tmp_path):
    upstream, url = served_mirror
    downstream = tmp_path / "downstream"
    first = cloudpypi("sync", "--origin", url, "--target", str(downstream), "--no-progress",
                      report=tmp_path / "r.json")
    assert first.returncode == 0, first
    for page in upstream.glob("simple/**/index.*"):
        relative = page.relative_to(upstream)
        assert (downstream / relative).read_bytes() == page.read_bytes(), f"{relative} differs between the mirrors"
    second = cloudpypi("sync", "--origin", url, "--target", str(downstream), "--no-progress",
                       report=tmp_path / "r.json")
    assert second.returncode == 0, second
    assert second.report["requests"] == {"root": 1}, second.report["requests"]


class _Proxy(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, str]] = []

    def _forward(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        self.seen.append((self.command, self.path, self.headers.get("User-Agent", "")))
        upstream = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "connection")}
        upstream.request(self.command, parts.path + (f"?{parts.query}" if parts.query else ""), body, headers)
        response = upstream.getresponse()
        data = response.read()
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        upstream.close()

    do_GET = do_POST = do_HEAD = _forward

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[str]:
    _Proxy.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_sync_honours_http_proxy_and_no_proxy_and_sends_its_user_agent(origin, proxy, tmp_path):
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "no_proxy")}
    run = cloudpypi("sync", "--origin", origin.url, "--target", str(tmp_path / "a"), "--no-progress",
                    env={**env, "HTTP_PROXY": proxy})
    assert run.returncode == 0, run
    assert len(_Proxy.seen) == origin.counters.total(), "every origin request must go through the proxy"
    agents = {agent for _, _, agent in _Proxy.seen}
    assert len(agents) == 1 and next(iter(agents)).startswith("cloudpypi/0."), agents
    _Proxy.seen.clear()
    run = cloudpypi("sync", "--origin", origin.url, "--target", str(tmp_path / "b"), "--no-progress",
                    env={**env, "HTTP_PROXY": proxy, "NO_PROXY": "127.0.0.1"})
    assert run.returncode == 0, run
    assert _Proxy.seen == [], "NO_PROXY hosts must be reached directly"
