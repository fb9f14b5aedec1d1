"""`fab publish` with fabric.testing's MockRemote (no SSH server): the files are staged in a fresh folder
under /var/tmp, uploaded through the service's runner, and the folder goes whatever happens; `fab status`
lists private projects and collisions.  The sandbox end-to-end test is test_fabric_sandbox_publish.py."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest
from fabric.testing.base import Command
from fabric.testing.fixtures import remote_with_sftp  # noqa: F401  (the pytest fixture)
from invoke import Exit

from fabric import Config, Connection

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import fabfile  # noqa: E402

RUNNER = "/opt/cloudpypi/bin/cloudpypi-service"
CONFIG = "/etc/cloudpypi/mirror.toml"
STAGED = "/var/tmp/cloudpypi-publish.Ab12Cd34"


def as_service(*args: str) -> str:
    return shlex.join(["sudo", "-n", "-u", "cloudpypi", RUNNER, *args])


def connection() -> Connection:
    return Connection("devserver.test", user="admin", config=Config(overrides={"run": {"in_stream": False}}))


@pytest.fixture
def dists(tmp_path: Path) -> Path:
    (tmp_path / "acme_utils-1.0-py3-none-any.whl").write_bytes(b"PK")
    (tmp_path / "acme_utils-1.0.tar.gz").write_bytes(b"gz")
    (tmp_path / "notes.txt").write_text("not a distribution")
    return tmp_path


def staged_commands(upload_exit: int = 0) -> list[Command]:
    wheel, sdist = f"{STAGED}/acme_utils-1.0-py3-none-any.whl", f"{STAGED}/acme_utils-1.0.tar.gz"
    return [
        Command("mktemp -d -p /var/tmp cloudpypi-publish.XXXXXXXX", out=f"{STAGED}\n".encode()),
        Command(f"chmod 755 {STAGED}"),
        Command(f"chmod 644 {wheel} {sdist}"),
        Command(as_service("upload", "--config", CONFIG, "--lock-wait", "600", wheel, sdist), exit=upload_exit,
                err=b"cloudpypi upload: error: acme_utils-1.0.tar.gz was uploaded before with other bytes\n"
                if upload_exit else b""),
        Command(f"rm -rf -- {STAGED}"),
    ]


def test_publish_stages_the_files_uploads_them_through_the_runner_and_removes_the_folder(
        remote_with_sftp, dists) -> None:  # noqa: F811
    remote_with_sftp.expect(commands=staged_commands())
    fabfile.publish(connection(), dists=f"{dists}/*.whl, {dists}/*.tar.gz")
    put = remote_with_sftp.sessions[0].sftp.put
    assert sorted(call.args[1] if len(call.args) > 1 else call.kwargs["remotepath"] for call in put.call_args_list) \
        == [f"{STAGED}/acme_utils-1.0-py3-none-any.whl", f"{STAGED}/acme_utils-1.0.tar.gz"]


def test_a_refused_upload_fails_the_task_with_exit_2_and_still_removes_the_folder(remote_with_sftp, dists) -> None:  # noqa: F811
    remote_with_sftp.expect(commands=staged_commands(upload_exit=2))
    with pytest.raises(Exit) as caught:
        fabfile.publish(connection(), dists=f"{dists}/*.whl,{dists}/*.tar.gz")
    assert caught.value.code == 2 and "other bytes" in str(caught.value.message)


@pytest.mark.parametrize(("spec", "message"), [
    ("{d}/nothing-here-*.whl", "matches no file"),
    ("{d}/notes.txt", "not a wheel"),
    ("{d}/missing.whl", "not a file"),
    ("", "name at least one"),
])
def test_bad_arguments_are_refused_before_connecting(dists, spec, message) -> None:
    with pytest.raises(Exit) as caught:
        fabfile.publish(connection(), dists=spec.format(d=dists))
    assert caught.value.code == 2 and message in str(caught.value.message)


def test_fab_status_shows_the_engines_private_projects_and_collisions() -> None:
    from cloudpypi.ops.present import status_lines
    from cloudpypi.ops.service import HostStatus

    engine = ("mirror       s3://m/\nprivate      2 project(s): acme-internal, acme-utils\n"
              "collision    acme-utils: the origin has this private name too (origin serial 7, seen "
              "2026-12-06T00:00:00Z); its files are kept out\n")
    lines = status_lines(HostStatus(timer=None, service=None, mirror=engine, mirror_error="", disk=None, report=None))
    assert "  private      2 project(s): acme-internal, acme-utils" in lines, lines
    assert any(line.startswith("  collision    acme-utils") and "serial 7" in line for line in lines), lines
