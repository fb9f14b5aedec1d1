"""Deletion grace: a file removed upstream leaves all three pages at once, stays fetchable through the
grace period, and is deleted after it.  The engine reads the clock through time.time(), so the folder
test shifts the child's clock (a sitecustomize on its PYTHONPATH) instead of waiting 24 hours; the S3
test uses a real 2-second grace."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from support.fakeorigin import Corpus, running_origin

from .checker import assert_mirror_consistent
from .conftest import S3Target, folder
from .harness import SCRIPTS, Cli, known_good
from .mirrorview import MirrorView

DAY = 86400
TIME_SHIFT = """\
import os
import time

_offset = float(os.environ.get("CLOUDPYPI_TEST_TIME_OFFSET", "0") or 0)
if _offset:
    _real_time = time.time
    time.time = lambda: _real_time() + _offset
"""


def _corpus() -> Corpus:
    corpus = Corpus()
    corpus.add_project("keeper", [{"version": "1.0", "files": ["py3-none-any", "sdist"]},
                                  {"version": "2.0", "files": ["py3-none-any", "sdist"]}])
    corpus.add_project("doomed", [{"version": "0.1", "files": ["py3-none-any"]}])
    return corpus


def _keys_of(corpus: Corpus, project: str, version: str | None = None) -> set[str]:
    keys = set()
    for spec in corpus.all_specs():
        if spec.project == project and (version is None or spec.version == version):
            key = "packages/" + spec.url_path[len("/packages/"):]
            keys.add(key)
            if corpus.store.get(spec).metadata_sha256:
                keys.add(key + ".metadata")
    return keys


def _linked(view: MirrorView, corpus_before: dict[str, str]) -> set[str]:
    summary = assert_mirror_consistent(view, known_good=corpus_before)
    return set(summary.links) | {k + ".metadata" for k, link in summary.links.items() if link.metadata_sha256}


def _stored(view: MirrorView) -> set[str]:
    return set(view.keys("packages/"))


def test_removed_file_leaves_pages_at_once_stays_through_the_grace_and_goes_after(cli: Cli, tmp_path: Path) -> None:
    shim = tmp_path / "timeshift"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(TIME_SHIFT)
    shifted = {"PYTHONPATH": f"{shim}:{SCRIPTS}"}
    corpus = _corpus()
    good = known_good(corpus)
    gone_release = _keys_of(corpus, "keeper", "1.0")
    gone_project = _keys_of(corpus, "doomed")
    target, view = folder(tmp_path)
    config = cli.config()  # default grace: 24 h
    with running_origin(corpus) as origin:
        assert cli.sync(origin.url, target, config=config).returncode == 0
        assert gone_release | gone_project <= _linked(view, good)

        corpus.remove_release("keeper", "1.0")
        corpus.remove_project("doomed")
        removal = cli.sync(origin.url, target, config=config)
        assert removal.returncode == 0, removal.describe()
        linked = _linked(view, good)
        gone = gone_release | gone_project
        assert not gone & linked, f"expected removed files gone from every page at once, still linked: {gone & linked}"
        assert view.read("simple/doomed/index.html") is None, "expected the removed project's pages deleted at once"
        assert (gone_release | gone_project) <= _stored(view), "expected removed files still fetchable in the grace"

        almost = str(DAY - 600)
        during = cli.sync(origin.url, target, config=config, env={**shifted, "CLOUDPYPI_TEST_TIME_OFFSET": almost})
        assert during.returncode == 0 and during.report and during.report["files_deleted"] == 0, during.describe()
        assert (gone_release | gone_project) <= _stored(view), "expected removed files kept until the grace ends"

        past = str(DAY + 60)
        after = cli.sync(origin.url, target, config=config, env={**shifted, "CLOUDPYPI_TEST_TIME_OFFSET": past})
        assert after.returncode == 0, after.describe()
        left = (gone_release | gone_project) & _stored(view)
        assert not left, f"expected removed files deleted after the grace, still stored: {left}"
        assert after.report and after.report["files_deleted"] == len(gone_release | gone_project), after.report
        kept = _keys_of(corpus, "keeper", "2.0")
        assert kept <= _linked(view, good) and kept <= _stored(view), "expected the files still listed kept"


@pytest.mark.moto
def test_s3_removed_file_is_fetchable_during_a_real_2s_grace_and_deleted_after(s3_cli: Cli, s3: S3Target) -> None:
    corpus = _corpus()
    good = known_good(corpus)
    gone = _keys_of(corpus, "keeper", "1.0")
    target, view = s3.new("grace")
    config = s3_cli.config({"deletion_grace": 2})
    with running_origin(corpus) as origin:
        assert s3_cli.sync(origin.url, target, config=config).returncode == 0
        corpus.remove_release("keeper", "1.0")
        removal = s3_cli.sync(origin.url, target, config=config)
        scheduled_by = time.time()
        assert removal.returncode == 0, removal.describe()
        assert not gone & _linked(view, good), "expected the removed release gone from the pages at once"
        assert gone <= _stored(view), "expected its files still in the bucket during the grace"
        for key in gone:
            assert view.read(key) is not None, f"expected {key} fetchable during the grace"
        while time.time() < scheduled_by + 2.5:
            time.sleep(0.1)  # waiting for the real grace period to pass (the condition is the clock)
        after = s3_cli.sync(origin.url, target, config=config)
        assert after.returncode == 0, after.describe()
        assert not gone & _stored(view), f"expected the files deleted after the grace, left: {gone & _stored(view)}"
        assert_mirror_consistent(view, known_good=good, check_s3_metadata=True)
