"""The commands each fab task sends, checked with fabric.testing's MockRemote (remote tasks, through a
real fabric Connection as `fab -H` builds it) and invoke's MockContext (local tasks: ansible-playbook,
pytest).  No SSH server is involved; the sandbox end-to-end test is in test_fabric_sandbox.py.

(This directory has no __init__.py and no conftest.py on purpose: tests/ is on sys.path, and a package
named `fabric` there would shadow the Fabric library.)
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from fabric.testing.base import Command
from fabric.testing.fixtures import remote, remote_with_sftp  # noqa: F401  (the pytest fixtures)
from invoke import Exit, MockContext, Result

from fabric import Config, Connection
from support.cli import run_cli

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import fabfile  # noqa: E402

from cloudpypi.ops import devserver, present, runner  # noqa: E402
from cloudpypi.report import Report  # noqa: E402

RUNNER = "/opt/cloudpypi/bin/cloudpypi-service"
CONFIG = "/etc/cloudpypi/mirror.toml"
REPORTS = "/var/lib/cloudpypi/reports"


def as_service(*args: str) -> str:
    """The command line expected for `cloudpypi ARGS` run as the service user with its env file."""
    return shlex.join(["sudo", "-n", "-u", "cloudpypi", RUNNER, *args])


def connection() -> Connection:
    """What `fab -H admin@devserver.test` hands the task (stdin off, as Fabric needs under pytest)."""
    return Connection("devserver.test", user="admin", config=Config(overrides={"run": {"in_stream": False}}))


REPORT = {
    "serial_before": 5, "serial_after": 9, "projects_synced": 2, "projects_failed": 0, "files_added": 3,
    "bytes_added": 2_500_000, "files_deleted": 1, "changed_paths": ["/simple/", "/simple/a/", "/simple/b/"],
    "failures": [], "duration_s": 1.5, "started_at": "2026-11-29T20:00:00Z", "finished_at": "2026-11-29T20:00:01Z",
}


# ----------------------------------------------------------------------------------------------- sync


def engine_summary(report: dict) -> str:
    """What `cloudpypi sync` prints at its end for this report (the engine's own summary_lines)."""
    return "".join(f"{line}\n" for line in Report.from_dict(report).summary_lines())


def test_sync_runs_the_engine_as_the_service_user_and_shows_its_summary_once(remote, capsys) -> None:  # noqa: F811
    sync_cmd = as_service("sync", "--config", CONFIG, "--lock-wait", "0", "--origin", "http://127.0.0.1:8081",
                          "--project", "requests", "--project", "idna", "--full", "--report-dir", REPORTS)
    summary = engine_summary(REPORT)
    remote.expect(commands=[Command(sync_cmd, out=summary.encode())])  # and nothing after it: no report fetched
    fabfile.sync(connection(), origin="http://127.0.0.1:8081", project=["requests", "idna"], full=True)
    out = capsys.readouterr().out
    for text in ("serial 5 -> 9", "synced 2 project(s)", "files added 3 (2.4 MiB), deleted 1"):
        assert out.count(text) == 1, f"expected {text!r} once, from the engine's summary, in:\n{out}"
    assert out == summary, f"expected the engine's summary alone, got:\n{out}"


def test_sync_dry_run_writes_no_report_and_fetches_none(remote, capsys) -> None:  # noqa: F811
    remote.expect(commands=[Command(as_service("sync", "--config", CONFIG, "--lock-wait", "0", "--dry-run"))])
    fabfile.sync(connection(), dry_run=True)
    assert "Report" not in capsys.readouterr().out


def test_sync_when_the_timer_run_holds_the_lock_says_who_started_it_and_exits_75(remote) -> None:  # noqa: F811
    engine = (b"cloudpypi sync: error: s3://m/ is locked by cloudpypi sync pid 42 on dev, started "
              b"2026-11-29 19:00:00 UTC; try again later (or pass --lock-wait SECONDS to wait)\n")
    remote.expect(commands=[
        Command(as_service("sync", "--config", CONFIG, "--lock-wait", "0", "--report-dir", REPORTS),
                err=engine, exit=75),
        Command("systemctl show cloudpypi-sync.service --property=ActiveState,ExecMainStartTimestamp",
                out=b"ActiveState=active\nExecMainStartTimestamp=Sun 2026-11-29 19:00:00 UTC\n"),
    ])
    with pytest.raises(Exit) as caught:
        fabfile.sync(connection())
    assert caught.value.code == 75, f"expected exit 75, got {caught.value.code}"
    message = str(caught.value.message)
    assert message.startswith("a sync is already running (started by the systemd timer"), message
    assert "Sun 2026-11-29 19:00:00 UTC" in message and "not starting a second one" in message, message


def test_sync_lock_held_by_another_manual_run_names_that_run(remote) -> None:  # noqa: F811
    engine = (b"cloudpypi sync: error: s3://m/ is locked by cloudpypi sync pid 42 on dev, started "
              b"2026-11-29 19:00:00 UTC; try again later\n")
    remote.expect(commands=[
        Command(as_service("sync", "--config", CONFIG, "--lock-wait", "0", "--report-dir", REPORTS),
                err=engine, exit=75),
        Command("systemctl show cloudpypi-sync.service --property=ActiveState,ExecMainStartTimestamp",
                out=b"ActiveState=inactive\nExecMainStartTimestamp=\n"),
    ])
    with pytest.raises(Exit) as caught:
        fabfile.sync(connection())
    assert "(started by cloudpypi sync pid 42 on dev at 2026-11-29 19:00:00 UTC)" in str(caught.value.message)


def test_sync_with_failed_projects_shows_the_engines_summary_then_fails_with_its_code(remote, capsys) -> None:  # noqa: F811
    failed = dict(REPORT, projects_failed=1, failures=[{"project": "broken", "reason": "hash mismatch"}])
    remote.expect(commands=[
        Command(as_service("sync", "--config", CONFIG, "--lock-wait", "0", "--report-dir", REPORTS),
                out=engine_summary(failed).encode(), err=b"1 project failed: broken\n", exit=1),
    ])
    with pytest.raises(Exit) as caught:
        fabfile.sync(connection())
    assert caught.value.code == 1, f"expected the engine's exit 1, got {caught.value.code}"
    assert "1 project failed: broken" in str(caught.value.message), caught.value.message
    out = capsys.readouterr().out
    assert out.count("    broken: hash mismatch") == 1, f"expected the engine's failure line once in:\n{out}"


def test_service_command_runs_the_runner_as_the_service_user_with_arguments_verbatim() -> None:
    server = devserver.Devserver(name="x", host="x")
    argv = shlex.split(server.service_command("--project", "it's; rm -rf /"))
    assert argv == ["sudo", "-n", "-u", "cloudpypi", RUNNER, "--project", "it's; rm -rf /"], argv


def test_the_runner_loads_the_env_file_and_passes_allowed_arguments_with_the_deployed_config(tmp_path: Path) -> None:
    """roles/sync_service's runner template, rendered and run for real (without sudo); its full rules are
    tested in test_service_runner.py."""
    from support.servicerunner import render_runner

    runner = render_runner(tmp_path)
    (runner.config_dir / "cloudpypi.env").write_text('AWS_ENDPOINT_URL="http://127.0.0.1:5000"\n')
    out = runner.run("sync", "--project", "it.s-a_name", check=True).stdout
    assert out.splitlines() == ["endpoint=http://127.0.0.1:5000", "arg=sync", "arg=--config",
                                f"arg={runner.config}", "arg=--project", "arg=it.s-a_name"], out
    hostile = runner.run("sync", "--project", "it's; rm -rf /")
    assert hostile.returncode == 77 and hostile.stdout == "", (hostile.returncode, hostile.stdout, hostile.stderr)
    (runner.config_dir / "cloudpypi.env").unlink()
    out = runner.run("status", check=True).stdout
    assert out.splitlines() == ["endpoint=", "arg=status", "arg=--config", f"arg={runner.config}"], (
        "an absent env file is fine, as for the unit")


# ------------------------------------------------------------------------------ other remote tasks


@pytest.mark.parametrize(("kwargs", "args"), [
    ({}, ["--report", f"{REPORTS}/latest.json"]),
    ({"report": "sync-20261129T2000Z.json", "policy": "wildcard"},
     ["--policy", "wildcard", "--report", f"{REPORTS}/sync-20261129T2000Z.json"]),
    ({"path": ["/simple/a/", "/simple/b/"], "policy": "changed"}, ["--policy", "changed", "/simple/a/", "/simple/b/"]),
])
def test_invalidate_sends_the_report_or_the_paths_and_the_policy(remote, kwargs, args) -> None:  # noqa: F811
    remote.expect(commands=[Command(as_service("invalidate", "--config", CONFIG, *args), out=b"cost $0.00\n")])
    fabfile.invalidate(connection(), **kwargs)


def test_invalidate_rejects_an_unknown_policy_before_connecting() -> None:
    with pytest.raises(Exit, match="changed, wildcard or none"):
        fabfile.invalidate(connection(), policy="everything")


def test_verify_repair_runs_verify_with_repair(remote) -> None:  # noqa: F811
    remote.expect(commands=[Command(as_service("verify", "--config", CONFIG, "--repair"), out=b"ok\n")])
    fabfile.verify(connection(), repair=True)


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"origin": True}, ("--origin",)),
    ({"origin": "https://pypi.org", "sample": 50}, ("--origin", "https://pypi.org", "--sample", "50")),
    ({"origin": True, "repair": True}, ("--origin", "--repair")),
])
def test_verify_origin_checks_against_the_services_origin_unless_given_one(remote, kwargs, expected) -> None:  # noqa: F811
    remote.expect(commands=[Command(as_service("verify", "--config", CONFIG, *expected), out=b"ok\n")])
    fabfile.verify(connection(), **kwargs)


