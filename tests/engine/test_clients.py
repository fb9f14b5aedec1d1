"""Real pip and uv install from a synced folder mirror through file://, offline."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv

import pytest

from engine.conftest import cloudpypi

ISOLATED = {"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INPUT": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


@pytest.fixture
def mirror(origin, tmp_path):
    target = tmp_path / "mirror"
    run = cloudpypi("sync", "--origin", origin.url, "--target", str(target), "--no-progress")
    assert run.returncode == 0, run
    return target


def test_pip_download_from_the_folder_mirror(mirror, tmp_path):
    env = {**os.environ, **ISOLATED}
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--isolated", "--no-cache-dir", "--no-deps",
                           "--index-url", (mirror / "simple").as_uri() + "/", "-d", str(tmp_path / "dl"),
                           "idna==3.1", "--only-binary=:all:"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert [p.name for p in (tmp_path / "dl").iterdir()] == ["idna-3.1-py3-none-any.whl"]


def test_uv_pip_install_from_the_folder_mirror(mirror, tmp_path):
    uv = shutil.which("uv") or os.path.join(os.path.dirname(sys.executable), "uv")
    venv.create(tmp_path / "venv", with_pip=False)
    python = tmp_path / "venv/bin/python"
    proc = subprocess.run([uv, "pip", "install", "--no-config", "--no-cache", "--python", str(python),
                           "--index-url", (mirror / "simple").as_uri() + "/", "foo-bar==1.1", "tiny-pkg"],
                          capture_output=True, text=True, env={**os.environ, "UV_NO_CONFIG": "1"})
    assert proc.returncode == 0, proc.stderr
    listed = subprocess.run([uv, "pip", "list", "--python", str(python)], capture_output=True, text=True).stdout
    assert "foo-bar" in listed and "1.1" in listed and "tiny-pkg" in listed, listed
