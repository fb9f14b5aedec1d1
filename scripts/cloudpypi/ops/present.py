"""What fab tasks print or save here, beyond what the engine prints itself.

The engine's own words are shown as they are: ``cloudpypi sync`` prints its summary (streamed by
``fab sync``, not repeated), ``cloudpypi status`` its mirror state, and a stored sync report is summarised
by the engine's ``Report.summary_lines``.  This module adds only what the host alone knows: the
systemd timer and the service's last run, and the disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cloudpypi.ops.service import HostStatus


def report_lines(report: dict[str, Any]) -> list[str]:
    """A sync report (the JSON the sync writes) in the engine's own summary words."""
    from cloudpypi.report import Report

    try:
        return Report.from_dict(report).summary_lines()
    except (TypeError, ValueError, AttributeError) as exc:
        return [f"unreadable report ({type(exc).__name__}: {exc})"]


def status_lines(status: HostStatus) -> list[str]:
    """What `fab status` prints: four sections, each saying so when its part could not be read."""
    lines = ["Timer"]
    lines += [f"  {line}" for line in (status.timer or "unavailable").splitlines() if line.strip()]
    if status.service:
        service = status.service
        ended = service.get("ExecMainExitTimestamp") or "never"
        lines.append(f"  last run: result {service.get('Result', '?')}, exit status "
                     f"{service.get('ExecMainStatus', '?')}, ended {ended} "
                     f"(service {service.get('ActiveState', '?')})")
    lines.append("Mirror")
    if status.mirror is None:
        lines.append(f"  unavailable: {status.mirror_error}")
    else:
        lines += [f"  {line}" for line in status.mirror.splitlines() if line.strip()]
    lines.append("Disk")
    disk_lines = [line for line in (status.disk or "unavailable").splitlines() if line.strip()]
    lines += [f"  {line}" for line in dict.fromkeys(disk_lines)]  # the state dir is often on /
    lines.append("Last report")
    lines += [f"  {line}" for line in (report_lines(status.report) if status.report else ["none yet"])]
    return lines


def save_page(path: Path, text: str) -> Path:
    """Write the page whole or not at all (a temporary file renamed over the target)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
