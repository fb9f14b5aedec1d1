"""Optional pytest fixtures; enable with `pytest_plugins = ["support.fakeorigin.fixtures"]` in a conftest.

def test_something(make_origin):
    origin = make_origin(corpus, static=True)      # started now, stopped at teardown
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .artifacts import default_cache_dir
from .corpus import Corpus
from .server import OriginServer


@pytest.fixture(scope="session")
def origin_cache() -> Path:
    """The shared artifact cache ($CLOUDPYPI_CACHE/fakeorigin-artifacts): built files survive across runs."""
    path = default_cache_dir()
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def make_origin(origin_cache: Path) -> Iterator[Callable[..., OriginServer]]:
    """Factory: make_origin(corpus=None, **options) -> a started OriginServer, stopped at teardown."""
    started: list[OriginServer] = []

    def make(corpus: Corpus | None = None, **options: Any) -> OriginServer:
        origin = OriginServer(corpus if corpus is not None else Corpus(origin_cache), **options).start()
        started.append(origin)
        return origin

    yield make
    for origin in started:
        origin.stop()
