"""`cloudpypi closure --dry-run` and `cloudpypi why`, through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

from closure.conftest import Mirror, write_config
from closure.graph import closure_table
from support.cli import run_cli
from support.fakeorigin import OriginServer


def test_closure_dry_run_prints_projects_files_bytes_and_monthly_cost_without_downloading(
        origin: OriginServer, tmp_path: Path) -> None:
    target = tmp_path / "never-written"
    config = write_config(tmp_path / "c.toml", origin.url, str(target), closure_table())
    before = origin.counters.total("file")
    result = run_cli("closure", "--dry-run", "--config", str(config), "--json")
    assert result.returncode == 1, f"expected exit 1 (ghost is missing), got {result.returncode}: {result.stderr}"
    summary = json.loads(result.stdout)
    assert summary["totals"]["projects"] == 9 and summary["totals"]["files"] == 20, summary["totals"]
    assert summary["totals"]["bytes"] == sum(p["bytes"] for p in summary["projects"].values()) > 0
    assert summary["projects"]["liba"]["files"] == 6
    assert [f["requirement"] for f in summary["failures"]] == ["ghost>=1"]
    assert summary["monthly_cost"] is not None and float(summary["monthly_cost"]["monthly_usd"]) > 0, (
        f"expected a monthly cost from the cost model, got {summary['monthly_cost']} {summary['cost_note']}")
    assert origin.counters.total("file") == before, "a dry run downloads no distribution file"
    assert not target.exists(), "a dry run writes nothing"
    text = run_cli("closure", "--dry-run", "--config", str(config))
    assert "total: 9 project(s), 20 file(s)" in text.stdout and "monthly cost: $" in text.stdout, text.stdout
    assert "MISSING ghost>=1" in text.stdout


def test_why_shows_the_chain_from_the_requirement_per_environment_from_the_stored_closure(mirror: Mirror) -> None:
    result = run_cli("why", "liba", "--config", str(mirror.config))
    assert result.returncode == 0, result.stderr
    assert "stored by the last sync" in result.stdout, result.stdout
    assert "requirement app -> app 2.0 -> liba<2,>=1 -> liba 1.5" in result.stdout, result.stdout
    header = [line for line in result.stdout.splitlines() if line.startswith("liba ")]
    assert len(header) == 1 and header[0].count("cp3.") == 6, f"expected one group of 6 environments: {header}"


def test_why_follows_extras_and_groups_environments_sharing_a_chain(mirror: Mirror) -> None:
    result = run_cli("why", "speedup", "--config", str(mirror.config))
    assert result.returncode == 0, result.stderr
    assert "libb[fast]>=1 -> libb[fast] 1.0 -> speedup>=1 -> speedup 1.1" in result.stdout, result.stdout
    header = [line for line in result.stdout.splitlines() if line.startswith("speedup ")]
    assert len(header) == 1 and header[0].count("cp3.") == 6, f"expected one group of 6 environments: {header}"


def test_why_marker_dependency_names_only_the_environments_where_the_marker_holds(mirror: Mirror) -> None:
    result = run_cli("why", "oldpy-compat", "--config", str(mirror.config))
    assert result.returncode == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if line.startswith("oldpy-compat "))
    assert "cp3.11" in header and "cp3.12" not in header and "cp3.13" not in header, header


def test_why_explains_a_missing_dependency_and_exits_1(mirror: Mirror) -> None:
    result = run_cli("why", "ghost", "--config", str(mirror.config))
    assert result.returncode == 1
    assert "ghost>=1: not mirrored: required by broken 1.0: not found on the origin" in result.stdout, result.stdout


def test_why_a_project_outside_the_closure_says_so(mirror: Mirror) -> None:
    result = run_cli("why", "slowdep", "--config", str(mirror.config), "--compute")
    assert result.returncode == 1
    assert "computed now" in result.stdout and "slowdep is not in the closure of app, broken" in result.stdout, (
        result.stdout)


def test_bad_closure_config_fails_the_run_with_the_key_named(origin: OriginServer, tmp_path: Path) -> None:
    config = write_config(tmp_path / "bad.toml", origin.url, str(tmp_path / "m"),
                          closure_table(platforms=["beos_x86"]))
    result = run_cli("sync", "--config", str(config), "--no-progress")
    # exit 1, not 2: the engine reports run-level errors as a failed run (config.py does not validate [closure])
    assert result.returncode != 0, f"expected a failed run, got {result.returncode}"
    assert "[closure].platforms: 'beos_x86' is not a wheel platform tag" in result.stdout + result.stderr, (
        result.stdout + result.stderr)
    dry = run_cli("closure", "--dry-run", "--config", str(config))
    assert dry.returncode == 2, f"closure --dry-run exits 2 on a bad config, got {dry.returncode}"
    assert "'beos_x86' is not a wheel platform tag" in dry.stderr, dry.stderr
