"""The peer: bandersnatch 8.2.0, pinned, in its own venv under $CLOUDPYPI_CACHE, mirroring the same origin."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from bench.procs import BenchError

BANDERSNATCH_VERSION = "8.2.0"
WORKERS = 10  # bandersnatch's maximum


def peer_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment for bandersnatch and its pip: without our PYTHONPATH, so it sees only its own venv."""
    return {k: v for k, v in env.items() if k != "PYTHONPATH"}


def ensure_bandersnatch(cache: Path) -> Path:
    """The bandersnatch executable, installing `bandersnatch[s3]==8.2.0` into its own venv on first use."""
    venv = cache / "bench" / f"bandersnatch-{BANDERSNATCH_VERSION}"
    exe = venv / "bin" / "bandersnatch"
    if exe.exists():
        probe = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=False,
                               env=peer_env(os.environ))
        if probe.returncode == 0 and BANDERSNATCH_VERSION in probe.stdout:
            return exe
    print(f"installing bandersnatch {BANDERSNATCH_VERSION} into {venv}", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    done = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
                           f"bandersnatch[s3]=={BANDERSNATCH_VERSION}"], check=False, env=peer_env(os.environ))
    if done.returncode != 0 or not exe.exists():
        raise BenchError(f"could not install bandersnatch[s3]=={BANDERSNATCH_VERSION} into {venv} "
                         f"(pip exit {done.returncode}); is PyPI reachable?")
    return exe


def bandersnatch_config(origin_url: str, directory: str, *, s3_endpoint: str | None = None,
                        credentials: tuple[str, str] | None = None, region: str = "us-east-1") -> str:
    """An INI config mirroring every project of origin_url into directory (a folder, or /bucket/prefix on S3)."""
    lines = [
        "[mirror]",
        f"directory = {directory}",
        f"master = {origin_url}",
        "allow-non-https = true",  # the fake origin is plain HTTP on loopback
        f"workers = {WORKERS}",
        "timeout = 120",
        "global-timeout = 7200",
        "stop-on-error = true",
        "json = false",
        "release-files = true",
        "core-metadata = true",
        "hash-index = false",
        "simple-format = ALL",
        "compare-method = hash",
        "digest_name = sha256",
        "cleanup = false",
    ]
    if s3_endpoint:
        lines.insert(1, "storage-backend = s3")
        lines += ["", "[s3]", f"region_name = {region}", f"endpoint_url = {s3_endpoint}"]
        if credentials:
            lines += [f"aws_access_key_id = {credentials[0]}", f"aws_secret_access_key = {credentials[1]}"]
    return "\n".join(lines) + "\n"
