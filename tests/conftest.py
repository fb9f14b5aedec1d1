"""Root fixtures: put the package and the test support modules on the path, start shared servers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT / "scripts", ROOT / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

# Subprocesses (the CLI under test) import the package from this checkout too.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT / "scripts"), str(ROOT / "tests"), *filter(None, [os.environ.get("PYTHONPATH")])]
)


# The sandbox fixtures are session-wide, so tests/sandbox and tests/fabric share one sandbox host.
pytest_plugins = ("support.sandboxfixtures",)


@pytest.fixture(scope="session")
def moto():
    """A real moto server on a free loopback port (session-wide; tests make their own buckets)."""
    from support.motoserver import moto_fixture

    yield from moto_fixture()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT
