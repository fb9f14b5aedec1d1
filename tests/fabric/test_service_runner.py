"""The sync service's runner (roles/sync_service/templates/cloudpypi-service.j2), rendered and run for real.

Team members without full sudo run it as the service user, so it alone decides what runs: the service's
operations with the deployed configuration.  Hostile arguments are refused with exit 77 before anything
runs, and nothing is written.  The same rules are checked on the sandbox host, through sudo, as a member
without sudo (tests/sandbox/test_lockdown.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.servicerunner import ORIGIN, Runner, render_runner


@pytest.fixture()
def runner(tmp_path: Path) -> Runner:
    return render_runner(tmp_path)


def forwarded(out: str) -> list[str]:
    return [line.removeprefix("arg=") for line in out.splitlines() if line.startswith("arg=")]


def snapshot(folder: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in folder.rglob("*")}


@pytest.mark.parametrize(("args", "expected_tail"), [
    (["sync"], []),
    (["sync", "--project", "requests", "--project=idna", "--full", "--dry-run"],
     ["--project", "requests", "--project", "idna", "--full", "--dry-run"]),
    (["sync", "--lock-wait", "0", "--no-progress"], ["--lock-wait", "0", "--no-progress"]),
    (["sync", "--origin", ORIGIN.rstrip("/")], ["--origin", ORIGIN]),
    (["status", "--json", "--offline"], ["--json", "--offline"]),
    (["verify"], []),
    (["verify", "--origin"], ["--origin", ORIGIN]),
    (["verify", "--origin", "--repair"], ["--origin", ORIGIN, "--repair"]),
    (["verify", f"--origin={ORIGIN}", "--sample", "50"], ["--origin", ORIGIN, "--sample", "50"]),
    (["costs", "--json", "--budget", "cloudpypi-monthly", "--instance-type", "t3.small", "--volume-gb", "30",
      "--egress-gb", "100.5"],
     ["--json", "--budget", "cloudpypi-monthly", "--instance-type", "t3.small", "--volume-gb", "30",
      "--egress-gb", "100.5"]),
    (["export", "--since", "42", "--out", "-"], ["--since", "42", "--out", "-"]),
    (["closure", "--dry-run", "--json", "--egress-gb", "50"], ["--dry-run", "--json", "--egress-gb", "50"]),
    (["why", "requests", "--compute"], ["requests", "--compute"]),
    (["report", "--days", "30", "--top", "5", "--costs", "-", "--offline", "--html", "-"],
     ["--days", "30", "--top", "5", "--costs", "-", "--offline", "--html", "-"]),
    (["invalidate", "--policy", "wildcard", "/simple/", "/simple/idna/"],
     ["--policy", "wildcard", "/simple/", "/simple/idna/"]),
])
def test_service_operations_run_with_the_deployed_config(runner, args, expected_tail) -> None:
    proc = runner.run(*args)
    assert proc.returncode == 0, f"expected {args} allowed, got exit {proc.returncode}: {proc.stderr}"
    assert forwarded(proc.stdout) == [args[0], "--config", runner.config, *expected_tail], proc.stdout


def test_the_deployed_config_and_report_dir_may_be_named_explicitly_as_fab_does(runner) -> None:
    args = ["sync", "--config", runner.config, "--lock-wait", "0", "--report-dir", str(runner.report_dir)]
    proc = runner.run(*args)
    assert proc.returncode == 0, proc.stderr
    assert forwarded(proc.stdout) == ["sync", "--config", runner.config, "--lock-wait", "0",
                                      "--report-dir", str(runner.report_dir)], proc.stdout


def test_an_invalidation_report_is_read_from_the_report_dir_by_name_or_full_path(runner) -> None:
    by_name = runner.run("invalidate", "--report", "latest.json")
    by_path = runner.run("invalidate", "--report", f"{runner.report_dir}/latest.json")
    for proc in (by_name, by_path):
        assert proc.returncode == 0, proc.stderr
        assert forwarded(proc.stdout)[-2:] == ["--report", f"{runner.report_dir}/latest.json"], proc.stdout


HOSTILE = [
    ["sync", "--target", "/tmp/elsewhere"],
    ["sync", "--target=s3://attacker-bucket"],
    ["sync", "--tar", "/tmp/elsewhere"],  # argparse would expand the abbreviation to --target
    ["sync", "--origin", "https://evil.example/"],
    ["sync", "--origin=https://evil.example/"],
    ["sync", "--config", "/tmp/evil.toml"],
    ["sync", "--config=/tmp/evil.toml"],
    ["sync", "--report", "/tmp/report.json"],
    ["sync", "--report-dir", "/tmp/reports"],
    ["sync", "--report-d", "/tmp/reports"],
    ["sync", "--workers", "500"],
    ["sync", "--project", "it's; rm -rf /"],
    ["sync", "--project", "../../etc"],
    ["sync", "--project", "--target"],
    ["sync", "--full=yes"],
    ["sync", "--", "--target", "/tmp/x"],
    ["verify", "--origin", "https://evil.example/"],
    ["verify", "--target", "/tmp/elsewhere"],
    ["status", "--target", "/tmp/elsewhere"],
    ["invalidate", "--distribution", "EATTACKER"],
    ["invalidate", "--report", "/etc/shadow"],
    ["invalidate", "--report", "../../../etc/passwd"],
    ["invalidate", "relative/path"],
    ["costs", "--prices", "/etc/shadow"],
    ["costs", "--report-dir", "/tmp"],
    ["report", "../../etc/passwd"],
    ["report", "/etc/passwd"],
    ["export", "--since", "0", "--out", "/tmp/bundle.tar"],
    ["export", "--since", "0", "--out=/var/lib/cloudpypi/state/x.tar"],
    ["export", "--since", "0", "--target", "/tmp/elsewhere"],
    ["export", "--since", "yesterday", "--out", "-"],
    ["import", "--bundle", "/tmp/b.tar"],
    ["report", "--html", "/tmp/page.html"],
    ["report", "--html=/var/lib/cloudpypi/evil.html"],
    ["report", "--html", "-", "--reports", "/tmp"],
    ["report", "--html", "-", "--costs", "/etc/shadow"],
    ["report", "--html", "-", "--target", "/tmp/elsewhere"],
    ["serve", "--port", "8080"],
    ["closure", "--dry-run", "--prices", "/etc/shadow"],
    ["closure", "--dry-run", "--target", "/tmp/elsewhere"],
    ["why", "../../etc"],
    ["why", "requests", "idna"],
    ["why", "requests", "--origin", "https://evil.example/"],
    ["--config", "/tmp/evil.toml", "sync"],
    ["-vv", "--target", "/tmp/x", "sync"],
    [],
]


@pytest.mark.parametrize("args", HOSTILE, ids=[" ".join(a) or "(nothing)" for a in HOSTILE])
def test_hostile_arguments_are_refused_before_anything_runs_or_is_written(runner, tmp_path, args) -> None:
    before = snapshot(tmp_path)
    proc = runner.run(*args)
    assert proc.returncode == 77, f"expected {args} refused with exit 77, got {proc.returncode}: {proc.stdout}"
    assert proc.stdout == "", f"expected the engine never started, got {proc.stdout!r}"
    assert proc.stderr.startswith("cloudpypi-service: refused: "), proc.stderr
    assert "deployed configuration" in proc.stderr, proc.stderr
    assert snapshot(tmp_path) == before, "expected nothing written"


def test_the_refusal_names_the_argument_and_why(runner) -> None:
    proc = runner.run("sync", "--target", "/tmp/elsewhere")
    assert "'--target' is not allowed: it changes where the mirror is written" in proc.stderr, proc.stderr


def test_the_runner_refuses_to_run_as_anyone_but_the_service_user(tmp_path) -> None:
    runner = render_runner(tmp_path, service_user="cloudpypi-nobody-here")
    proc = runner.run("status")
    assert proc.returncode == 77 and "run this as cloudpypi-nobody-here" in proc.stderr, proc.stderr
    assert proc.stdout == ""


def test_report_prints_a_report_from_the_report_dir_and_never_follows_a_symlink(runner, tmp_path) -> None:
    (runner.report_dir / "latest.json").write_text('{"serial_after": 9}')
    proc = runner.run("report")
    assert (proc.returncode, proc.stdout) == (0, '{"serial_after": 9}'), proc.stderr
    assert runner.run("report", "latest.json").stdout == '{"serial_after": 9}'
    secret = tmp_path / "secret.json"
    secret.write_text("secret")
    os.symlink(secret, runner.report_dir / "link.json")
    proc = runner.run("report", "link.json")
    assert proc.returncode == 1 and "secret" not in proc.stdout, (proc.returncode, proc.stdout)
    missing = runner.run("report", "nope.json")
    assert missing.returncode == 1 and "cannot read" in missing.stderr, missing.stderr


def test_the_callers_environment_does_not_reach_the_engine(runner) -> None:
    proc = subprocess.run([sys.executable, "-I", str(runner.path), "status"], capture_output=True, text=True,
                          env={"AWS_ENDPOINT_URL": "http://attacker.example", "PATH": "/usr/bin:/bin"}, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "endpoint=", f"expected the caller's AWS_ENDPOINT_URL dropped: {proc.stdout}"


def test_files_the_runner_starts_are_created_without_world_access(tmp_path) -> None:
    runner = render_runner(tmp_path)
    cli = tmp_path / "venv" / "bin" / "cloudpypi"
    cli.write_text(f'#!/bin/sh\ntouch "{tmp_path}/made"\n')
    assert runner.run("status").returncode == 0
    assert (tmp_path / "made").stat().st_mode & 0o007 == 0, oct((tmp_path / "made").stat().st_mode)
