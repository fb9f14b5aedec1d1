"""Bounded answers from the origin: decoded-size caps on XML-RPC, the root index and project pages,
a hardened XML-RPC parser, and no redirect from https down to http.  (The gzip bombs are in
tests/reliability/test_hostile.py, where peak memory is measured.)"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import threading
import xmlrpc.client
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from defusedxml import EntitiesForbidden

from cloudpypi.config import parse_config
from cloudpypi.errors import ConfigError
from cloudpypi.parse import NOT_XMLRPC, parse_xmlrpc_answer
from engine.conftest import cloudpypi

PAGE_TYPE = "application/vnd.pypi.simple.v1+json"


def test_xmlrpc_answers_are_parsed_streamed_and_entity_expansion_is_refused():
    answer = xmlrpc.client.dumps(([["idna", "3.1", 1, "new release", 7]],), methodresponse=True).encode()
    assert parse_xmlrpc_answer(answer[i:i + 7] for i in range(0, len(answer), 7)) == [["idna", "3.1", 1,
                                                                                         "new release", 7]]
    assert parse_xmlrpc_answer([b"<!DOCTYPE html><html>not XML-RPC</html>" * 20]) is NOT_XMLRPC
    laughs = (b"<?xml version='1.0'?><!DOCTYPE r [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;'>]>"
              b"<methodResponse><params><param><value><string>&b;&b;&b;</string></value></param></params>"
              b"</methodResponse>")
    with pytest.raises(EntitiesForbidden):
        parse_xmlrpc_answer([laughs])


def test_answer_caps_are_read_from_the_mirror_config_with_defaults():
    default = parse_config({}).answer_caps()
    assert (default.xmlrpc, default.root_index, default.page) == (32 * 2**20, 512 * 2**20, 64 * 2**20)
    caps = parse_config({"mirror": {"max_xmlrpc_size": "1MiB", "max_root_index_size": "2GiB",
                                    "max_page_size": 4096}}).answer_caps()
    assert (caps.xmlrpc, caps.root_index, caps.page) == (2**20, 2 * 2**30, 4096)
    with pytest.raises(ConfigError, match="max_page_size"):
        parse_config({"mirror": {"max_page_size": "12"}})


def test_root_index_past_its_cap_fails_the_run_and_names_it(origin, corpus, tmp_path):
    corpus.set_synthetic_root(500)
    config = tmp_path / "mirror.toml"
    config.write_text('[mirror]\nmax_root_index_size = "4KiB"\n')
    run = cloudpypi("sync", "--origin", origin.url, "--target", str(tmp_path / "mirror"), "--full", "--config",
                    str(config), "--no-progress")
    assert run.returncode == 1, run
    assert f"root index {origin.url}/simple/ is larger than 4096 bytes decoded" in run.stdout + run.stderr, run
    assert "max_root_index_size" in run.stdout + run.stderr
    assert not (tmp_path / "mirror" / "simple" / "index.html").exists(), "expected nothing published"


def test_project_page_past_its_cap_fails_that_project_alone_and_names_it(origin, corpus, tmp_path):
    corpus.add_project("big-page", [{"version": f"1.{n}", "files": ["py3-none-any"]} for n in range(40)])
    config = tmp_path / "mirror.toml"
    config.write_text('[mirror]\nmax_page_size = "8KiB"\nretries = 0\n')
    run = cloudpypi("sync", "--origin", origin.url, "--target", str(tmp_path / "mirror"), "--config", str(config),
                    "--no-progress")
    assert run.returncode == 1, run
    assert f"page {origin.url}/simple/big-page/ is larger than 8192 bytes decoded" in run.stdout, run
    assert (tmp_path / "mirror" / "simple" / "idna" / "index.v1_json").exists(), "expected the others mirrored"


class _Downgrade(BaseHTTPRequestHandler):
    """An https origin whose project page redirects to the same host over plain http."""

    protocol_version = "HTTP/1.1"
    plain_port = 0

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        if self.path == "/simple/":
            body = json.dumps({"meta": {"api-version": "1.1", "_last-serial": 1},
                               "projects": [{"name": "proj", "_last-serial": 1}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", PAGE_TYPE)
        else:
            body = b""
            self.send_response(301)
            self.send_header("Location", f"http://127.0.0.1:{self.plain_port}{self.path}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()


class _Plain(BaseHTTPRequestHandler):
    hits: list[str] = []

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()


@contextmanager
def _serving(server: ThreadingHTTPServer) -> Iterator[ThreadingHTTPServer]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def test_a_redirect_from_https_to_http_is_refused(tmp_path):
    cert, key = _self_signed(tmp_path)
    plain_handler = type("Plain", (_Plain,), {"hits": []})
    with _serving(ThreadingHTTPServer(("127.0.0.1", 0), plain_handler)) as plain:
        handler = type("Downgrade", (_Downgrade,), {"plain_port": plain.server_address[1]})
        tls = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        tls.socket = context.wrap_socket(tls.socket, server_side=True)
        with _serving(tls):
            origin = f"https://127.0.0.1:{tls.server_address[1]}"
            env = {**os.environ, "SSL_CERT_FILE": str(cert)}
            run = cloudpypi("sync", "--origin", origin, "--target", str(tmp_path / "mirror"), "--no-progress",
                            env=env)
    assert run.returncode == 1, run
    assert f"{origin}/simple/proj/ redirects from https to http://127.0.0.1:" in run.stdout, run
    assert "refusing to leave TLS" in run.stdout
    assert plain_handler.hits == [], f"expected no request over plain http, got {plain_handler.hits}"
