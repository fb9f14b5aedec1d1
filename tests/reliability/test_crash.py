"""Crash consistency: SIGKILL the sync's whole process group at seeded random moments (and at moments
triggered by what the target shows: the first page, the root index).  After each kill the mirror is
consistent; the next clean run converges to exactly the mirror an uninterrupted run produces, and
downloads no file that was already stored and verified."""

from __future__ import annotations

import random
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from support.fakeorigin import Corpus, OriginServer, running_origin

from .checker import assert_mirror_consistent, check_mirror
from .conftest import S3Target
from .harness import Cli, kill_group, known_good, project_names, record, small_corpus
from .mirrorview import FolderView, MirrorView, S3View

SEED = 20261129
FOLDER_KILLS = 20
S3_KILLS = 5
INCREMENTAL_KILLS = 6
SLOW_BANDWIDTH = 6_000_000  # bytes/s per connection while a kill is pending: downloads are mid-flight
POLL_S = 0.002


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    # 12 small projects (many page writes) and 3 projects with one 2.5 MB file (long downloads)
    return small_corpus(12, big=3, big_size=2_500_000)


@pytest.fixture(scope="module")
def origin(corpus: Corpus) -> Iterator[OriginServer]:
    with running_origin(corpus, seed=SEED) as server:
        yield server


@dataclass
class Reference:
    view: FolderView
    duration: float
    pages: dict[str, bytes]
    files: dict[str, str]


def _snapshot(view: MirrorView) -> tuple[dict[str, bytes], dict[str, str]]:
    pages = {key: view.read(key) or b"" for key in view.keys("simple/")}
    files = {key: (view.sha256(key) or ("", 0))[0] for key in view.keys("packages/")}
    return pages, files


def _slow(origin: OriginServer) -> None:
    origin.faults.clear()
    origin.faults.add("slow", on=("file", "metadata"), bandwidth=SLOW_BANDWIDTH)


def make_reference(origin: OriginServer, corpus: Corpus, tmp: Path) -> Reference:
    """The mirror an uninterrupted run produces (synced twice, a second apart, to prove pages carry no
    timestamps), and how long a slowed run takes."""
    cli = Cli(tmp)
    _slow(origin)
    first = cli.sync(origin.url, str(tmp / "ref-a"), config=cli.config({"workers": 4}))
    assert first.returncode == 0, f"expected the uninterrupted reference run to succeed, got {first.describe()}"
    time.sleep(1.1)  # a deliberate gap: any second-resolution timestamp in a page would now differ
    origin.faults.clear()
    second = cli.sync(origin.url, str(tmp / "ref-b"), config=cli.config({"workers": 4}))
    assert second.returncode == 0, second.describe()
    view_a, view_b = FolderView(tmp / "ref-a"), FolderView(tmp / "ref-b")
    assert_mirror_consistent(view_a, known_good=known_good(corpus))
    pages_a, files_a = _snapshot(view_a)
    pages_b, files_b = _snapshot(view_b)
    differing = sorted(k for k in pages_a.keys() | pages_b.keys() if pages_a.get(k) != pages_b.get(k))
    assert not differing, f"expected byte-identical pages from two runs a second apart, these differ: {differing}"
    today = time.strftime("%Y-%m-%d", time.gmtime()).encode()
    stamped = sorted(k for k, body in pages_a.items() if today in body)
    assert not stamped, f"expected no timestamp of today in pages, found one in {stamped}"
    assert files_a == files_b
    assert project_names(corpus) == {k.split("/")[1] for k in pages_a if k.count("/") == 2}
    return Reference(view_a, first.duration, pages_a, files_a)


@pytest.fixture(scope="module")
def reference(origin: OriginServer, corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> Reference:
    return make_reference(origin, corpus, tmp_path_factory.mktemp("reference"))


def _wait_for(condition: Callable[[], bool], proc: Any, limit: float) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and proc.poll() is None:
        if condition():
            return True
        time.sleep(POLL_S)  # polling interval for a file-system condition
    return False


def _kill_plan(duration: float, kills: int, rng: random.Random) -> list[tuple[str, float]]:
    """(trigger, seconds): 'time' kills at a seeded moment; 'page'/'root' kill the moment the first project
    page / the root index appears in the target (page writes; root-index and state writes)."""
    plan = [("time", round(rng.uniform(0.2, 0.95) * duration, 3)) for _ in range(kills - 4)]
    plan += [("page", 0.0), ("page", 0.0), ("root", 0.0), ("root", 0.0)]
    rng.shuffle(plan)
    return plan


def _kill_once(cli: Cli, origin: OriginServer, target: str, view: MirrorView, trigger: str, at: float,
               config: Path, root_path: Callable[[str], bool]) -> bool:
    """Start a slowed sync and SIGKILL its process group; False if it finished before the kill."""
    _slow(origin)
    proc = cli.start(origin.url, target, config=config)
    try:
        if trigger == "time":
            deadline = time.monotonic() + at
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(min(0.01, max(0.0, deadline - time.monotonic())))  # waiting for the chosen moment
        elif trigger == "page":
            _wait_for(lambda: any(True for _ in view.keys("simple/")), proc, 60)
        else:
            _wait_for(lambda: root_path("simple/index.v1_json"), proc, 60)
        finished = proc.poll() is not None
        kill_group(proc)
    finally:
        kill_group(proc)
        proc.communicate(timeout=30)
    return not finished


def _resume_and_compare(cli: Cli, origin: OriginServer, target: str, view: MirrorView, corpus: Corpus,
                        reference: Reference, config: Path, label: str, good: dict[str, str] | None = None,
                        removed: frozenset[str] = frozenset()) -> dict[str, Any]:
    good = good or known_good(corpus)
    after_kill = check_mirror(view, known_good=good, settled=False, removed=removed)
    assert not after_kill.problems, f"{label}: expected a consistent mirror after SIGKILL, got {after_kill.problems}"
    verified = {key for key, digest in after_kill.files.items() if good.get(key) == digest}
    origin.faults.clear()
    origin.reset_counters()
    result = cli.sync(origin.url, target, config=config)
    assert result.returncode == 0, f"{label}: expected the run after the kill to succeed, got {result.describe()}"
    requested = {"packages/" + path.split("/packages/", 1)[1]
                 for kind in ("file", "metadata") for path in origin.counters.paths(kind)}
    again = sorted(requested & verified)
    assert not again, f"{label}: expected no re-download of verified files, got {len(again)}: {again[:3]}"
    summary = assert_mirror_consistent(view, known_good=good, check_s3_metadata=isinstance(view, S3View))
    debris = sorted(p.name for p in cli.spool_dir.rglob("*.part")) + sorted(
        p.name for p in Path(target, ".cloudpypi", "tmp").glob("*.part") if not target.startswith("s3://"))
    assert not debris, f"{label}: expected the resumed run to clear the killed run's staging files, got {debris}"
    pages, files = {key: view.read(key) or b"" for key in view.keys("simple/")}, summary.files  # hashed already
    differing = sorted(k for k in pages.keys() | reference.pages.keys() if pages.get(k) != reference.pages.get(k))
    assert not differing, f"{label}: expected pages byte-identical to the uninterrupted run, differ: {differing[:5]}"
    missing, extra = reference.files.keys() - files.keys(), files.keys() - reference.files.keys()
    assert files == reference.files, (
        f"{label}: expected the same stored files as the uninterrupted run; missing {sorted(missing)[:3]}, "
        f"extra {sorted(extra)[:3]}, or different bytes")
    return {"present_after_kill": len(verified), "downloaded_on_resume": len(requested), "redownloaded": len(again)}


def test_folder_sigkill_at_20_moments_stays_consistent_and_resumes_without_redownloads(
        origin: OriginServer, corpus: Corpus, reference: Reference, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    cli = Cli(tmp_path)
    # processes asked for: started after 32 files, so most kills land with transfer processes in the group
    config = cli.config({"workers": 4, "processes": 2})
    kills, attempts, outcomes = 0, 0, []
    plan = _kill_plan(reference.duration, FOLDER_KILLS, rng)
    while kills < FOLDER_KILLS:
        attempts += 1
        assert attempts <= FOLDER_KILLS * 2, f"expected {FOLDER_KILLS} kills mid-run, only {kills} landed"
        trigger, at = plan[(attempts - 1) % len(plan)] if attempts <= len(plan) else ("time", rng.uniform(0.1, 0.7)
                                                                                   * reference.duration)
        path = tmp_path / f"crash-{attempts:02d}"
        target, view = str(path), FolderView(path)
        if not _kill_once(cli, origin, target, view, trigger, at, config, lambda k, p=path: (p / k).exists()):
            continue
        kills += 1
        label = f"kill {kills} ({trigger} {at:.2f}s)"
        outcome = _resume_and_compare(cli, origin, target, view, corpus, reference, config, label)
        outcomes.append({"trigger": trigger, "at": at, **outcome})
    engine_check = cli.verify(target)
    assert engine_check.returncode == 0, f"expected cloudpypi verify to pass after resuming: {engine_check.stdout}"
    record("crash", target="folder", kills=kills, attempts=attempts, reference_s=reference.duration,
           redownloaded=sum(o["redownloaded"] for o in outcomes),
           present_after_kill=[o["present_after_kill"] for o in outcomes],
           downloaded_on_resume=[o["downloaded_on_resume"] for o in outcomes])
    partial = [o for o in outcomes if o["present_after_kill"] and o["downloaded_on_resume"]]
    assert len(partial) >= FOLDER_KILLS // 3, (
        f"expected at least a third of the kills to land mid-download (some files stored, some still to fetch), "
        f"got {len(partial)} of {kills}: {outcomes}")


@pytest.mark.moto
def test_s3_sigkill_at_5_moments_stays_consistent_and_resumes_without_redownloads(
        s3_cli: Cli, s3: S3Target, tmp_path: Path) -> None:
    corpus = small_corpus(6, big=1, big_size=2_500_000)  # smaller than the folder's: moto is slower
    with running_origin(corpus, seed=SEED) as origin:
        (tmp_path / "reference").mkdir()
        reference = make_reference(origin, corpus, tmp_path / "reference")
        _s3_kills(origin, corpus, reference, s3_cli, s3)


def _s3_kills(origin: OriginServer, corpus: Corpus, reference: Reference, s3_cli: Cli, s3: S3Target) -> None:
    rng = random.Random(SEED + 1)
    config = s3_cli.config({"workers": 4})
    kills, attempts, outcomes = 0, 0, []
    while kills < S3_KILLS:
        attempts += 1
        assert attempts <= S3_KILLS * 3, f"expected {S3_KILLS} kills mid-run, only {kills} landed"
        target, view = s3.new("crash")
        at = rng.uniform(0.3, 1.1) * reference.duration  # moto is slower than a folder: the run lasts longer

        def exists(key: str, v: Any = view) -> bool:
            return any(True for _ in v.keys(key))

        if not _kill_once(s3_cli, origin, target, view, "time", at, config, exists):
            continue
        kills += 1
        outcome = _resume_and_compare(s3_cli, origin, target, view, corpus, reference, config,
                                      f"S3 kill {kills} (at {at:.2f}s)")
        outcomes.append({"at": at, **outcome})
    engine_check = s3_cli.verify(target)
    assert engine_check.returncode == 0, f"expected cloudpypi verify to pass after resuming: {engine_check.stdout}"
    record("crash", target="s3", kills=kills, attempts=attempts,
           redownloaded=sum(o["redownloaded"] for o in outcomes),
           present_after_kill=[o["present_after_kill"] for o in outcomes],
           downloaded_on_resume=[o["downloaded_on_resume"] for o in outcomes])


def test_folder_sigkill_during_an_incremental_run_with_removals_converges(tmp_path: Path) -> None:
    """Kills land while existing pages are replaced, a release and a project are removed, a release is
    yanked and new files arrive (a changelog run on top of a complete mirror)."""
    corpus = small_corpus(8, big=2, big_size=2_500_000)
    rng = random.Random(SEED + 2)
    cli = Cli(tmp_path)
    config = cli.config({"workers": 4})
    with running_origin(corpus, seed=SEED) as origin:
        base = tmp_path / "base"
        assert cli.sync(origin.url, str(base), config=config).returncode == 0
        good = known_good(corpus)
        corpus.add_release("Alpha", "9.0.0", files=[("py3-none-any", 2_000_000), "sdist"])
        corpus.add_release("delta", "9.0.0", files=[("py3-none-any", 1_500_000)])
        corpus.remove_release("beta_two", "1.0.0")
        corpus.remove_project("zeta")
        corpus.yank("Gamma.Three", "1.0.0", "broken")
        corpus.add_project("newcomer", [{"version": "1.0", "files": [("py3-none-any", 1_000_000)]}])
        corpus.build_all()
        good.update(known_good(corpus))  # removed files stay through the grace period
        removed = frozenset({"zeta"})

        shutil.copytree(base, tmp_path / "ref")
        _slow(origin)
        uninterrupted = cli.sync(origin.url, str(tmp_path / "ref"), config=config)
        assert uninterrupted.returncode == 0 and uninterrupted.report["mode"] == "changelog", (  # type: ignore[index]
            uninterrupted.describe())
        ref_view = FolderView(tmp_path / "ref")
        summary = assert_mirror_consistent(ref_view, known_good=good)
        assert "zeta" not in summary.projects and "newcomer" in summary.projects, summary.projects
        reference = Reference(ref_view, uninterrupted.duration, _snapshot(ref_view)[0], summary.files)

        kills, attempts, outcomes = 0, 0, []
        while kills < INCREMENTAL_KILLS:
            attempts += 1
            assert attempts <= INCREMENTAL_KILLS * 3, f"expected {INCREMENTAL_KILLS} kills mid-run, got {kills}"
            path = tmp_path / f"inc-{attempts:02d}"
            shutil.copytree(base, path)
            at = rng.uniform(0.3, 1.0) * reference.duration
            if not _kill_once(cli, origin, str(path), FolderView(path), "time", at, config, lambda _k: False):
                continue
            kills += 1
            outcomes.append(_resume_and_compare(cli, origin, str(path), FolderView(path), corpus, reference, config,
                                                f"incremental kill {kills} ({at:.2f}s)", good, removed))
    record("crash", target="folder-incremental", kills=kills, attempts=attempts,
           redownloaded=sum(o["redownloaded"] for o in outcomes),
           downloaded_on_resume=[o["downloaded_on_resume"] for o in outcomes])
