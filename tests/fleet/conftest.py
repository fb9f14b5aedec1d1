"""Fleet fixtures: a fake origin, a bucket on the session's moto server, a fleet's queues, and workers
started as real `cloudpypi worker` processes (always stopped at the end of the test)."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.conftest import small_corpus
from support.cli import start_cli
from support.fakeorigin import Corpus, running_origin

VISIBILITY = 30  # the shortest visibility timeout `fleet init` allows: a killed worker's project returns after it


@pytest.fixture
def corpus() -> Corpus:
    corpus = small_corpus()
    for index in range(6):
        corpus.add_project(f"bulk-{index}", [{"version": "1.0", "files": ["py3-none-any", "sdist"]}])
    return corpus


@pytest.fixture
def origin(corpus: Corpus) -> Iterator[Any]:
    with running_origin(corpus) as server:
        yield server


@pytest.fixture
def bucket(moto) -> str:  # type: ignore[no-untyped-def]
    return moto.make_bucket(f"fleet-{uuid.uuid4().hex[:10]}").removeprefix("s3://")


class Fleet:
    """One fleet on the moto server, and the worker processes of a test."""

    def __init__(self, moto: Any, origin: Any, bucket: str, tmp_path: Path, max_receives: int = 3) -> None:
        from cloudpypi.fleet.queues import FleetQueues

        self.moto, self.origin, self.bucket, self.tmp = moto, origin, bucket, tmp_path
        self.name = f"t{uuid.uuid4().hex[:10]}"
        self.target = f"s3://{bucket}/pypi"
        self.queues = FleetQueues.init(self.name, client=moto.client("sqs"), visibility_timeout=VISIBILITY,
                                       max_receives=max_receives)
        self.workers: list[subprocess.Popen[str]] = []

    def env(self, state: str = "state") -> dict[str, str]:
        return self.moto.env({**os.environ, "CLOUDPYPI_STATE_DIR": str(self.tmp / state)})

    def start_worker(self, *, idle: float = 600) -> subprocess.Popen[str]:
        log = open(self.tmp / f"worker-{len(self.workers)}.log", "w")
        proc = start_cli("-v", "worker", "--fleet", self.name, "--origin", self.origin.url, "--target", self.target,
                         "--workers", "4", "--exit-when-idle", str(idle), env=self.env(f"worker-{len(self.workers)}"),
                         stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.workers.append(proc)
        return proc

    def coordinator(self, *extra: str) -> subprocess.Popen[str]:
        return start_cli("sync", "--fleet", self.name, "--origin", self.origin.url, "--target", self.target,
                         "--no-progress", "--report", str(self.tmp / "report.json"), *extra, env=self.env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def depths(self) -> dict[str, dict[str, int]]:
        return self.queues.depths()

    def keys(self, prefix: str = "") -> set[str]:
        s3 = self.moto.client("s3")
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=f"pypi/{prefix}")
        return {obj["Key"].removeprefix("pypi/") for page in pages for obj in page.get("Contents", [])}

    def stop(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


@pytest.fixture
def fleet(moto, origin, bucket, tmp_path) -> Iterator[Fleet]:  # type: ignore[no-untyped-def]
    fleet = Fleet(moto, origin, bucket, tmp_path)
    try:
        yield fleet
    finally:
        fleet.stop()
