"""Fixtures for the dev-server suite: the sandbox, the host plays, and a testinfra host.

Which server the suite checks comes from CLOUDPYPI_INVENTORY (default inventory/sandbox):
- inventory/sandbox: the session's one sandbox (support.sandboxfixtures: reused if up, as `make test`
  leaves it, else booted once and torn down at the end), with the host plays run twice against it.
  Where the sandbox cannot run, the tests skip with the reason; under CI=true they fail.
- any other inventory (`fab test` against inventory/aws): nothing is started or changed; the
  testinfra checks run against the deployed dev server, and sandbox_only tests skip.
CLOUDPYPI_TEST_DEPLOY=0 checks the sandbox as it is (`fab test` after `fab deploy`): the sandbox must
already be up, and the host plays are not run (their idempotence tests skip).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.sandboxfixtures import deploy_allowed
from support.sandboxhost import (
    ROOT,
    PlayRun,
    SshTarget,
    inventory_path,
    is_sandbox_inventory,
    resolve_json,
    resolve_ssh_target,
    run_playbook,
)


@pytest.fixture(scope="session")
def inventory() -> Path:
    return inventory_path()


@pytest.fixture(scope="session")
def on_sandbox(inventory: Path) -> bool:
    return is_sandbox_inventory(inventory)


@pytest.fixture(scope="session")
def sandbox(on_sandbox: bool, request: pytest.FixtureRequest) -> dict | None:
    """The sandbox's state (endpoints, key): the session's one sandbox (support.sandboxfixtures), or None
    when the suite checks another inventory's dev server."""
    if not on_sandbox:
        return None
    return request.getfixturevalue("sandbox_host")


@pytest.fixture(scope="session")
def aws_env(sandbox: dict | None) -> dict[str, str]:
    """The environment for plays and boto3: the sandbox's moto endpoint with dummy credentials."""
    env = dict(os.environ)
    if sandbox is not None:
        env.update(AWS_ENDPOINT_URL=sandbox["moto_url"], AWS_DEFAULT_REGION="us-east-1",
                   AWS_ACCESS_KEY_ID="sandbox-dummy-access-key-id",
                   AWS_SECRET_ACCESS_KEY="sandbox-dummy-secret-access-key")  # noqa: S106 (moto dummy)
    return env


@pytest.fixture(scope="session")
def origin(sandbox: dict | None) -> Iterator[object | None]:
    """A fake PyPI origin on loopback (the sandbox host shares the machine's loopback)."""
    if sandbox is None:
        yield None
        return
    from support.fakeorigin import Corpus, running_origin

    corpus = Corpus()
    corpus.add_project("sandbox-demo", [{"version": "1.0", "files": ["py3-none-any", "sdist"]}])
    corpus.add_project("Other.Project", [{"version": "2.1", "files": ["py3-none-any"]}])
    with running_origin(corpus, host="127.0.0.1") as server:
        yield server


@pytest.fixture(scope="session")
def source_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the package's source taken once, so every play this session deploys the same wheel
    even while the checkout is being edited (the idempotence run must not see a new build)."""
    snapshot = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, snapshot / name)
    shutil.copytree(ROOT / "scripts" / "cloudpypi", snapshot / "scripts" / "cloudpypi",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copytree(ROOT / "requirements", snapshot / "requirements")  # the hash-pinned lock the host installs
    return snapshot


@pytest.fixture(scope="session")
def play_env(aws_env: dict[str, str], origin: object | None, source_snapshot: Path) -> dict[str, str]:
    env = dict(aws_env)
    env["CLOUDPYPI_SOURCE_DIR"] = str(source_snapshot)
    if origin is not None:
        env["CLOUDPYPI_SANDBOX_ORIGIN"] = origin.url  # type: ignore[attr-defined]
    return env


@pytest.fixture(scope="session")
def fresh_check_run(sandbox: dict | None, inventory: Path, play_env: dict[str, str]) -> PlayRun | None:
    """Check mode against a host never configured (a fresh sandbox), before the first real run."""
    if sandbox is None or not deploy_allowed():
        return None
    target = resolve_ssh_target(inventory)
    configured = subprocess.run([*target.ssh_args(), "test", "-e", "/etc/cloudpypi/mirror.toml"],
                                capture_output=True, timeout=60, check=False)
    if configured.returncode != 1:  # 0: already configured; 255: ssh failed (the first run will say)
        return None
    return run_playbook("playbooks/devserver.yml", inventory, play_env, "--tags", "host", "--check")


@pytest.fixture(scope="session")
def host_plays(sandbox: dict | None, inventory: Path, play_env: dict[str, str],
               fresh_check_run: PlayRun | None) -> tuple[PlayRun, PlayRun] | None:
    """The host plays run twice against the sandbox (first run, then the idempotence run)."""
    if sandbox is None or not deploy_allowed():
        return None
    first = run_playbook("playbooks/devserver.yml", inventory, play_env, "--tags", "host")
    assert first.ok, f"first host play failed:\n{first.tail()}"
    second = run_playbook("playbooks/devserver.yml", inventory, play_env, "--tags", "host")
    assert second.ok, f"second host play failed:\n{second.tail()}"
    return first, second


@pytest.fixture(scope="session")
def ssh_target(inventory: Path, host_plays: object) -> SshTarget:
    return resolve_ssh_target(inventory)


@pytest.fixture(scope="session")
def team_members(inventory: Path, host_plays: object) -> list[dict]:
    """The team list as the inventory defines it (what the team role applied)."""
    members = resolve_json(inventory, "team_members | default([])")
    assert isinstance(members, list)
    return members


@pytest.fixture(scope="session")
def host(ssh_target: SshTarget):
    """A testinfra host over SSH as the admin user (use `with host.sudo():` for root)."""
    import testinfra

    deadline = time.monotonic() + 30
    connection = testinfra.get_host(ssh_target.testinfra_spec(), **ssh_target.testinfra_kwargs())
    while connection.run("true").rc != 0:
        if time.monotonic() > deadline:
            pytest.fail(f"cannot reach {ssh_target} over SSH", pytrace=False)
        time.sleep(0.5)
    return connection


@pytest.fixture()
def sandbox_only(on_sandbox: bool) -> None:
    if not on_sandbox:
        pytest.skip("meaningful only against the local sandbox (CLOUDPYPI_INVENTORY is not inventory/sandbox)")