def test_verify_sample_without_origin_is_refused_before_connecting() -> None:
    with pytest.raises(Exit, match="--sample needs --origin"):
        fabfile.verify(connection(), sample=5)


def test_a_failing_remote_command_fails_the_task_with_its_message_and_code(remote) -> None:  # noqa: F811
    remote.expect(commands=[Command(as_service("verify", "--config", CONFIG),
                                    err=b"cloudpypi verify: 2 problems: simple/a/ links a missing file\n", exit=1)])
    with pytest.raises(Exit) as caught:
        fabfile.verify(connection())
    assert caught.value.code == 1
    assert "2 problems: simple/a/ links a missing file" in str(caught.value.message), caught.value.message


def test_sudo_refusal_is_explained(remote) -> None:  # noqa: F811
    remote.expect(commands=[Command(as_service("verify", "--config", CONFIG),
                                    err=b"sudo: a password is required\n", exit=1)])
    with pytest.raises(Exit, match="refused sudo for your account"):
        fabfile.verify(connection())


def test_costs_passes_the_inventorys_instance_type_and_volume_and_the_egress(remote, monkeypatch) -> None:  # noqa: F811
    server = devserver.Devserver(name="d", host="devserver.test", user="admin", instance_type="t3.medium",
                               volume_gb="40", budget_name="team-budget")
    monkeypatch.setattr(fabfile, "target", lambda c: (connection(), server))
    remote.expect(commands=[Command(as_service(
        "costs", "--config", CONFIG, "--report-dir", REPORTS, "--budget", "team-budget", "--instance-type",
        "t3.medium", "--volume-gb", "40", "--egress-gb", "250", "--json"), out=b"{}\n")])
    fabfile.costs(MockContext(), egress_gb="250", json=True)


