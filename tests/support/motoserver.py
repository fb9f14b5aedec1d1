"""A real moto server on a free loopback port, as the AWS endpoint of the tests.

    from support.motoserver import moto_server

    with moto_server() as moto:                 # started, answering, and terminated on exit
        s3 = moto.client("s3")
        moto.make_bucket("mirror")
        subprocess.run([...], env=moto.env(os.environ))
        moto.reset()                            # POST /moto-api/reset between tests

A session fixture in a conftest:  `yield from moto_fixture()`  or  `with moto_server() as m: yield m`.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Long dummy credentials: with a one-letter secret, Ansible's no_log masking garbles the output.
ACCESS_KEY_ID = "AKIACLOUDPYPITESTKEY01"
SECRET_ACCESS_KEY = "cloudpypi-test-secret-key-not-a-real-credential-0123456789"  # noqa: S105 (dummy)
REGION = "us-east-1"
READY_TIMEOUT_S = 60.0


class MotoServerError(RuntimeError):
    """moto_server could not be started or did not answer."""


def moto_server_binary() -> str:
    """moto_server from the running interpreter's venv, else from PATH."""
    candidate = Path(sys.executable).parent / "moto_server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("moto_server")
    if not found:
        raise MotoServerError(
            "moto_server not found next to the interpreter nor on PATH: run `make venv` (moto[server])"
        )
    return found


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def aws_env(url: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for subprocesses (cloudpypi, ansible, boto3) that should talk to this moto."""
    env = dict(base or {})
    if "PYTHONPATH" in os.environ:  # the CLI under test imports the package from this checkout, not the venv's
        env.setdefault("PYTHONPATH", os.environ["PYTHONPATH"])
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        env.pop(key, None)
    env.update(
        {
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    return env


@dataclass
class MotoServer:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path | None = None

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        return aws_env(self.url, base)

    def reset(self) -> None:
        """Drop every resource in moto (POST /moto-api/reset)."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=30) as response:
            if response.status != 200:
                raise MotoServerError(f"moto reset answered HTTP {response.status}, expected 200")

    def session(self) -> Any:
        import boto3

        return boto3.session.Session(
            aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY, region_name=REGION
        )

    def client(self, service: str, **kwargs: Any) -> Any:
        return self.session().client(service, endpoint_url=self.url, **kwargs)

    def resource(self, service: str, **kwargs: Any) -> Any:
        return self.session().resource(service, endpoint_url=self.url, **kwargs)

    def make_bucket(self, name: str) -> str:
        """Create an S3 bucket (us-east-1) and return its s3:// URL."""
        self.client("s3").create_bucket(Bucket=name)
        return f"s3://{name}"


def _wait_ready(url: str, process: subprocess.Popen[bytes], log_path: Path | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = log_path.read_text(errors="replace")[-2000:] if log_path else ""
            raise MotoServerError(
                f"moto_server exited with code {process.returncode} before answering:\n{output}"
            )
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last_error = exc
        time.sleep(0.05)  # poll interval between readiness probes, not a readiness guess
    raise MotoServerError(
        f"moto_server at {url} did not answer within {timeout:.0f} s (last error: {last_error})"
    )


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@contextmanager
def moto_server(
    host: str = "127.0.0.1", port: int | None = None, log_dir: Path | None = None, attempts: int = 3
) -> Iterator[MotoServer]:
    """Start moto_server on a free loopback port, wait until it answers, yield it, always terminate it."""
    binary = moto_server_binary()
    last: MotoServerError | None = None
    for _attempt in range(attempts):
        chosen = port or free_port(host)
        log_path = (log_dir or Path(os.environ.get("TMPDIR", "/tmp"))) / f"moto-{chosen}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "wb") as log_file:
            process = subprocess.Popen(
                [binary, "-H", host, "-p", str(chosen)],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=aws_env(f"http://{host}:{chosen}", os.environ),
            )
        url = f"http://{host}:{chosen}"
        try:
            _wait_ready(url, process, log_path, READY_TIMEOUT_S)
        except MotoServerError as exc:  # e.g. the port was taken between choosing and binding
            _terminate(process)
            last = exc
            if port:
                break
            continue
        log.info("moto_server ready at %s (pid %s)", url, process.pid)
        try:
            yield MotoServer(url, chosen, process, log_path)
        finally:
            _terminate(process)
        return
    raise last or MotoServerError("moto_server did not start")


def moto_fixture() -> Iterator[MotoServer]:
    """Generator body for a pytest fixture: `@pytest.fixture(scope="session") def moto(): yield from ...`."""
    with moto_server() as server:
        yield server
