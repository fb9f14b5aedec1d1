"""A small real mirror with a history, for the report's tests and for docs/report-example.png.

Every figure comes from real runs: ``cloudpypi sync`` (the CLI, in a subprocess) from the fake origin into a
folder, four times, with the origin changing between runs, one project failing in the third run, and a few
origin changes left unsynced at the end so the mirror lags.  Each run writes its report into one
directory, as the sync service does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support.cli import run_cli
from support.fakeorigin import Corpus, OriginServer


@dataclass(frozen=True)
class Sample:
    mirror: Path
    reports: Path
    origin: OriginServer


def sample_corpus() -> Corpus:
    corpus = Corpus()
    corpus.add_project("idna", [{"version": "3.6", "files": [("py3-none-any", 60_000), "sdist"]}])
    corpus.add_project("numpy-like", [
        {"version": "1.26", "files": [("cp312-cp312-manylinux_2_28_x86_64", 1_800_000),
                                       ("cp312-cp312-manylinux_2_28_aarch64", 1_600_000)]}])
    corpus.add_project("requests-like", [{"version": "2.31", "files": [("py3-none-any", 120_000)]}])
    corpus.add_project("tiny", [{"version": "0.1", "files": ["py3-none-any"]}])
    return corpus


def _sync(sample_origin: OriginServer, mirror: Path, reports: Path, number: int) -> dict[str, Any]:
    report = reports / f"sync-run{number}.json"
    proc = run_cli("sync", "--origin", sample_origin.url, "--target", str(mirror), "--workers", "4",
                   "--report", str(report))
    assert proc.returncode in (0, 1), f"sync {number}: exit {proc.returncode}\n{proc.stderr[-2000:]}"
    return json.loads(report.read_text())


def build_sample(root: Path, origin: OriginServer) -> Sample:
    """Four runs of the fake origin ``origin`` (started on :func:`sample_corpus`) into ``root``/mirror."""
    corpus = origin.corpus
    mirror, reports = root / "mirror", root / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    _sync(origin, mirror, reports, 1)
    corpus.add_release("numpy-like", "2.0", files=[("cp312-cp312-manylinux_2_28_x86_64", 2_100_000),
                                                    ("cp312-cp312-manylinux_2_28_aarch64", 1_900_000)])
    corpus.add_project("django-like", [{"version": "5.0", "files": [("py3-none-any", 900_000), "sdist"]}])
    _sync(origin, mirror, reports, 2)
    corpus.add_release("idna", "3.7", files=[("py3-none-any", 61_000)])
    corpus.add_release("requests-like", "2.32", files=[("py3-none-any", 125_000)])
    gone = origin.faults.add("http_404", on=("file",), path="requests_like-2.32")  # this run fails for it
    failed = _sync(origin, mirror, reports, 3)
    assert not failed["ok"], f"expected the third run to fail for requests-like, got {failed['failures']}"
    origin.faults.remove(gone)
    _sync(origin, mirror, reports, 4)
    corpus.add_release("tiny", "0.2")  # left unsynced: the mirror lags behind the origin
    return Sample(mirror, reports, origin)
