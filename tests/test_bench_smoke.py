"""Smoke test of the benchmark harness (`make bench`) on a tiny corpus, without the bandersnatch peer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_bench_tiny_run_measures_every_tool_and_writes_the_report(tmp_path: Path) -> None:
    out, work = tmp_path / "BENCHMARKS.md", tmp_path / "work"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "scripts"), str(ROOT / "tests")]),
               CLOUDPYPI_CACHE=os.environ.get("CLOUDPYPI_CACHE", str(Path.home() / ".cache" / "cloudpypi")))
    done = subprocess.run([sys.executable, "-m", "bench.run", "--scale", "tiny", "--no-peer", "--out", str(out),
                           "--work", str(work)], env=env, capture_output=True, text=True, timeout=170, check=False)
    assert done.returncode == 0, f"expected exit 0, got {done.returncode}:\n{done.stderr[-3000:]}"

    runs = json.loads((work / "results.json").read_text())
    failed = [r for r in runs if not r["ok"]]
    assert not failed, f"expected every measured run to succeed, got failures: {failed}"
    seen = {(r["scenario"], r["target"], r["phase"]) for r in runs}
    expected = {("raw", "folder", "full"), ("raw", "s3", "full"), ("cloudpypi", "folder", "full"),
                ("cloudpypi", "s3", "full"), ("cloudpypi", "folder", "noop"), ("cloudpypi", "s3", "incremental"),
                ("cloudpypi", "folder", "verify")}
    assert expected <= seen, f"expected runs {sorted(expected - seen)} to be measured, got {sorted(seen)}"

    by_key = {(r["scenario"], r["target"], r["phase"]): r for r in runs}
    raw, ours = by_key[("raw", "folder", "full")], by_key[("cloudpypi", "folder", "full")]
    assert ours["files"] == raw["files"] > 0, (
        f"expected cloudpypi to store the same {raw['files']} files as the raw copy, got {ours['files']}")
    assert by_key[("cloudpypi", "folder", "noop")]["requests"] == {"xmlrpc": 1}, (
        f"expected a no-op sync to make one XML-RPC request, got {by_key[('cloudpypi', 'folder', 'noop')]['requests']}")
    assert 0 < ours["rss_mb"] < 500, f"expected a plausible peak RSS in MB, got {ours['rss_mb']}"

    text = out.read_text()
    for heading in ("## Machine", "## Corpus", "## Full sync", "## Goals", "## No-op sync", "## Incremental sync",
                    "## Verify", "## Root index", "## Commands"):
        assert heading in text, f"expected the report to have a {heading!r} section"
    assert "| folder | cloudpypi sync |" in text, "expected a cloudpypi folder row in the full-sync table"

    again = tmp_path / "AGAIN.md"
    done = subprocess.run([sys.executable, "-m", "bench.run", "--render-only", str(work / "document.json"),
                           "--out", str(again)], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"expected --render-only to exit 0, got {done.returncode}:\n{done.stderr[-2000:]}"
    assert again.read_text() == text, "expected --render-only to rewrite the same report from document.json"
