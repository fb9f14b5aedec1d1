"""A closure mirror into S3 (moto): the same files as the folder mirror, real content types, and an offline
uv install through the local edge (`cloudpypi serve`'s server) reading the bucket."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from closure.conftest import Mirror, isolated_env, uv, write_config
from closure.graph import INSTALLABLE, closure_table
from support.cli import run_cli
from support.motoserver import MotoServer

pytestmark = [pytest.mark.moto, pytest.mark.slow]


@pytest.fixture(scope="module")
def s3_mirror(moto: MotoServer, mirror: Mirror,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, subprocess.CompletedProcess[str]]]:
    """The graph's closure synced into s3://<bucket>/pypi; this process's AWS settings aim at moto meanwhile."""
    tmp_path = tmp_path_factory.mktemp("closure-s3")
    bucket = "closure-" + str(os.getpid())
    moto.client("s3").create_bucket(Bucket=bucket)
    env = moto.env(os.environ)
    env["CLOUDPYPI_STATE_DIR"] = str(tmp_path / "state")
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            if key.startswith(("AWS_", "CLOUDPYPI_STATE")):
                patch.setenv(key, value)
        for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            patch.delenv(key, raising=False)
        config = write_config(tmp_path / "s3.toml", mirror.origin.url, f"s3://{bucket}/pypi", closure_table())
        result = run_cli("sync", "--config", str(config), "--no-progress", env=env)
        yield f"s3://{bucket}/pypi", result


def test_s3_closure_mirror_holds_the_same_files_as_the_folder_mirror_with_content_types(
        s3_mirror: tuple[str, subprocess.CompletedProcess[str]], mirror: Mirror, moto: MotoServer) -> None:
    target, result = s3_mirror
    assert result.returncode == 1 and "ghost" in result.stdout + result.stderr, (
        f"expected exit 1 naming ghost, got {result.returncode}:\n{result.stderr[-2000:]}")
    bucket, prefix = target[5:].split("/", 1)
    s3 = moto.client("s3")
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/")
            for o in page.get("Contents", [])]
    files = {k.rsplit("/", 1)[-1] for k in keys
             if k.startswith(f"{prefix}/packages/") and not k.endswith(".metadata")}
    assert files == mirror.files(), f"S3 and folder differ: {sorted(files ^ mirror.files())}"
    page = s3.get_object(Bucket=bucket, Key=f"{prefix}/simple/liba/index.v1_json")
    assert page["ContentType"] == "application/vnd.pypi.simple.v1+json", page["ContentType"]
    listed = {f["filename"] for f in json.loads(page["Body"].read())["files"]}
    assert listed == {f for f in mirror.files() if f.startswith("liba-")}, f"liba's S3 page lists {listed}"


def test_uv_installs_offline_through_the_edge_from_the_s3_closure_mirror(
        s3_mirror: tuple[str, subprocess.CompletedProcess[str]], tmp_path: Path) -> None:
    from cloudpypi.config import Config
    from cloudpypi.edge.server import EdgeServer
    from cloudpypi.storage import open_target

    target, _result = s3_mirror
    storage = open_target(Config(target=target))
    server = EdgeServer(storage, port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        site = tmp_path / "site"
        result = subprocess.run(
            [uv(), "pip", "install", "--no-config", "--no-cache", "--index-url", server.url,
             "--python", sys.executable, "--target", str(site), *INSTALLABLE],
            capture_output=True, text=True, env=isolated_env(), timeout=180)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        storage.close()
    assert result.returncode == 0, f"uv pip install through the edge failed:\n{result.stderr[-2000:]}"
    installed = {p.name.removesuffix(".dist-info") for p in site.glob("*.dist-info")}
    assert {"app-2.0", "liba-1.5", "speedup-1.1", "cyc_b-1.0"} <= installed, f"uv installed {sorted(installed)}"
