"""`cloudpypi serve --auth-file`: 401 without valid Basic credentials on every path, the mirror with them;
real pip and uv install with NAME:TOKEN in the index URL, and fail without it."""

from __future__ import annotations

import base64
import http.client
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.cli import run_cli, start_cli
from support.fakeorigin import Corpus, running_origin

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    corpus = Corpus()
    corpus.add_project("Demo.App", [{"version": "1.0", "files": ["py3-none-any"], "requires_dist": ["tiny_lib"]}])
    corpus.add_project("tiny_lib", [{"version": "0.2", "files": ["py3-none-any"]}])
    target = tmp_path_factory.mktemp("auth-mirror") / "mirror"
    with running_origin(corpus) as origin:
        synced = run_cli("sync", "--origin", origin.url, "--target", str(target), "--no-progress")
    assert synced.returncode == 0, f"sync failed:\n{synced.stderr[-3000:]}"
    return target


class Server:
    """`cloudpypi serve --auth-file` as a subprocess, on a free port."""

    def __init__(self, target: Path, auth_file: Path) -> None:
        self.process = start_cli("serve", "--target", str(target), "--port", "0", "--auth-file", str(auth_file),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # printed once the socket listens
        if not line.startswith("Serving "):
            self.stop()
            raise AssertionError(f"serve did not start: {line!r}")
        self.index_url = line.strip().rsplit(" on ", 1)[1]
        self.port = int(self.index_url.split(":")[2].split("/")[0])

    def with_credentials(self, name: str, token: str) -> str:
        return self.index_url.replace("http://", f"http://{name}:{token}@")

    def get(self, path: str, authorization: str | None = None, method: str = "GET") -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Authorization": authorization} if authorization is not None else {}
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        response.read()
        conn.close()
        return response

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        _, err = self.process.communicate()
        return err


def basic(name: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{name}:{token}".encode()).decode()


@pytest.fixture()
def served(mirror: Path, tmp_path: Path) -> Iterator[tuple[Server, Path, str]]:
    auth_file = tmp_path / "auth.json"
    added = run_cli("token", "add", "--auth-file", str(auth_file), "ci")
    assert added.returncode == 0, added.stderr
    server = Server(mirror, auth_file)
    try:
        yield server, auth_file, added.stdout.strip()
    finally:
        server.stop()


def client_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update({"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INPUT": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                "UV_NO_CONFIG": "1", "UV_CACHE_DIR": str(tmp / "uv-cache"), "HOME": str(tmp / "home"),
                "NETRC": str(tmp / "no-netrc")})
    return env


def pip_download(index_url: str, dest: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pip", "download", "--isolated", "--no-cache-dir", "--no-input",
                           "--index-url", index_url, "--dest", str(dest), "demo-app==1.0"],
                          capture_output=True, text=True, env=env, timeout=180, check=False)


@pytest.mark.parametrize("path", ["/simple/", "/simple/demo-app/", "/packages/x", "/", "/.cloudpypi/state.sqlite"])
def test_every_path_needs_credentials(served: tuple[Server, Path, str], path: str) -> None:
    server, _, _ = served
    response = server.get(path)
    assert response.status == 401, f"{path}: expected 401 without credentials, got {response.status}"
    assert response.getheader("WWW-Authenticate", "").startswith('Basic realm="'), response.getheaders()


@pytest.mark.parametrize("header", [
    pytest.param("wrong-token", id="wrong token"),
    pytest.param("nobody", id="unknown name"),
    pytest.param("Bearer x", id="another scheme"),
    pytest.param("Basic !!!", id="not base64"),
])
def test_wrong_credentials_get_401(served: tuple[Server, Path, str], header: str) -> None:
    server, _, token = served
    value = {"wrong-token": basic("ci", token + "x"), "nobody": basic("nobody", token)}.get(header, header)
    response = server.get("/simple/", value)
    assert response.status == 401, f"{header}: expected 401, got {response.status}"


def test_right_credentials_get_the_mirror_and_its_rules(served: tuple[Server, Path, str]) -> None:
    server, _, token = served
    assert server.get("/simple/demo-app/", basic("ci", token)).status == 200
    assert server.get("/simple/Demo.App/", basic("ci", token)).status == 301, "the edge's rules still apply"
    assert server.get("/simple/", basic("ci", token), method="HEAD").status == 200


def test_a_revoked_token_is_refused_without_a_restart(served: tuple[Server, Path, str]) -> None:
    server, auth_file, token = served
    assert server.get("/simple/", basic("ci", token)).status == 200
    assert run_cli("token", "revoke", "--auth-file", str(auth_file), "ci").returncode == 0
    assert server.get("/simple/", basic("ci", token)).status == 401, "expected the revocation to apply at once"


def test_pip_installs_with_credentials_in_the_url_and_fails_without(served: tuple[Server, Path, str],
                                                                   tmp_path: Path) -> None:
    server, _, token = served
    env = client_env(tmp_path)
    refused = pip_download(server.index_url, tmp_path / "refused", env)
    assert refused.returncode != 0, "pip must not get the mirror without credentials"
    done = pip_download(server.with_credentials("ci", token), tmp_path / "ok", env)
    assert done.returncode == 0, f"pip download failed:\n{done.stdout}\n{done.stderr}"
    got = sorted(p.name for p in (tmp_path / "ok").iterdir())
    assert any(n.startswith("demo_app-1.0") for n in got) and any(n.startswith("tiny_lib-0.2") for n in got), got
    log = server.stop()
    assert '"GET /simple/demo-app/ HTTP/1.1" 401' in log, f"expected pip's refused request in the log:\n{log}"
    assert '"GET /simple/demo-app/ HTTP/1.1" 200' in log, f"expected pip's authorized request in the log:\n{log}"


def test_uv_installs_with_credentials_in_the_url_and_fails_without(served: tuple[Server, Path, str],
                                                                  tmp_path: Path) -> None:
    server, _, token = served
    uv = shutil.which("uv")
    assert uv, "uv is in the dev extra and must be installed"
    env = client_env(tmp_path)
    venv = tmp_path / "venv"
    made = subprocess.run([uv, "venv", "--no-config", "--python", sys.executable, str(venv)],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert made.returncode == 0, made.stderr

    def install(index_url: str) -> Any:
        return subprocess.run([uv, "pip", "install", "--no-config", "--no-cache", "--python", str(venv / "bin/python"),
                               "--index-url", index_url, "demo-app==1.0"],
                              capture_output=True, text=True, env=env, timeout=180, check=False)

    refused = install(server.index_url)
    assert refused.returncode != 0, "uv must not get the mirror without credentials"
    assert "401" in refused.stderr or "Unauthorized" in refused.stderr, refused.stderr
    done = install(server.with_credentials("ci", token))
    assert done.returncode == 0, f"uv pip install failed:\n{done.stdout}\n{done.stderr}"
    listed = subprocess.run([uv, "pip", "list", "--no-config", "--python", str(venv / "bin/python")],
                            capture_output=True, text=True, env=env, timeout=60, check=False)
    assert "demo-app" in listed.stdout.lower() and "tiny-lib" in listed.stdout.lower(), listed.stdout


def test_a_deleted_auth_file_refuses_everyone(served: tuple[Server, Path, str]) -> None:
    server, auth_file, token = served
    auth_file.unlink()
    assert server.get("/simple/", basic("ci", token)).status == 401, "no file must mean no access, not open access"


def test_serve_refuses_to_start_on_a_damaged_auth_file(mirror: Path, tmp_path: Path) -> None:
    auth_file = tmp_path / "auth.json"
    auth_file.write_text("not json")
    started = run_cli("serve", "--target", str(mirror), "--port", "0", "--auth-file", str(auth_file))
    assert started.returncode == 2, f"expected exit 2, got {started.returncode}: {started.stderr}"
    assert "is not a cloudpypi auth file" in started.stderr, started.stderr
