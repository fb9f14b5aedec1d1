"""The sync service on the dev server as systemd sees it: its units, its journal, who holds the mirror's
lock, and the parts ``fab status`` reads."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudpypi.ops.codes import ANY_CODE
from cloudpypi.ops.devserver import Devserver
from cloudpypi.ops.runner import remote, remote_failure
from fabric import Connection

SERVICE_UNIT = "cloudpypi-sync.service"
TIMER_UNIT = "cloudpypi-sync.timer"


def parse_properties(text: str) -> dict[str, str]:
    """``systemctl show`` output (KEY=value lines) as a dict."""
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def lock_message(engine_output: str, service_props: dict[str, str]) -> str:
    """What `fab sync` says when the mirror's lock is held: who started the running sync, and when."""
    if service_props.get("ActiveState") in {"active", "activating"}:
        when = service_props.get("ExecMainStartTimestamp") or "an unknown time"
        who = f"the systemd timer ({SERVICE_UNIT}) at {when}"
    else:
        match = re.search(r"locked by (.+?), started (.+?);", engine_output)
        who = f"{match.group(1)} at {match.group(2)}" if match else "another run"
    return (f"a sync is already running (started by {who}); not starting a second one. "
            "Follow it with `fab logs --follow`, or try again when it has finished.")


def lock_holder(conn: Connection, server: Devserver, engine_output: str) -> str:
    """``lock_message`` for a sync the engine refused (exit 75), asking systemd whether its unit runs."""
    props = remote(conn, server, f"systemctl show {SERVICE_UNIT} --property=ActiveState,ExecMainStartTimestamp",
                   hide=True, ok_codes=ANY_CODE)
    return lock_message(engine_output, parse_properties(props.stdout))


def since_arg(since: str) -> str:
    """``1h`` / ``30min`` / ``2d`` mean that long ago; anything else is passed to journalctl as is."""
    if re.fullmatch(r"\d+\s*(s|sec|m|min|h|d|w)", since.strip()):
        return "-" + since.strip().replace(" ", "")
    return since


def journal_command(since: str, follow: bool) -> str:
    """journalctl for the service and its timer: through sudo where the account may (admins), else
    directly (team members read the journal through the systemd-journal group)."""
    cmd = ["journalctl", "--no-pager", "-u", SERVICE_UNIT, "-u", TIMER_UNIT, f"--since={since_arg(since)}"]
    if follow:
        cmd.append("--follow")
    line = shlex.join(cmd)
    return f"if sudo -n true 2>/dev/null; then sudo -n {line}; else {line}; fi"


@dataclass(frozen=True)
class HostStatus:
    """What ``fab status`` read from the host; None where a part could not be read."""

    timer: str | None
    service: dict[str, str] | None
    mirror: str | None  # `cloudpypi status` as the engine printed it
    mirror_error: str  # why `mirror` is None
    disk: str | None
    report: dict[str, Any] | None  # the latest sync report


def read_status(conn: Connection, server: Devserver) -> HostStatus:
    """Read each part of ``fab status``; a part that fails is recorded as missing, never fails the task."""

    def read(command: str) -> Any:
        return remote(conn, server, command, hide=True, ok_codes=ANY_CODE)

    timer = read(f"systemctl list-timers --all --no-pager {TIMER_UNIT}")
    service = read(f"systemctl show {SERVICE_UNIT} --property=ActiveState,Result,ExecMainStatus,ExecMainExitTimestamp")
    mirror = read(server.service_command("status", "--config", server.config))
    mirror_error = "" if mirror.exited == 0 else remote_failure("cloudpypi status", mirror.exited,
                                                                mirror.stderr or mirror.stdout)
    df = ["df", "-h", "--output=target,size,used,avail,pcent", str(Path(server.report_dir).parent), "/"]
    disk = read(shlex.join(df))
    latest = read(server.service_command("report", "latest.json"))
    try:
        report = json.loads(latest.stdout) if latest.exited == 0 else None
    except ValueError:
        report = None
    return HostStatus(
        timer=timer.stdout if timer.exited == 0 else None,
        service=parse_properties(service.stdout) if service.exited == 0 else None,
        mirror=mirror.stdout if mirror.exited == 0 else None,
        mirror_error=mirror_error,
        disk=disk.stdout if disk.exited == 0 else None,
        report=report if isinstance(report, dict) else None,
    )