def test_closure_prints_the_plan_from_the_service_config(remote) -> None:  # noqa: F811
    remote.expect(commands=[Command(as_service("closure", "--dry-run", "--config", CONFIG, "--egress-gb", "10"),
                                    out=b"total: 3 project(s)\n")])
    fabfile.closure(connection(), egress_gb="10")


def test_closure_with_unresolvable_requirements_exits_1(remote) -> None:  # noqa: F811
    remote.expect(commands=[Command(as_service("closure", "--dry-run", "--config", CONFIG),
                                    out=b"MISSING ghost>=1: not found\n", exit=1)])
    with pytest.raises(Exit) as caught:
        fabfile.closure(connection())
    assert caught.value.code == 1 and "cannot be resolved" in str(caught.value.message)


def test_why_asks_the_stored_closure_and_exits_1_for_a_project_outside_it(remote) -> None:  # noqa: F811
    remote.expect(commands=[Command(as_service("why", "ghost", "--config", CONFIG, "--compute"),
                                    out=b"ghost is not in the closure\n", exit=1)])
    with pytest.raises(Exit) as caught:
        fabfile.why(connection(), "ghost", compute=True)
    assert caught.value.code == 1 and "ghost is not in the closure mirror" in str(caught.value.message)


def test_costs_over_budget_fails_the_task_with_exit_3(remote) -> None:  # noqa: F811
    remote.expect(commands=[Command(as_service("costs", "--config", CONFIG, "--report-dir", REPORTS,
                                               "--budget", "cloudpypi-monthly"),
                                    out=b"Spend passes the budget.\n", exit=3)])
    with pytest.raises(Exit) as caught:
        fabfile.costs(connection())
    assert caught.value.code == 3


# --------------------------------------------------------------------------------------------- report

PAGE = "<!DOCTYPE html>\n<html><body>mirror report</body></html>\n"


def test_report_builds_the_page_on_the_host_to_stdout_and_saves_it_here(remote, tmp_path, capsys) -> None:  # noqa: F811
    remote.expect(commands=[Command(as_service("report", "--config", CONFIG, "--reports", REPORTS, "--days", "30",
                                               "--html", "-"), out=PAGE.encode())])
    out = tmp_path / "reports" / "mirror.html"
    fabfile.report(connection(), out=str(out), days=30)
    assert out.read_text() == PAGE
    assert f"report saved to {out}" in capsys.readouterr().out
    assert [p.name for p in out.parent.iterdir()] == ["mirror.html"], "no partial file is left behind"


def test_report_with_costs_pipes_the_hosts_cost_data_into_the_report(remote, tmp_path, monkeypatch) -> None:  # noqa: F811
    server = devserver.Devserver(name="d", host="devserver.test", user="admin", instance_type="t3.medium",
                               budget_name="team-budget")
    monkeypatch.setattr(fabfile, "target", lambda c: (connection(), server))
    costs = as_service("costs", "--config", CONFIG, "--report-dir", REPORTS, "--budget", "team-budget",
                       "--instance-type", "t3.medium", "--json")
    page = as_service("report", "--config", CONFIG, "--reports", REPORTS, "--days", "90", "--costs", "-",
                      "--html", "-")
    remote.expect(commands=[Command(f"{costs} | {page}", out=PAGE.encode())])
    fabfile.report(MockContext(), out=str(tmp_path / "r.html"), costs=True)
    assert (tmp_path / "r.html").read_text() == PAGE


