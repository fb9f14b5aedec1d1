"""Crash consistency of `cloudpypi import`: SIGKILL the import at moments triggered by what the target shows
(its first file, its first page, the root index) and at seeded random delays.  After each kill the mirror is
consistent (no page links a missing file, the root lists no project without a page); running the import
again converges to exactly the exporting mirror."""

from __future__ import annotations

import random
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support.cli import run_cli, start_cli
from support.fakeorigin import running_origin

from .checker import assert_mirror_consistent
from .harness import kill_group, small_corpus
from .mirrorview import FolderView

SEED = 20261206
RANDOM_KILLS = 6
POLL_S = 0.001


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Iterator[tuple[Path, Path]]:
    base = tmp_path_factory.mktemp("bundle-crash")
    corpus = small_corpus(12, big=3, big_size=2_500_000)
    with running_origin(corpus) as origin:
        source = base / "source"
        run = run_cli("sync", "--origin", origin.url, "--target", str(source), "--no-progress")
        assert run.returncode == 0, run.stderr
    bundle = base / "full.tar"
    run = run_cli("export", "--target", str(source), "--since", "0", "--out", str(bundle))
    assert run.returncode == 0, run.stderr
    yield source, bundle


def _objects(root: Path) -> dict[str, bytes]:
    view = FolderView(root)
    return {key: view.read(key) or b"" for area in ("simple/", "packages/") for key in view.keys(area)}


def _first(pattern: str) -> Callable[[Path], bool]:
    return lambda target: next(target.glob(pattern), None) is not None


TRIGGERS = {
    "first-file": _first("packages/**/*.whl"),
    "first-page": _first("simple/*/index.html"),
    "root-index": _first("simple/index.v1_json"),
}


def _import(bundle: Path, target: Path) -> subprocess.Popen[bytes]:
    return start_cli("import", "--bundle", str(bundle), "--target", str(target), stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True)


def _kill_then_converge(source: Path, bundle: Path, target: Path, wait: Callable[[subprocess.Popen[bytes]], None]):
    proc = _import(bundle, target)
    try:
        wait(proc)
    finally:
        kill_group(proc)
        proc.wait(timeout=30)
    if target.exists():
        assert_mirror_consistent(FolderView(target), settled=False)
    again = run_cli("import", "--bundle", str(bundle), "--target", str(target))
    assert again.returncode == 0, again.stderr
    assert _objects(target) == _objects(source), "the import run again did not converge to the exported mirror"


@pytest.mark.parametrize("trigger", sorted(TRIGGERS))
def test_import_killed_when_the_target_shows_a_step_is_consistent_and_converges(exported, tmp_path, trigger):
    source, bundle = exported
    target = tmp_path / "copy"
    seen = TRIGGERS[trigger]

    def wait(proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline and not seen(target):
            time.sleep(POLL_S)

    _kill_then_converge(source, bundle, target, wait)


def test_import_killed_at_random_moments_is_consistent_and_converges(exported, tmp_path):
    source, bundle = exported
    rng = random.Random(SEED)
    started = time.monotonic()
    assert run_cli("import", "--bundle", str(bundle), "--target", str(tmp_path / "timing")).returncode == 0
    duration = time.monotonic() - started
    for i in range(RANDOM_KILLS):
        delay = rng.uniform(0.05, 1.0) * duration
        _kill_then_converge(source, bundle, tmp_path / f"copy-{i}", lambda proc, d=delay: time.sleep(d))
