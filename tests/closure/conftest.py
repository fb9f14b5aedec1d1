"""Fixtures for the closure tests: the fake origin serving graph.py's corpus, a closure mirror synced from it
by the real CLI, target interpreters, and isolated pip/uv invocations."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from closure.graph import PLATFORMS, PYTHONS, build_corpus, closure_table
from support.cli import run_cli
from support.fakeorigin import OriginServer, running_origin

ROOT = Path(__file__).resolve().parents[2]


def write_config(path: Path, origin: str, target: str, closure: dict[str, object]) -> Path:
    def value(v: object) -> str:
        return json.dumps(v)

    lines = ["[mirror]", f"origin = {value(origin)}", f"target = {value(target)}", 'allowed_hosts = ["127.0.0.1"]',
             "deletion_grace = 3600", "workers = 4", "", "[closure]"]
    lines += [f"{key} = {value(v)}" for key, v in closure.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def interpreter(version: str) -> str | None:
    """A CPython of this X.Y: the running one, or a pyenv installation."""
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == version:
        return sys.executable
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for candidate in sorted(root.glob(f"{version}.*"), reverse=True):
        python = candidate / "bin" / "python"
        if python.exists() and subprocess.run([str(python), "-m", "pip", "--version"],
                                              capture_output=True).returncode == 0:
            return str(python)
    return None


def isolated_env() -> dict[str, str]:
    """pip with no config file, index or find-links from this machine (see /work/shared/NOTES.md)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update({"PIP_CONFIG_FILE": "/dev/null", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"})
    return env


def uv() -> str:
    found = Path(sys.executable).parent / "uv"
    if found.exists():
        return str(found)
    path = shutil.which("uv")
    if path is None:
        pytest.skip("uv is not installed")
    return path


@dataclass
class Mirror:
    root: Path
    config: Path
    origin: OriginServer
    sync: subprocess.CompletedProcess[str]
    report: dict[str, object]

    @property
    def index_url(self) -> str:
        return (self.root / "simple").as_uri() + "/"

    def files(self) -> set[str]:
        """Distribution files stored under packages/ (PEP 658 .metadata sidecars excluded)."""
        return {p.name for p in (self.root / "packages").rglob("*") if p.is_file() and not p.name.endswith(".metadata")}

    def listed(self) -> set[str]:
        """Distribution files the project pages link."""
        names = set()
        for page in (self.root / "simple").glob("*/index.v1_json"):
            names |= {f["filename"] for f in json.loads(page.read_text())["files"]}
        return names


@pytest.fixture(scope="session")
def origin() -> Iterator[OriginServer]:
    """The graph's fake origin; session-wide and never mutated (incremental tests start their own)."""
    with running_origin(build_corpus()) as server:
        yield server


@pytest.fixture(scope="session")
def mirror(origin: OriginServer, tmp_path_factory: pytest.TempPathFactory) -> Mirror:
    """A folder mirror of the graph's closure for every target environment, synced by `cloudpypi sync`."""
    base = tmp_path_factory.mktemp("closure-mirror")
    root = base / "mirror"
    config = write_config(base / "mirror.toml", origin.url, str(root), closure_table())
    report = base / "report.json"
    result = run_cli("sync", "--config", str(config), "--report", str(report), "--no-progress")
    return Mirror(root, config, origin, result, json.loads(report.read_text()) if report.exists() else {})


@pytest.fixture(scope="session")
def targets() -> list[tuple[str, str]]:
    return [(python, platform) for python in PYTHONS for platform in PLATFORMS]