def test_report_that_prints_no_page_fails_and_leaves_the_old_page(remote, tmp_path) -> None:  # noqa: F811
    out = tmp_path / "r.html"
    out.write_text("the previous page")
    remote.expect(commands=[Command(as_service("report", "--config", CONFIG, "--reports", REPORTS, "--days", "90",
                                               "--html", "-"), out=b"", err=b"cloudpypi report: error: no\n",
                                    exit=2)])
    with pytest.raises(Exit) as caught:
        fabfile.report(connection(), out=str(out))
    assert caught.value.code == 2 and out.read_text() == "the previous page"


@pytest.mark.parametrize(("kwargs", "extra"), [
    ({}, ["--since=-1h"]),
    ({"since": "2h", "follow": True}, ["--since=-2h", "--follow"]),
    ({"since": "2026-11-29 10:00"}, ["--since=2026-11-29 10:00"]),
])
def test_logs_reads_the_services_journal(remote, kwargs, extra) -> None:  # noqa: F811
    line = shlex.join(["journalctl", "--no-pager", "-u", "cloudpypi-sync.service", "-u", "cloudpypi-sync.timer",
                       *extra])
    expected = f"if sudo -n true 2>/dev/null; then sudo -n {line}; else {line}; fi"
    remote.expect(commands=[Command(expected, out=b"-- No entries --\n")])
    fabfile.logs(connection(), **kwargs)


def engine_status(target: Path, *args: str) -> str:
    """What the real `cloudpypi status` prints for a folder target: the text `fab status` must show as it is."""
    run = run_cli("status", "--target", str(target), *args, timeout=120)
    assert run.returncode == 0, f"cloudpypi status failed: {run.stderr}"
    return run.stdout


def assert_shows_engine_status(out: str, text: str) -> None:
    """Each line the engine printed is in fab's output once, under the Mirror heading, in the engine's words."""
    mirror = out.split("Mirror\n", 1)[1].split("Disk\n", 1)[0]
    assert mirror == "".join(f"  {line}\n" for line in text.splitlines()), (
        f"expected the engine's status as it printed it:\n{text}\ngot:\n{out}")
    assert out.count(text.splitlines()[0]) == 1, f"expected the engine's status once:\n{out}"


def test_status_reports_what_it_can_and_shows_lag_unknown_with_the_reason(remote, capsys, tmp_path) -> None:  # noqa: F811
    with socket.socket() as sock:  # an origin that refuses connections
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    mirror = engine_status(tmp_path, "--origin", closed)
    remote.expect(commands=[
        Command("systemctl list-timers --all --no-pager cloudpypi-sync.timer",
                out=b"NEXT LEFT LAST PASSED UNIT ACTIVATES\nSun 20:15 10min Sun 20:00 5min cloudpypi-sync.timer x\n"),
        Command("systemctl show cloudpypi-sync.service --property=ActiveState,Result,ExecMainStatus,"
                "ExecMainExitTimestamp", out=b"ActiveState=inactive\nResult=success\nExecMainStatus=0\n"
                                             b"ExecMainExitTimestamp=Sun 2026-11-29 20:00:01 UTC\n"),
        Command(as_service("status", "--config", CONFIG), out=mirror.encode()),
        Command("df -h --output=target,size,used,avail,pcent /var/lib/cloudpypi /", err=b"df: error\n", exit=1),
        Command(as_service("report", "latest.json"), err=b"cat: No such file or directory\n", exit=1),
    ])
    fabfile.status(connection())
    out = capsys.readouterr().out
    for text in ("cloudpypi-sync.timer", "result success, exit status 0, ended Sun 2026-11-29 20:00:01 UTC",
                 "lag unknown (", "Disk\n  unavailable", "Last report\n  none yet"):
        assert text in out, f"expected {text!r} in:\n{out}"
    assert_shows_engine_status(out, mirror)


def test_status_survives_the_mirror_status_command_failing(remote, capsys) -> None:  # noqa: F811
    remote.expect(commands=[
        Command("systemctl list-timers --all --no-pager cloudpypi-sync.timer", out=b"0 timers listed.\n"),
        Command("systemctl show cloudpypi-sync.service --property=ActiveState,Result,ExecMainStatus,"
                "ExecMainExitTimestamp", out=b"ActiveState=inactive\n"),
        Command(as_service("status", "--config", CONFIG),
                err=b"cloudpypi status: error: cannot read s3://m/: AccessDenied\n", exit=1),
        Command("df -h --output=target,size,used,avail,pcent /var/lib/cloudpypi /", out=b"/ 10G 1G 9G 10%\n"),
        Command(as_service("report", "latest.json"), out=json.dumps(REPORT).encode()),
    ])
    fabfile.status(connection())
    out = capsys.readouterr().out
    assert "unavailable: The remote command failed with exit code 1: cloudpypi status: error: cannot read" in out, out
    assert "serial 5 -> 9" in out, f"the last report must still print:\n{out}"


