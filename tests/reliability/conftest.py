"""Fixtures of the reliability suite: the CLI runner, a moto server, S3 targets and mirror views."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.motoserver import MotoServer, moto_server

from .harness import Cli
from .mirrorview import FolderView, S3View

_buckets = itertools.count()


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    with moto_server(log_dir=tmp_path_factory.mktemp("moto-logs")) as server:
        yield server


@pytest.fixture
def s3_cli(tmp_path: Path, moto: MotoServer) -> Cli:
    """A Cli whose AWS settings point at the moto server."""
    return Cli(tmp_path, moto.env(Cli(tmp_path).env))


class S3Target:
    def __init__(self, moto: MotoServer) -> None:
        self.moto = moto
        self.client = moto.client("s3")

    def new(self, stem: str = "mirror") -> tuple[str, S3View]:
        bucket = f"{stem}-{next(_buckets)}".lower()[:60]
        self.client.create_bucket(Bucket=bucket)
        return f"s3://{bucket}", S3View(self.client, bucket)


@pytest.fixture
def s3(moto: MotoServer) -> S3Target:
    return S3Target(moto)


def folder(tmp_path: Path, name: str = "mirror") -> tuple[str, FolderView]:
    path = tmp_path / name
    return str(path), FolderView(path)
