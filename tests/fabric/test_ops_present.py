"""cloudpypi.ops.present: fab status shows the engine's text as it is and adds only the host's parts; a
stored report is summarised in the engine's own words."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "scripts"))

from cloudpypi.ops.present import report_lines, save_page, status_lines  # noqa: E402
from cloudpypi.ops.service import HostStatus, lock_message, parse_properties, since_arg  # noqa: E402
from cloudpypi.report import Failure, Report, Skipped  # noqa: E402

ENGINE = ("mirror       s3://m/\nserial       9  (origin 9, lag 0)\nrunning      sync pid 7 on dev\n"
          "             1 of 3 files\n")
REPORT = Report(origin="https://o", target="s3://m/", mode="changelog", serial_before=5, serial_after=9,
                projects_synced=2, files_added=3, bytes_added=3 * 2**20, failures=[Failure("broken", "hash mismatch")],
                skipped=[Skipped("torch", "torch.whl", 2**30, "over max_file_size")], duration_s=1.5)


def test_a_stored_report_reads_back_as_the_report_the_sync_wrote() -> None:
    data = REPORT.to_dict()
    assert Report.from_dict({**data, "a_key_from_a_newer_engine": 1}).to_dict() == data


def test_the_last_report_is_summarised_in_the_engines_words() -> None:
    assert report_lines(REPORT.to_dict()) == REPORT.summary_lines()
    assert report_lines({"duration_s": "soon"})[0].startswith("unreadable report (ValueError"), \
        "a report the engine cannot read is said so, the other sections still print"


def test_status_shows_the_engines_text_as_printed_between_the_hosts_own_sections() -> None:
    lines = status_lines(HostStatus(timer="NEXT LEFT\nSun 20:15 10min cloudpypi-sync.timer\n",
                                    service={"Result": "success", "ExecMainStatus": "0", "ActiveState": "inactive"},
                                    mirror=ENGINE, mirror_error="", disk="/ 10G\n/ 10G\n", report=REPORT.to_dict()))
    text = "\n".join(lines)
    engine_part = text.split("Mirror\n", 1)[1].split("\nDisk", 1)[0]
    assert engine_part == "\n".join(f"  {line}" for line in ENGINE.splitlines()), engine_part
    assert "  last run: result success, exit status 0, ended never (service inactive)" in lines, lines
    assert lines.count("  / 10G") == 1, "a disk listed twice (state dir on /) shows once"
    assert [line.strip() for line in lines[lines.index("Last report") + 1:]] == [
        line.strip() for line in REPORT.summary_lines()], lines


def test_status_says_which_parts_could_not_be_read() -> None:
    lines = status_lines(HostStatus(timer=None, service=None, mirror=None,
                                    mirror_error="cloudpypi status: error: AccessDenied", disk=None, report=None))
    assert lines == ["Timer", "  unavailable", "Mirror", "  unavailable: cloudpypi status: error: AccessDenied",
                     "Disk", "  unavailable", "Last report", "  none yet"], lines


def test_the_lock_holder_is_the_timer_when_its_unit_runs_else_the_engines_holder() -> None:
    timer = lock_message("", parse_properties("ActiveState=active\nExecMainStartTimestamp=Sun 19:00\n"))
    assert "started by the systemd timer (cloudpypi-sync.service) at Sun 19:00" in timer, timer
    engine = "s3://m/ is locked by cloudpypi sync pid 42 on dev, started 2026-11-29 19:00:00 UTC; try again"
    assert "started by cloudpypi sync pid 42 on dev at 2026-11-29 19:00:00 UTC" in lock_message(engine, {})
    assert "started by another run" in lock_message("locked", {"ActiveState": "inactive"})


def test_since_takes_short_durations_as_that_long_ago_and_passes_other_times_through() -> None:
    assert [since_arg(s) for s in ("1h", "30 min", "2d", "2026-11-29 10:00", "yesterday")] == [
        "-1h", "-30min", "-2d", "2026-11-29 10:00", "yesterday"]


def test_a_saved_page_replaces_the_old_one_whole(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "report.html"
    assert save_page(path, "<!DOCTYPE html>new") == path and path.read_text() == "<!DOCTYPE html>new"
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]