def test_an_unreachable_host_is_one_sentence_with_what_to_do() -> None:
    with socket.socket() as sock:  # a loopback port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conn = Connection("127.0.0.1", user="admin", port=port, connect_timeout=5,
                      config=Config(overrides={"run": {"in_stream": False}}))
    server = devserver.Devserver(name="sandbox", host="127.0.0.1", port=port, inventory="inventory/sandbox")
    with pytest.raises(Exit) as caught:
        runner.remote(conn, server, "true")
    assert caught.value.code == 255
    message = str(caught.value.message)
    assert message.startswith(f"Cannot reach the dev server admin@127.0.0.1:{port}"), message
    assert "make sandbox-up" in message and "Traceback" not in message, message


# ------------------------------------------------------------------------------------ local tasks


def ok_context() -> MockContext:
    return MockContext(run=Result(exited=0), repeat=True)


def last_local_command(c: MockContext) -> str:
    command = c.run.call_args.args[0]
    prefix = f"cd {shlex.quote(str(ROOT))} && "
    assert command.startswith(prefix), f"local commands run from the repository root: {command!r}"
    return command[len(prefix):]


def test_deploy_check_is_a_dry_run_with_diff_on_the_chosen_inventory(monkeypatch) -> None:
    monkeypatch.setenv("CLOUDPYPI_INVENTORY", "inventory/sandbox")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "CLOUDPYPI_SANDBOX_MOTO_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    c = ok_context()
    fabfile.deploy(c, check=True, tags="sync_service")
    assert last_local_command(c) == ("ansible-playbook -i inventory/sandbox playbooks/site.yml "
                                     "--tags sync_service --check --diff")
    env = c.run.call_args.kwargs["env"]
    assert env["AWS_ACCESS_KEY_ID"] == "sandbox-dummy-access-key-id", "moto's dummy keys for the sandbox"
    assert "AWS_DEFAULT_REGION" not in env, "what the operator set is left alone"


def test_deploy_defaults_to_the_aws_inventory_and_fails_with_ansibles_code(monkeypatch) -> None:
    monkeypatch.delenv("CLOUDPYPI_INVENTORY", raising=False)
    c = MockContext(run=Result(exited=4), repeat=True)
    with pytest.raises(Exit) as caught:
        fabfile.deploy(c)
    assert last_local_command(c) == "ansible-playbook -i inventory/aws playbooks/site.yml"
    assert caught.value.code == 4


def test_deploy_accept_cost_and_refresh_forecast_reach_the_budget_gate_as_extra_vars(monkeypatch) -> None:
    monkeypatch.setenv("CLOUDPYPI_INVENTORY", "inventory/aws")
    c = ok_context()
    fabfile.deploy(c, accept_cost=True, refresh_forecast=True)
    assert last_local_command(c) == ("ansible-playbook -i inventory/aws playbooks/site.yml "
                                     "-e cloudpypi_accept_cost=true -e cloudpypi_forecast_refresh=true")


def test_teardown_without_yes_and_without_a_terminal_deletes_nothing(monkeypatch) -> None:
    monkeypatch.setenv("CLOUDPYPI_INVENTORY", "inventory/aws")
    monkeypatch.setattr(fabfile, "inventory_setting", lambda inventory, expression: "my-bucket")
    monkeypatch.setattr("builtins.input", lambda prompt: (_ for _ in ()).throw(EOFError()))
    c = ok_context()
    with pytest.raises(Exit) as caught:
        fabfile.teardown(c)
    assert caught.value.code == 1 and "nothing was deleted" in str(caught.value.message)
    assert not c.run.called, "no playbook runs without the confirmation"


@pytest.mark.parametrize(("answer", "runs"), [("my-bucket", True), ("yes", False)])
def test_teardown_asks_for_the_bucket_name_and_passes_it_as_the_confirmation(monkeypatch, answer, runs) -> None:
    monkeypatch.setenv("CLOUDPYPI_INVENTORY", "inventory/aws")
    monkeypatch.setattr(fabfile, "inventory_setting", lambda inventory, expression: "my-bucket")
    monkeypatch.setattr("builtins.input", lambda prompt: answer)
    c = ok_context()
    if runs:
        fabfile.teardown(c)
        assert last_local_command(c) == ("ansible-playbook -i inventory/aws playbooks/teardown.yml "
                                         "-e cloudpypi_teardown_confirm=my-bucket")
    else:
        with pytest.raises(Exit):
            fabfile.teardown(c)
        assert not c.run.called


