"""Engine fixtures: a fake origin per test and a helper to run the real CLI as a subprocess."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from support.cli import run_cli
from support.fakeorigin import Corpus, running_origin


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    report: dict[str, Any] | None

    def __str__(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr[-3000:]}"


def cloudpypi(*args: str, env: dict[str, str] | None = None, report: Path | None = None,
              timeout: float = 120) -> Run:
    extra = ["--report", str(report)] if report else []
    proc = run_cli(*args, *extra, env=env, timeout=timeout)
    data = json.loads(report.read_text()) if report and report.exists() else None
    if report and report.exists():
        report.unlink()
    return Run(proc.returncode, proc.stdout, proc.stderr, data)


def run_syncer(origin: Any, storage: Any, **config: Any) -> Any:
    """An in-process Syncer run against a fake origin, all downloads in this process: its Report."""
    from cloudpypi.config import Config
    from cloudpypi.origin import OriginClient
    from cloudpypi.sync import Syncer, SyncOptions

    settings = Config(origin=origin.url, target=str(storage.root), **{"workers": 4, "processes": 1, **config})
    client = OriginClient(settings.origin, allowed_hosts=settings.file_hosts(), workers=settings.workers)
    try:
        return Syncer(settings, storage, client, SyncOptions(progress=False)).run()
    finally:
        client.close()


def small_corpus() -> Corpus:
    corpus = Corpus()
    corpus.add_project("Foo.Bar", [
        {"version": "1.0", "files": ["py3-none-any", "sdist"]},
        {"version": "1.1", "files": ["py3-none-any", "cp312-cp312-win_amd64", "cp312-cp312-manylinux_2_28_x86_64"]},
        {"version": "2.0rc1", "files": ["py3-none-any"]},
    ])
    corpus.add_project("idna", [{"version": "3.0", "files": ["py3-none-any"]},
                                {"version": "3.1", "files": ["py3-none-any", "sdist"]}])
    corpus.add_project("tiny_pkg", [{"version": "0.1", "files": ["py3-none-any"]}])
    return corpus


@pytest.fixture
def corpus() -> Corpus:
    return small_corpus()


@pytest.fixture
def origin(corpus: Corpus) -> Iterator[Any]:
    with running_origin(corpus) as server:
        yield server


@pytest.fixture
def bucket(moto) -> str:  # type: ignore[no-untyped-def]
    return moto.make_bucket(f"mirror-{uuid.uuid4().hex[:10]}").removeprefix("s3://")
