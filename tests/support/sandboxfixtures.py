"""Session-wide fixtures for every test that needs the booted sandbox host (tests/sandbox, tests/fabric).

Registered as a pytest plugin by the root conftest, so all of them share ONE sandbox per session:
- it is reused when it is already up (`make sandbox-up`, as `make test` does);
- otherwise it is booted once, on first use, and torn down when the session ends, only if this session
  started it;
- where it cannot run (no root, no systemd-nspawn) the tests that need it skip with the reason, and under
  CI=true they fail instead;
- with CLOUDPYPI_TEST_DEPLOY=0 (`fab test` after `fab deploy`) it is never booted: it must already be up.

The Fabric tests run `fab` exactly as an operator types it; `fab` and `explain` are their runner and their
failure message.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from support.sandboxhost import ROOT

SANDBOX_SCRIPT = ROOT / "scripts" / "sandbox" / "sandbox.py"
SANDBOX = [sys.executable, str(SANDBOX_SCRIPT)]
FAB = str(Path(sys.executable).parent / "fab")
BUCKET = "cloudpypi-sandbox-mirror"  # inventory/sandbox/group_vars/all/sandbox.yml
DUMMY_KEYS = {"AWS_ACCESS_KEY_ID": "sandbox-dummy-access-key-id",
              "AWS_SECRET_ACCESS_KEY": "sandbox-dummy-secret-access-key"}  # moto accepts anything


# The first test that needs the sandbox also carries, in its setup, the session's deploy or host plays;
# on a busy 2-core machine those alone outlast the suite's default 600 s timeout.
SANDBOX_TEST_TIMEOUT_S = 3600


# Under pytest-xdist (`make test` runs `pytest -n 2`), every test that touches the one sandbox host runs
# in ONE worker, one at a time and in collection order; the other tests share out the rest a file at a
# time, so a module's expensive fixture (a provisioned moto, say) is still built once.  The controller
# sees only node ids, so the group is named by path; each worker checks that every test marked `sandbox`
# or using `sandbox_host` lies inside it.  The wheelhouse test builds the same cache as the deploys.
SANDBOX_GROUP = "sandbox-host"
SANDBOX_GROUP_PREFIXES = ("tests/sandbox/", "tests/fabric/test_fabric_sandbox",
                          "tests/test_dependencies.py::test_the_hosts_install_from_the_lock")


def in_sandbox_group(nodeid: str) -> bool:
    return nodeid.startswith(SANDBOX_GROUP_PREFIXES)


def needs_sandbox_host(item: pytest.Item) -> bool:
    return item.get_closest_marker("sandbox") is not None or "sandbox_host" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `sandbox` get SANDBOX_TEST_TIMEOUT_S unless they set a timeout of their own.  In an xdist
    worker, a test that needs the sandbox host outside the serial group's paths stops the run."""
    for item in items:
        if item.get_closest_marker("sandbox") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(SANDBOX_TEST_TIMEOUT_S))
    if hasattr(config, "workerinput"):
        stray = [item.nodeid for item in items if needs_sandbox_host(item) and not in_sandbox_group(item.nodeid)]
        if stray:
            raise pytest.UsageError("these tests need the sandbox host but lie outside SANDBOX_GROUP_PREFIXES "
                                    f"(support/sandboxfixtures.py), so xdist could run them in parallel: {stray}")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """Scheduling by file, with the sandbox group as one unit (xdist's loadgroup cannot mark node ids on
    pytest 9.2, whose node ids no longer come from the attribute it rewrites).  Only `--dist each` (every
    test on every worker, never used here) is left to xdist."""
    if config.getvalue("dist") == "each":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SandboxSerialScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return SANDBOX_GROUP if in_sandbox_group(nodeid) else nodeid.split("::", 1)[0]

    return SandboxSerialScheduling(config, log)


def deploy_allowed() -> bool:
    """False under CLOUDPYPI_TEST_DEPLOY=0: check the sandbox as it is, boot and configure nothing."""
    return os.environ.get("CLOUDPYPI_TEST_DEPLOY", "1") != "0"


def unavailable(reason: str) -> NoReturn:
    """Skip (fail under CI=true): the sandbox cannot run here, for this reason."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but the sandbox cannot run here: {reason}", pytrace=False)
    pytest.skip(f"sandbox unavailable: {reason}")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def sandbox_host() -> Iterator[dict]:
    """The running sandbox's state (endpoints, key): reused if up, else booted once for the whole session."""
    if not SANDBOX_SCRIPT.exists():
        unavailable("scripts/sandbox/sandbox.py is not in this checkout")
    check = subprocess.run([*SANDBOX, "check"], capture_output=True, text=True, check=False)
    if check.returncode != 0:
        unavailable(check.stdout.strip() or check.stderr.strip())
    status = subprocess.run([*SANDBOX, "status", "--json"], capture_output=True, text=True, check=False)
    if status.returncode == 0:
        yield json.loads(status.stdout)
        return
    if not deploy_allowed():
        unavailable("CLOUDPYPI_TEST_DEPLOY=0 but the sandbox is not up: run `make sandbox-up` and `fab deploy`")
    # A SIGTERM (a CI timeout, say) becomes KeyboardInterrupt, so pytest still runs the teardown below.
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)
    up = subprocess.run([*SANDBOX, "up", "--json"], capture_output=True, text=True, check=False, timeout=900)
    try:
        if up.returncode != 0:
            pytest.fail(f"sandbox.py up failed (exit {up.returncode}):\n{up.stderr[-3000:]}", pytrace=False)
        yield json.loads(up.stdout)
    finally:
        down = subprocess.run([*SANDBOX, "down"], capture_output=True, text=True, check=False, timeout=300)
        if down.returncode != 0:
            print(f"sandbox.py down failed: {down.stderr}", file=sys.stderr)


def fab_env(sandbox: dict, origin_url: str, inventory: str | Path = "inventory/sandbox") -> dict[str, str]:
    """The environment an operator's `fab` runs with against the sandbox: its inventory, moto, dummy keys."""
    env = dict(os.environ)
    env.update(CLOUDPYPI_INVENTORY=str(inventory), AWS_ENDPOINT_URL=sandbox["moto_url"],
               AWS_DEFAULT_REGION="us-east-1", CLOUDPYPI_SANDBOX_ORIGIN=origin_url, **DUMMY_KEYS)
    env.pop("AWS_PROFILE", None)
    return env


def fab(env: dict[str, str], *args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    """`fab ARGS...` from the repository root, as an operator types it; never raises on its exit code."""
    return subprocess.run([FAB, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, check=False)


def explain(run: subprocess.CompletedProcess[str]) -> str:
    return f"exit {run.returncode}\n--- stdout\n{run.stdout[-5000:]}\n--- stderr\n{run.stderr[-4000:]}"


def s3_client(env: dict[str, str]):  # type: ignore[no-untyped-def]
    """boto3's S3 client on the sandbox's moto."""
    import boto3

    return boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                        aws_access_key_id=DUMMY_KEYS["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=DUMMY_KEYS["AWS_SECRET_ACCESS_KEY"])