def test_teardown_yes_skips_the_question(monkeypatch) -> None:
    monkeypatch.setenv("CLOUDPYPI_INVENTORY", "inventory/aws")
    monkeypatch.setattr(fabfile, "inventory_setting", lambda inventory, expression: "my-bucket")
    monkeypatch.setattr("builtins.input", lambda prompt: pytest.fail("--yes must not ask"))
    c = ok_context()
    fabfile.teardown(c, yes=True)
    assert last_local_command(c).endswith("playbooks/teardown.yml -e cloudpypi_teardown_confirm=my-bucket")


def test_a_missing_inventory_is_one_sentence(monkeypatch) -> None:
    monkeypatch.setenv("CLOUDPYPI_INVENTORY", "inventory/nowhere")
    with pytest.raises(Exit) as caught:
        fabfile.deploy(ok_context())
    assert str(caught.value.message).startswith("No Ansible inventory at inventory/nowhere: create it"), \
        caught.value.message
    assert caught.value.code == 2


def test_test_task_runs_the_testinfra_suite_against_the_inventorys_devserver(monkeypatch) -> None:
    if not (ROOT / "tests" / "sandbox").is_dir():
        pytest.skip("tests/sandbox (the sandbox engineer's testinfra suite) is not in this checkout yet")
    monkeypatch.setenv("CLOUDPYPI_INVENTORY", "inventory/sandbox")
    c = ok_context()
    fabfile.test(c)
    assert last_local_command(c) == f"{shlex.quote(sys.executable)} -m pytest -m sandbox tests/sandbox"
    assert c.run.call_args.kwargs["env"] == {"CLOUDPYPI_INVENTORY": "inventory/sandbox", "CLOUDPYPI_TEST_DEPLOY": "0"}


TEAM_YML = """\
---
# The people who log in to the dev server.  Keep this comment.
team_members:
  - name: alice
    comment: Alice (example)  # inline comment survives too
    sudo: true
    ssh_keys:
      - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0BEjDRYzX51k/BryhNjDeX5yW+OsHwl7KTNYS8lCRs alice@sandbox
"""
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtMMGtPyWHFIXCkDmDGy3UuXbac8bI1CgJidGfFEZgH carol@laptop"


@pytest.fixture
def inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    team = tmp_path / "inv" / "group_vars" / "devserver" / "team.yml"
    team.parent.mkdir(parents=True)
    team.write_text(TEAM_YML)
    monkeypatch.setenv("CLOUDPYPI_INVENTORY", str(tmp_path / "inv"))
    return team


def test_onboard_appends_the_member_keeping_comments_then_applies_only_the_team_playbook(
        inventory: Path, tmp_path: Path) -> None:
    key = tmp_path / "carol.pub"
    key.write_text(KEY + "\n")
    c = ok_context()
    fabfile.onboard(c, user="carol", key=str(key), sudo=True)
    text = inventory.read_text()
    assert text.startswith("---\n# The people who log in to the dev server.  Keep this comment.\n"), text
    assert "# inline comment survives too" in text, text
    import yaml

    members = yaml.safe_load(text)["team_members"]
    assert members[1] == {"name": "carol", "sudo": True, "ssh_keys": [KEY], "state": "present"}, members
    assert members[0]["name"] == "alice" and members[0]["sudo"] is True, "existing entries are untouched"
    assert KEY in text, "the key is written on one line, not folded"
    assert last_local_command(c) == f"ansible-playbook -i {tmp_path / 'inv'} playbooks/onboard.yml"


def test_onboard_into_an_empty_flow_list_writes_block_style(inventory: Path, tmp_path: Path) -> None:
    inventory.write_text("---\n# empty team\nteam_members: []\n")
    key = tmp_path / "carol.pub"
    key.write_text(KEY + "\n")
    fabfile.onboard(ok_context(), user="carol", key=str(key))
    text = inventory.read_text()
    assert "team_members:\n  - name: carol\n" in text, f"expected a block-style list:\n{text}"


def test_offboard_marks_the_member_absent_then_applies(inventory: Path) -> None:
    c = ok_context()
    fabfile.offboard(c, user="alice")
    import yaml

    (alice,) = yaml.safe_load(inventory.read_text())["team_members"]
    assert alice["state"] == "absent", alice
    assert last_local_command(c).endswith("playbooks/onboard.yml")
    with pytest.raises(Exit, match="nobody is not in the team list"):
        fabfile.offboard(ok_context(), user="nobody")


def test_onboard_refuses_a_private_key_and_a_bad_login_name_without_touching_the_list(
        inventory: Path, tmp_path: Path) -> None:
    private = tmp_path / "id_ed25519"
    private.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n")
    before = inventory.read_text()
    c = ok_context()
    with pytest.raises(Exit, match="is a private key"):
        fabfile.onboard(c, user="carol", key=str(private))
    with pytest.raises(Exit, match="not a valid login name"):
        fabfile.onboard(c, user="Carol; rm", key=str(private))
    assert inventory.read_text() == before and not c.run.called, "nothing may change on a refused onboard"


