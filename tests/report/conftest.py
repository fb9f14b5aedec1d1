"""Fixtures for the report's tests: one sample mirror with a real history, built once per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from report.sample import Sample, build_sample, sample_corpus
from support.fakeorigin import running_origin


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sample]:
    """A folder mirror synced four times from a fake origin (one run failing), with its run reports."""
    with running_origin(sample_corpus()) as origin:
        yield build_sample(tmp_path_factory.mktemp("sample"), origin)
