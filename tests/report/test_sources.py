"""Reading the report's inputs: run reports by their names' times, unreadable ones named, cost files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cloudpypi.errors import ConfigError
from cloudpypi.htmlreport.sources import read_costs, read_runs


def write_report(directory: Path, name: str, finished: str, **extra: object) -> None:
    data = {"started_at": finished, "finished_at": finished, "duration_s": 1.0, "files_added": 1,
            "bytes_added": 10, "failures": [], "ok": True, **extra}
    (directory / name).write_text(json.dumps(data))


def test_reports_older_than_the_window_are_skipped_by_name_before_they_are_read(tmp_path: Path) -> None:
    write_report(tmp_path, "sync-20261201T000000Z.json", "2026-12-01T00:00:00Z")
    (tmp_path / "sync-20261101T000000Z.json").write_text("not json: never read, so never a note")
    write_report(tmp_path, "latest.json", "2026-12-01T00:00:00Z")
    write_report(tmp_path, "sync-dry.json", "2026-12-02T00:00:00Z", dry_run=True)
    write_report(tmp_path, "manual-old.json", "2026-10-01T00:00:00Z")  # no time in its name: read, then dropped
    runs, notes = read_runs(tmp_path, datetime(2026, 11, 15, tzinfo=UTC))
    assert [r.finished.date().isoformat() for r in runs] == ["2026-12-01"], \
        "latest.json repeats a run, and a dry run does nothing"
    assert notes == []


def test_an_unreadable_report_is_a_note_not_a_failure(tmp_path: Path) -> None:
    write_report(tmp_path, "sync-20261201T000000Z.json", "2026-12-01T00:00:00Z")
    (tmp_path / "sync-20261202T000000Z.json").write_bytes(b"\xff\xfe garbage")
    (tmp_path / "sync-20261203T000000Z.json").write_text(json.dumps({"started_at": "soon"}))
    runs, notes = read_runs(tmp_path, datetime(2026, 11, 1, tzinfo=UTC))
    assert len(runs) == 1 and len(notes) == 2
    assert all(note.split(":")[0].startswith("sync-2026120") for note in notes), notes


def test_a_missing_report_directory_is_a_note(tmp_path: Path) -> None:
    runs, notes = read_runs(tmp_path / "absent", datetime(2026, 11, 1, tzinfo=UTC))
    assert runs == [] and "is not a directory" in notes[0]


@pytest.mark.parametrize("content", ["{", "[]", '{"date": "2026-12-01"}'])
def test_a_cost_file_that_is_not_costs_json_is_a_usage_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "costs.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match="is not `cloudpypi costs --json` output"):
        read_costs(str(path))


def test_a_missing_cost_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the cost data"):
        read_costs(str(tmp_path / "absent.json"))