# ------------------------------------------------------------------------------- the inventory


def test_the_sandbox_inventory_resolves_to_its_ssh_settings_templated_by_ansible(monkeypatch) -> None:

    devserver.resolve_devserver.cache_clear()
    server = devserver.resolve_devserver("inventory/sandbox")
    port = int(os.environ.get("CLOUDPYPI_SANDBOX_SSH_PORT") or 2222)
    assert (server.host, server.port, server.user) == ("127.0.0.1", port, "admin"), server
    assert server.key.endswith("/sandbox/ssh/id_ed25519") and "{{" not in server.key, server.key
    assert server.config == CONFIG and server.runner == RUNNER, server
    assert server.budget_name == "cloudpypi-monthly", "the budget the instance role may read"


def test_adhoc_json_parsing_picks_each_hosts_message() -> None:
    text = json.dumps({"plays": [{"tasks": [{"hosts": {"dev": {"msg": {"host": "10.0.0.5", "port": 22}},
                                                        "other": {"msg": "not a dict"}}}]}]})
    assert devserver.parse_adhoc_json(text) == {"dev": {"host": "10.0.0.5", "port": 22}}
    stderr = ("[WARNING]: Failed to parse inventory with 'ansible_collections.amazon.aws.plugins.inventory.aws_ec2'"
              " plugin: Failed to describe instances: Unable to locate credentials\n")
    assert devserver.inventory_error(stderr) == "Failed to describe instances: Unable to locate credentials"


# ------------------------------------------------------------------------------------- fab itself

TASKS = ("closure", "costs", "deploy", "export", "invalidate", "logs", "offboard", "onboard", "publish", "report",
         "status", "sync", "teardown", "test", "token", "verify", "why", "fleet", "fleet-status")


def fab_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).parent / "fab"), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False, stdin=subprocess.DEVNULL)


def test_fab_list_shows_every_task_with_its_one_line_docstring() -> None:
    run = fab_cli("--list")
    assert run.returncode == 0, run.stderr
    listed = {line.split()[0]: line for line in run.stdout.splitlines()[2:] if line.startswith("  ") and
              line.split() and not line.startswith("    ")}
    assert set(listed) == set(TASKS), f"expected {TASKS}, got {sorted(listed)}"
    assert all(len(line.split(maxsplit=1)) == 2 for line in listed.values()), f"a task lacks a docstring: {listed}"


@pytest.mark.parametrize(("task", "flags"), [
    ("deploy", ("--tags", "--check", "--playbook", "--accept-cost", "--refresh-forecast")),
    ("closure", ("--egress-gb", "--json")),
    ("why", ("--name", "--compute")),
    ("teardown", ("--yes",)),
    ("sync", ("--origin", "--project", "--full", "--dry-run")),
    ("invalidate", ("--report", "--path", "--policy")),
    ("costs", ("--egress-gb", "--json")),
    ("report", ("--out", "--days", "--costs")),
    ("verify", ("--repair", "--origin", "--sample")),
    ("onboard", ("--user", "--key", "--sudo")),
    ("offboard", ("--user",)),
    ("logs", ("--since", "--follow")),
    ("export", ("--since", "--out")),
])
def test_fab_help_documents_each_flag(task: str, flags: tuple[str, ...]) -> None:
    run = fab_cli("--help", task)
    assert run.returncode == 0, run.stderr
    for flag in flags:
        line = next((ln for ln in run.stdout.splitlines() if flag in ln), "")
        assert line and len(line.split(flag, 1)[1].split()) > 1, \
            f"{flag} of fab {task} needs a help text:\n{run.stdout}"


def test_hostvars_fill_the_devserver_and_roles_defaults_fill_the_gaps() -> None:
    server = devserver.devserver_from_hostvars("dev", {"host": "10.0.0.5", "port": "2200", "user": "admin",
                                                     "key": "~/.ssh/k", "runner": "", "budget_name": ""}, "inv")
    assert (server.host, server.port, server.user) == ("10.0.0.5", 2200, "admin"), server
    assert server.key == str(Path("~/.ssh/k").expanduser()), "the key path is expanded"
    assert (server.runner, server.budget_name) == (RUNNER, "cloudpypi-monthly"), "empty values fall back to defaults"
    with pytest.raises(Exit, match="not a number"):
        devserver.devserver_from_hostvars("dev", {"port": "{{ oops }}"}, "inv")


def _status_commands(mirror: str) -> list:
    return [
        Command("systemctl list-timers --all --no-pager cloudpypi-sync.timer", out=b"0 timers listed.\n"),
        Command("systemctl show cloudpypi-sync.service --property=ActiveState,Result,ExecMainStatus,"
                "ExecMainExitTimestamp", out=b"ActiveState=activating\n"),
        Command(as_service("status", "--config", CONFIG), out=mirror.encode()),
        Command("df -h --output=target,size,used,avail,pcent /var/lib/cloudpypi /", out=b"/ 10G 1G 9G 10%\n"),
        Command(as_service("report", "latest.json"), out=json.dumps(REPORT).encode()),
    ]


