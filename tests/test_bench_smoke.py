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
@pytest.mark.timeout(300)
def test_bench_tiny_run_measures_every_tool_and_writes_the_report(tmp_path: Path) -> None:
    out, work = tmp_path / "BENCHMARKS.md", tmp_path / "work"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "scripts"), str(ROOT / "tests")]),
               CLOUDPYPI_CACHE=os.environ.get("CLOUDPYPI_CACHE", str(Path.home() / ".cache" / "cloudpypi")))
    done = subprocess.run([sys.executable, "-m", "bench.run", "--scale", "tiny", "--no-peer", "--out", str(out),
                           "--work", str(work)], env=env, capture_output=True, text=True, timeout=280, check=False)
    assert done.returncode == 0, f"expected exit 0, got {done.returncode}:\n{done.stderr[-3000:]}"

    runs = json.loads((work / "results.json").read_text())
    failed = [r for r in runs if not r["ok"]]
    assert not failed, f"expected every measured run to succeed, got failures: {failed}"
    seen = {(r["corpus"], r["scenario"], r["target"], r["phase"]) for r in runs}
    small, large = "small-files", "large-files"
    expected = {(small, "raw", "folder", "full"), (small, "rawsha", "folder", "full"), (small, "raw", "s3", "full"),
                (small, "cloudpypi", "folder", "full"), (small, "cloudpypi", "s3", "full"),
                (small, "cloudpypi", "folder", "noop"), (small, "cloudpypi", "s3", "incremental"),
                (small, "cloudpypi", "folder", "verify"), (large, "raw", "folder", "full"),
                (large, "rawsha", "folder", "full"), (large, "cloudpypi", "folder", "full"),
                (large, "raw", "s3", "full"), (large, "cloudpypi", "s3", "full")}
    assert expected <= seen, f"expected runs {sorted(expected - seen)} to be measured, got {sorted(seen)}"

    by_key = {(r["corpus"], r["scenario"], r["target"], r["phase"]): r for r in runs}
    for corpus in (small, large):
        raw, ours = by_key[(corpus, "raw", "folder", "full")], by_key[(corpus, "cloudpypi", "folder", "full")]
        assert ours["files"] == raw["files"] > 0, (
            f"expected cloudpypi to store the same {raw['files']} files as the raw copy of the {corpus} corpus, "
            f"got {ours['files']}")
    large_bytes = by_key[(large, "cloudpypi", "folder", "full")]["bytes"]
    assert large_bytes > 5 * by_key[(small, "cloudpypi", "folder", "full")]["bytes"], (
        f"expected the large-file corpus to hold several times the small one's bytes, got {large_bytes}")
    ours = by_key[(small, "cloudpypi", "folder", "full")]
    noop = by_key[(small, "cloudpypi", "folder", "noop")]
    assert noop["requests"] == {"xmlrpc": 1}, (
        f"expected a no-op sync to make one XML-RPC request, got {noop['requests']}")
    assert 0 < ours["rss_mb"] < 500, f"expected a plausible peak RSS in MB, got {ours['rss_mb']}"

    text = out.read_text()
    for heading in ("## Machine", "## Corpus", "## Full sync", "### Small-file corpus", "### Large-file corpus",
                    "## Goals", "## No-op sync", "## Incremental sync",
                    "## Verify", "## Root index", "## Commands"):
        assert heading in text, f"expected the report to have a {heading!r} section"
    assert "| folder | cloudpypi sync |" in text, "expected a cloudpypi folder row in the full-sync table"
    assert "| folder | raw + SHA-256 (verifying limit) |" in text, "expected the verifying limit in the table"
    assert "client CPU <= 2.5 s per GB" in text, "expected the large-file CPU-per-GB goal in the report"

    again = tmp_path / "AGAIN.md"
    done = subprocess.run([sys.executable, "-m", "bench.run", "--render-only", str(work / "document.json"),
                           "--out", str(again)], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"expected --render-only to exit 0, got {done.returncode}:\n{done.stderr[-2000:]}"
    assert again.read_text() == text, "expected --render-only to rewrite the same report from document.json"


def test_rewriting_the_report_keeps_the_hand_measured_section(tmp_path: Path) -> None:
    from bench.run import HAND_MEASURED, write_report

    out = tmp_path / "BENCHMARKS.md"
    hand = f"{HAND_MEASURED}\n\nverify --origin: 300 files/s\n"
    out.write_text(f"# Benchmarks\n\nold tables\n\n{hand}", encoding="utf-8")
    write_report(out, "# Benchmarks\n\nnew tables\n")
    text = out.read_text(encoding="utf-8")
    assert "new tables" in text and "old tables" not in text, text
    assert text.endswith(hand), f"expected the hand-measured section kept at the end:\n{text}"
    fresh = tmp_path / "new.md"
    write_report(fresh, "# Benchmarks\n")
    assert fresh.read_text(encoding="utf-8") == "# Benchmarks\n"
