"""Running commands on the dev server (the engine through the service runner) and here.

Every failure ends the task with one sentence and an exit code: the remote command's own, 255 for a host
that cannot be reached (as ssh(1) does), or the local command's.
"""

from __future__ import annotations

import shlex
import sys
from typing import Any

from invoke import Context, Exit
from paramiko.ssh_exception import SSHException

from cloudpypi.ops.codes import EXIT_UNREACHABLE
from cloudpypi.ops.devserver import REPO_ROOT, Devserver, unreachable_hint
from fabric import Connection


def remote(conn: Connection, server: Devserver, command: str, *, hide: bool | str = False, pty: bool = False,
           ok_codes: tuple[int, ...] = (0,)) -> Any:
    """Run ``command`` on the host.  An unreachable host and a failing command (exit code not in
    ``ok_codes``) end the task with one sentence and the remote's exit code."""
    try:
        result = conn.run(command, warn=True, hide=hide, pty=pty)
    except (OSError, SSHException, EOFError) as exc:
        where = f"{conn.user}@{conn.host}:{conn.port}"
        raise Exit(f"Cannot reach the dev server {where} ({type(exc).__name__}: {exc}). "
                   f"{unreachable_hint(server.inventory)}", code=EXIT_UNREACHABLE) from None
    if result.exited not in ok_codes:
        raise Exit(remote_failure(command, result.exited, result.stderr or result.stdout), code=result.exited)
    return result


def remote_failure(command: str, code: int, output: str) -> str:
    """One sentence for a remote command that failed: its last line of output, or why sudo refused it."""
    last = next((line.strip() for line in reversed(output.splitlines()) if line.strip()), "")
    program = " ".join(shlex.split(command)[:1])
    if "a password is required" in output or "may not run sudo" in output or "is not allowed to" in output:
        return ("The dev server refused sudo for your account: ask for `sudo: true` in team_members "
                f"(fab onboard --sudo), or run as the admin user. ({last})")
    return f"The remote command failed with exit code {code}: {last or program}"


def local(c: Context, command: str, **kwargs: Any) -> Any:
    """Run ``command`` here, in the repository root (where ansible.cfg is); a failure ends the task with
    its exit code."""
    runner = c.local if isinstance(c, Connection) else c.run
    pty = kwargs.pop("pty", sys.stdout.isatty() and sys.stdin.isatty())
    result = runner(f"cd {shlex.quote(str(REPO_ROOT))} && {command}", warn=True, pty=pty, **kwargs)
    if result.exited != 0:
        raise Exit(f"`{command}` failed with exit code {result.exited}", code=result.exited)
    return result


def costs_args(server: Devserver) -> list[str]:
    """`cloudpypi costs` as the host's inventory describes it: its budget, instance type and volume."""
    args = ["costs", "--config", server.config, "--report-dir", server.report_dir, "--budget", server.budget_name]
    if server.instance_type:
        args += ["--instance-type", server.instance_type]
    if server.volume_gb and server.volume_gb.isdigit():
        args += ["--volume-gb", server.volume_gb]
    return args
