"""The guard's pure parts (cloudpypi.private): which names a sync may visit, collisions counted once,
a tracking project's plan, and a private page."""

from __future__ import annotations

from dataclasses import dataclass

from cloudpypi.config import Filters
from cloudpypi.layout import private_file_key as private_key
from cloudpypi.model import DistFile, ProjectPage
from cloudpypi.plan import plan_project
from cloudpypi.private import Guard, private_page


@dataclass
class Todo:
    name: str


def own(name: str, filename: str) -> DistFile:
    key = private_key(name, filename)
    return DistFile(filename=filename, url=key, sha256="a" * 64, size=10, key=key, has_metadata=True,
                    metadata_sha256="b" * 64)


def public(filename: str, sha: str = "c") -> DistFile:
    return DistFile(filename=filename, url=f"https://files.example/packages/{filename}", sha256=sha * 64, size=5,
                    key=f"packages/ab/cd/{filename}")


def test_private_names_leave_the_todo_and_each_collision_is_recorded_once():
    known: set[str] = set()

    def record(name: str, _serial: int | None) -> bool:  # as State.record_collision: True when new
        new = name not in known
        known.add(name)
        return new

    guard = Guard({"acme-utils": (own("acme-utils", "acme_utils-1.0-py3-none-any.whl"),), "tracked": ()},
                  frozenset({"tracked"}), "https://origin.example", record=record)
    names = [t.name for t in guard.todo([Todo("idna"), Todo("acme-utils"), Todo("tracked")], 42)]
    assert names == ["idna", "tracked"]
    assert [(c.project, c.origin_serial) for c in guard.collisions] == [("acme-utils", 42)]
    assert [(d.project, d.decision) for d in guard.decisions] == [("acme-utils", "kept-apart"), ("tracked", "tracked")]
    list(guard.todo([Todo("acme-utils")], 43))
    assert len(guard.collisions) == 1, "a known collision is not reported again"
    assert guard.keep_from_removal("acme-utils") and not guard.keep_from_removal("idna")


def test_a_tracking_projects_plan_keeps_its_uploads_and_lets_them_win_a_filename_clash():
    mine = own("acme-utils", "acme_utils-1.0-py3-none-any.whl")
    origin = ProjectPage("acme-utils", (public("acme_utils-1.0-py3-none-any.whl", "d"),
                                        public("acme_utils-99.0-py3-none-any.whl")), ("1.0", "99.0"), 7)
    mirror = ProjectPage("acme-utils", (mine,), ("1.0",))
    guard = Guard({"acme-utils": (mine,)}, frozenset({"acme-utils"}), "https://origin.example")
    plan = guard.plan(plan_project(origin, mirror, Filters()))
    assert [f.key for f in plan.desired.files] == ["packages/ab/cd/acme_utils-99.0-py3-none-any.whl", mine.key]
    assert [f.filename for f in plan.to_fetch] == ["acme_utils-99.0-py3-none-any.whl"], "the clashing one stays out"
    assert plan.to_drop == () and mine.key in plan.present
    assert plan.desired.tracks == ("https://origin.example/simple/acme-utils/",) and plan.desired.last_serial == 7


def test_a_private_page_kept_apart_lists_only_the_uploads_and_tracks_nothing():
    mine = own("acme-utils", "acme_utils-1.0-py3-none-any.whl")
    mirror = ProjectPage("acme-utils", (public("acme_utils-99.0-py3-none-any.whl"), mine), ("1.0", "99.0"), 7)
    page = private_page("acme-utils", [mine], mirror, tracked=False, origin="https://origin.example")
    assert page.files == (mine,) and page.versions == ("1.0",) and page.tracks == () and page.last_serial is None