def test_status_shows_a_running_sync_as_cloudpypi_status_words_it(remote, capsys, tmp_path) -> None:  # noqa: F811
    from cloudpypi import runrecord
    from cloudpypi.lock import TargetLock
    from cloudpypi.progress import Progress
    from cloudpypi.storage.folder import FolderStorage

    # A real progress record under a real lock, read by the real `cloudpypi status` while the lock is held.
    storage = FolderStorage(str(tmp_path))
    progress = Progress(enabled=False)
    progress.set_total(3)
    for files, size in ((2, 3 * 2**30), (1, 2**30), (0, 0)):
        progress.planned(files, size)
    progress.finish_walk(3)
    progress.file_done(2 * 2**30)
    snapshot = {**progress.snapshot(), "rate_bytes_per_second": 2**20 * 10.0, "eta_seconds": 204.8}
    with TargetLock(storage) as lock:
        runrecord.write(storage, runrecord.encode(snapshot, token=lock.token, pid=4321, seq=1))
        running = runrecord.running(storage)
        mirror = engine_status(tmp_path, "--offline")
    assert running is not None
    remote.expect(commands=_status_commands(mirror))
    fabfile.status(connection())
    out = capsys.readouterr().out
    assert running["summary"] in out, f"expected cloudpypi's own summary line in:\n{out}"
    for text in ("1 of 3 files", "2.0 GiB of 4.0 GiB", "10.0 MiB/s", "ETA 3m25s", f"pid {running['pid']}"):
        assert text in out, f"expected {text!r} in:\n{out}"
    assert_shows_engine_status(out, mirror)


def test_status_says_no_sync_is_running_when_running_is_null(remote, capsys, tmp_path) -> None:  # noqa: F811
    mirror = engine_status(tmp_path, "--offline")
    remote.expect(commands=_status_commands(mirror))
    fabfile.status(connection())
    out = capsys.readouterr().out
    assert "Mirror\n" in out and "no sync in flight" in out, out
    assert_shows_engine_status(out, mirror)


# ----------------------------------------------------------------------------------------------- export


def test_export_streams_the_bundle_into_a_file_on_disk_fetches_it_and_removes_it(
    remote_with_sftp, capsys  # noqa: F811
) -> None:
    staged = "/var/tmp/cloudpypi-bundle.Ab12Cd34"
    remote_with_sftp.expect(commands=[
        Command("mktemp -p /var/tmp cloudpypi-bundle.XXXXXXXX", out=f"{staged}\n".encode()),
        # --out -: the runner is handed no path; the bundle goes to stdout, redirected by the admin's shell
        Command(as_service("export", "--config", CONFIG, "--since", "42", "--out", "-") + f" > {staged}"),
        Command(f"rm -f {staged}"),
    ])
    fabfile.export(connection(), since="42", out="site-b.tar")
    remote_with_sftp.sessions[0].sftp.get.assert_called_once()
    assert remote_with_sftp.sessions[0].sftp.get.call_args.kwargs["remotepath"] == staged
    assert "bundle saved to site-b.tar" in capsys.readouterr().out


def test_export_refused_by_the_engine_fails_with_its_message_and_still_removes_the_file(
    remote_with_sftp  # noqa: F811
) -> None:
    staged = "/var/tmp/cloudpypi-bundle.Ab12Cd34"
    remote_with_sftp.expect(commands=[
        Command("mktemp -p /var/tmp cloudpypi-bundle.XXXXXXXX", out=f"{staged}\n".encode()),
        Command(as_service("export", "--config", CONFIG, "--since", "99", "--out", "-") + f" > {staged}",
                err=b"cloudpypi export: error: --since 99 is ahead of the mirror, which is at serial 42\n", exit=2),
        Command(f"rm -f {staged}"),
    ])
    with pytest.raises(Exit) as caught:
        fabfile.export(connection(), since="99")
    assert caught.value.code == 2 and "ahead of the mirror" in str(caught.value.message)
    remote_with_sftp.sessions[0].sftp.get.assert_not_called()


def test_export_rejects_a_since_that_is_not_a_serial_before_connecting() -> None:
    with pytest.raises(Exit, match="must be 0"):
        fabfile.export(connection(), since="yesterday")


def test_the_report_summary_lists_files_skipped_over_the_size_cap_apart_from_failures() -> None:
    report = {**REPORT, "skipped": [{"project": "torch", "filename": "torch-2.5-cp312-cp312-linux_x86_64.whl",
                                     "size": 900_000_000, "reason": "over max_file_size"}]}
    lines = present.report_lines(report)
    assert any("torch-2.5-cp312" in line and "858.3 MiB" in line for line in lines), lines
    assert not any("FAILED" in line for line in lines), lines
