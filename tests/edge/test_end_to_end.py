"""End to end: `cloudpypi sync` from the fake origin into a folder and into S3 (moto), then real
`pip download` and `uv pip install` through `cloudpypi serve` over HTTP."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.cli import run_cli, start_cli
from support.fakeorigin import Corpus, running_origin

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def origin() -> Iterator[Any]:
    corpus = Corpus()
    corpus.add_project("Demo.App", [
        {"version": "1.0", "files": ["py3-none-any", "sdist"]},
        {"version": "1.1", "files": ["py3-none-any", "sdist"], "requires_dist": ["tiny_lib>=0.2"]},
    ])
    corpus.add_project("tiny_lib", [{"version": "0.1", "files": ["py3-none-any"]},
                                    {"version": "0.2", "files": ["py3-none-any"]}])
    with running_origin(corpus) as server:
        yield server


class Served:
    """`cloudpypi serve` as a subprocess; the index URL it announced."""

    def __init__(self, target: str, env: dict[str, str]) -> None:
        self.process = start_cli("serve", "--target", target, "--port", "0", env={**env, "PYTHONUNBUFFERED": "1"},
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # the server prints this line once it is listening
        if not line.startswith("Serving "):
            self.stop()
            raise AssertionError(f"serve did not start: {line!r}")
        self.index_url = line.strip().rsplit(" on ", 1)[1]

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        _, err = self.process.communicate()
        return err


def isolated_env(base: dict[str, str], tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in base.items() if not k.startswith(("PIP_", "UV_"))}
    env.update({"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INPUT": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                "UV_NO_CONFIG": "1", "UV_CACHE_DIR": str(tmp / "uv-cache"), "HOME": str(tmp / "home")})
    return env


def check_clients(index_url: str, tmp: Path, env: dict[str, str]) -> None:
    client_env = isolated_env(env, tmp)
    downloads = tmp / "downloads"
    pip = subprocess.run([sys.executable, "-m", "pip", "download", "--isolated", "--no-cache-dir",
                          "--index-url", index_url, "--dest", str(downloads), "demo-app==1.1"],
                         capture_output=True, text=True, env=client_env, timeout=180, check=False)
    assert pip.returncode == 0, f"pip download failed:\n{pip.stdout}\n{pip.stderr}"
    got = sorted(p.name for p in downloads.iterdir())
    assert any(n.startswith("demo_app-1.1") for n in got) and any(n.startswith("tiny_lib-0.2") for n in got), \
        f"expected demo_app 1.1 and its dependency tiny_lib 0.2, got {got}"

    uv = shutil.which("uv")
    assert uv, "uv is in the dev extra and must be installed"
    venv = tmp / "venv"
    made = subprocess.run([uv, "venv", "--no-config", "--python", sys.executable, str(venv)],
                          capture_output=True, text=True, env=client_env, timeout=120, check=False)
    assert made.returncode == 0, made.stderr
    install = subprocess.run([uv, "pip", "install", "--no-config", "--no-cache", "--python", str(venv / "bin/python"),
                              "--index-url", index_url, "demo-app==1.1"],
                             capture_output=True, text=True, env=client_env, timeout=180, check=False)
    assert install.returncode == 0, f"uv pip install failed:\n{install.stdout}\n{install.stderr}"
    listed = subprocess.run([uv, "pip", "list", "--no-config", "--python", str(venv / "bin/python")],
                            capture_output=True, text=True, env=client_env, timeout=60, check=False)
    names = listed.stdout.lower()
    assert "demo-app" in names and "tiny-lib" in names, f"expected both installed, got:\n{listed.stdout}"


def test_pip_and_uv_install_from_a_folder_mirror_through_serve(origin: Any, tmp_path: Path) -> None:
    target = tmp_path / "mirror"
    synced = run_cli("sync", "--origin", origin.url, "--target", str(target), "--no-progress")
    assert synced.returncode == 0, f"sync failed:\n{synced.stderr[-3000:]}"
    served = Served(str(target), dict(os.environ))
    try:
        check_clients(served.index_url, tmp_path, dict(os.environ))
    finally:
        log = served.stop()
    assert " 200 " in log and "/simple/demo-app/" in log, "expected the clients' requests in the server log"


@pytest.mark.moto
def test_pip_and_uv_install_from_an_s3_mirror_through_serve(origin: Any, moto: Any, tmp_path: Path) -> None:
    env = moto.env(os.environ)
    bucket = moto.make_bucket(f"edge-e2e-{uuid.uuid4().hex[:10]}")
    target = f"{bucket}/mirror"
    synced = run_cli("sync", "--origin", origin.url, "--target", target, "--no-progress", env=env)
    assert synced.returncode == 0, f"sync to S3 failed:\n{synced.stderr[-3000:]}"
    served = Served(target, env)
    try:
        check_clients(served.index_url, tmp_path, env)
    finally:
        served.stop()
