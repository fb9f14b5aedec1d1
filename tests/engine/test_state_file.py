"""The state file as a killed run can leave it: created by SQLite, but empty."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from cloudpypi.state import State


def test_an_empty_state_file_reads_as_no_state_instead_of_failing(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    sqlite3.connect(path).close()  # what a process killed between creating the file and its schema leaves
    db = State._connect(path, read_only=True)
    assert db.execute("SELECT count(*) FROM projects").fetchone() == (0,), "expected an empty state, read-only"
    assert path.stat().st_size == 0, "expected a read-only open to leave the file as it was"
    writable = State._connect(path, read_only=False)
    assert writable.execute("SELECT value FROM meta WHERE key='schema'").fetchone() is not None, \
        "expected a writable open to lay the schema down"
