"""A dry run over a mirror that already has a state: it plans from that state and never writes it.

The state is opened read-only for a dry run.  Deciding still needs its scratch table (the root-index
diff's ``seen``, a TEMP table) and must not record what it learnt about the origin (``origin_changelog``).
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

from engine.test_sync_folder import sync

STATE = Path(".cloudpypi/state.sqlite")


def state_digest(target: Path) -> str:
    return hashlib.sha256((target / STATE).read_bytes()).hexdigest()


def meta(target: Path, key: str) -> str | None:
    db = sqlite3.connect(target / STATE)
    try:
        row = db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
    finally:
        db.close()
    return row[0] if row else None


def test_a_dry_run_over_an_existing_state_plans_by_changelog_and_by_root_index_and_writes_nothing(origin, tmp_path):
    target = tmp_path / "mirror"
    assert sync(origin, target, tmp_path).returncode == 0
    origin.corpus.add_release("idna", "3.2", files=["py3-none-any"])
    before = state_digest(target)
    for extra in ((), ("--full",)):  # the changelog's answer, then the root index compared through `seen`
        run = sync(origin, target, tmp_path, "--dry-run", *extra)
        assert run.returncode == 0, run
        assert not run.report["failures"], run.report["failures"]
        assert "idna: fetch 1 file(s)" in run.stdout, run.stdout
        assert run.report["mode"] == ("changelog" if not extra else "root-index"), run.report["mode"]
    assert state_digest(target) == before, "a dry run must leave the state file as it was"
    assert not list(target.glob("packages/**/idna-3.2-*.whl")), "a dry run must not download files"


def test_a_dry_run_does_not_record_whether_the_origin_has_a_changelog(origin, tmp_path):
    target = tmp_path / "mirror"
    assert sync(origin, target, tmp_path).returncode == 0
    assert meta(target, "origin_changelog") == "1"
    db = sqlite3.connect(target / STATE)
    with db:
        db.execute("DELETE FROM meta WHERE key='origin_changelog'")  # as a state from before the memo
    db.close()
    run = sync(origin, target, tmp_path, "--dry-run")
    assert run.returncode == 0 and not run.report["failures"], run
    assert meta(target, "origin_changelog") is None, "the dry run wrote the state"
    assert sync(origin, target, tmp_path).returncode == 0
    assert meta(target, "origin_changelog") == "1", "the next real run remembers it"
