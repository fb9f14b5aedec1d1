"""The dev server's lockdown, checked on the host over SSH: the metadata-service rules installed and enabled,
the runner refusing hostile arguments from a member without sudo (and writing nothing), sudo logged to
the journal, and the service's state and reports closed to other accounts.

The rules themselves are proven in a network namespace of the test's own (test_imds_netns.py): the
sandbox host shares this machine's network namespace, so they are never loaded into it.
"""

from __future__ import annotations

import shlex
import uuid

import pytest

pytestmark = pytest.mark.sandbox

RUNNER = "/opt/cloudpypi/bin/cloudpypi-service"
RULES = "/etc/nftables.d/cloudpypi-imds.nft"
# Where a refused run could have left something.  (/run and the journal are written by sudo itself, and
# systemd makes /tmp/systemd-private-* for services that start meanwhile.)
WATCHED = ("/tmp", "/var/tmp", "/dev/shm", "/var/lib/cloudpypi", "/var/cache/cloudpypi", "/etc", "/opt", "/home",
           "/root", "/srv")
SERVICE_DIRS = ("/var/lib/cloudpypi", "/var/cache/cloudpypi")
HOSTILE = [
    ["sync", "--target", "/tmp/pwned-target"],
    ["sync", "--target=s3://attacker-bucket"],
    ["sync", "--tar", "/tmp/pwned-target"],
    ["sync", "--config", "/tmp/pwned.toml"],
    ["sync", "--origin", "http://127.0.0.1:9/"],
    ["sync", "--report", "/tmp/pwned-report.json"],
    ["sync", "--report-dir", "/tmp/pwned-reports"],
    ["sync", "--workers", "512"],
    ["sync", "--project", "x; touch /tmp/pwned-shell"],
    ["verify", "--origin", "http://127.0.0.1:9/"],
    ["verify", "--target", "/tmp/pwned-target", "--repair"],
    ["status", "--target", "/tmp/pwned-target"],
    ["invalidate", "--report", "/etc/shadow"],
    ["invalidate", "--distribution", "EATTACKER"],
    ["costs", "--prices", "/etc/shadow"],
    ["report", "../../../etc/shadow"],
    ["serve", "--target", "/tmp", "--port", "8099"],
    ["closure", "--target", "/tmp/pwned-target"],
    ["--config", "/tmp/pwned.toml", "status"],
]


def plain_members(team_members: list[dict]) -> list[str]:
    return [m["name"] for m in team_members if m.get("state", "present") == "present" and not m.get("sudo")]


def sudo_members(team_members: list[dict]) -> list[str]:
    return [m["name"] for m in team_members if m.get("state", "present") == "present" and m.get("sudo")]


# --- the metadata service -----------------------------------------------------------------------------


def test_the_metadata_rules_are_installed_for_root_and_the_service_user_and_nftables_is_enabled(host):
    assert host.package("nftables").is_installed, "expected nftables installed"
    rules = host.file(RULES)
    assert rules.exists and (rules.user, rules.group, rules.mode) == ("root", "root", 0o644), (
        f"expected {RULES} root:root 0644, got exists={rules.exists}")
    text = rules.content_string
    assert 'ip daddr 169.254.169.254 meta skuid { "root", "cloudpypi" } accept' in text, text
    assert "ip daddr 169.254.169.254 counter reject" in text, f"expected everyone else rejected:\n{text}"
    assert f'include "{RULES}"' in host.file("/etc/nftables.conf").content_string, (
        "expected /etc/nftables.conf (loaded at boot) to include the rules")
    enabled = host.run("systemctl is-enabled nftables.service").stdout.strip()
    assert enabled == "enabled", f"expected nftables.service enabled (rules after a reboot), got {enabled!r}"


def test_the_rules_are_not_loaded_into_the_sandbox_which_shares_this_machines_network(sandbox_only, host):
    active = host.run("systemctl is-active nftables.service").stdout.strip()
    assert active != "active", f"expected nftables.service not started in the sandbox, got {active!r}"


# --- the runner ---------------------------------------------------------------------------------------


def service_invocation(host) -> str:
    """The sync service's current or last run (a new id each run), and whether it is running now."""
    return host.check_output("systemctl show cloudpypi-sync.service --property=InvocationID,ActiveState")


def test_the_runner_refuses_hostile_arguments_from_a_member_without_sudo_and_writes_nothing(host, team_members):
    members = plain_members(team_members)
    if not members:
        pytest.skip("the inventory lists no member without full sudo")
    name = members[0]
    marker = f"/var/tmp/.cloudpypi-lockdown-{uuid.uuid4().hex}"
    with host.sudo():
        before = service_invocation(host)
        host.check_output(f"touch {marker}")  # anything modified after this is a new write
        results = {}
        for args in HOSTILE:
            command = shlex.join(["sudo", "-n", "-u", "cloudpypi", RUNNER, *args])
            results[" ".join(args)] = host.run(f"sudo -u {name} {command}")
        # The timer's own run may write the service's directories meanwhile; then only they are left out.
        timer_ran = service_invocation(host) != before or "ActiveState=activ" in before  # active, activating
        watched = [p for p in WATCHED if not (timer_ran and p in SERVICE_DIRS)]
        new = host.run(f"find {' '.join(watched)} -xdev -newer {marker} ! -path {marker} "
                       "! -path '/tmp/systemd-private-*' ! -path '/var/tmp/systemd-private-*' 2>/dev/null").stdout
        named = host.run("ls -d /tmp/pwned* 2>/dev/null").stdout
        host.run(f"rm -f {marker}")
    for args, result in results.items():
        assert result.rc == 77, f"expected `{args}` refused by the runner (exit 77), got {result.rc}: {result.stderr}"
        assert "cloudpypi-service: refused:" in result.stderr, f"expected a clear refusal for `{args}`: {result.stderr}"
        assert result.stdout == "", f"expected the engine never started for `{args}`, got {result.stdout!r}"
    assert named.strip() == "", f"expected none of the paths the hostile arguments named, found:\n{named}"
    assert new.strip() == "", f"expected nothing written anywhere by refused runs, found:\n{new}"


def test_a_member_without_sudo_runs_the_service_operations_through_the_runner(host, team_members):
    members = plain_members(team_members)
    if not members:
        pytest.skip("the inventory lists no member without full sudo")
    with host.sudo():
        status = host.run(f"sudo -u {members[0]} sudo -n -u cloudpypi {RUNNER} status --offline --json")
        direct = host.run(f"sudo -u {members[0]} sudo -n -u cloudpypi /opt/cloudpypi/venv/bin/cloudpypi --version")
    assert status.rc in (0, 1) and "refused" not in status.stderr, (
        f"expected `status` to run as the service, got {status.rc}: {status.stderr}")
    assert direct.rc != 0, "expected the engine itself (not the runner) refused to a member without sudo"


# --- sudo's journal -----------------------------------------------------------------------------------


def journal_lines(host, since: str) -> str:
    with host.sudo():
        return host.check_output(f"journalctl -t sudo --no-pager -o cat --since {shlex.quote(since)}")


def test_sudo_command_lines_go_to_the_journal_with_the_commands_started_inside(host, team_members):
    admins = sudo_members(team_members)
    if not admins:
        pytest.skip("the inventory lists no member with full sudo")
    mark = uuid.uuid4().hex[:12]
    with host.sudo():
        since = host.check_output("date '+%Y-%m-%d %H:%M:%S'")
        host.run(f"sudo -u {admins[0]} sudo -n /usr/bin/test -n direct-{mark}")
        host.run(f"sudo -u {admins[0]} sudo -n /bin/sh -c '/usr/bin/test -n inner-{mark}'")
    lines = journal_lines(host, since)
    direct = [line for line in lines.splitlines() if f"direct-{mark}" in line]
    assert direct and admins[0] in direct[0] and "USER=root" in direct[0] and "COMMAND=" in direct[0], (
        f"expected the journal to name {admins[0]}, the target user and the command line, got {direct}")
    inner = [line for line in lines.splitlines() if f"COMMAND=/usr/bin/test -n inner-{mark}" in line]
    assert inner, f"expected the command started inside `sudo sh -c` logged too (log_subcmds), got:\n{lines}"


def test_a_refused_sudo_is_logged(host, team_members):
    members = plain_members(team_members)
    if not members:
        pytest.skip("the inventory lists no member without full sudo")
    mark = uuid.uuid4().hex[:12]
    with host.sudo():
        since = host.check_output("date '+%Y-%m-%d %H:%M:%S'")
        refused = host.run(f"sudo -u {members[0]} sudo -n /usr/bin/test -n refused-{mark}")
    assert refused.rc != 0, "expected sudo refused for a member without sudo"
    logged = [line for line in journal_lines(host, since).splitlines() if f"refused-{mark}" in line]
    assert logged and members[0] in logged[0], f"expected the refused attempt in the journal, got {logged}"


def test_sudoers_defaults_log_every_command(host):
    with host.sudo():
        rules = host.file("/etc/sudoers.d/cloudpypi-team").content_string
    assert "Defaults syslog=authpriv, log_allowed, log_denied" in rules, rules
    assert "log_subcmds" in rules, rules


# --- file modes ---------------------------------------------------------------------------------------


def test_the_service_state_and_reports_are_not_world_readable(host, team_members):
    with host.sudo():
        for path in ("/var/lib/cloudpypi", "/var/lib/cloudpypi/reports", "/var/cache/cloudpypi"):
            folder = host.file(path)
            assert (folder.user, folder.group, folder.mode) == ("cloudpypi", "cloudpypi", 0o750), (
                f"expected {path} cloudpypi:cloudpypi 0750, got {folder.user}:{folder.group} {oct(folder.mode)}")
        exposed = host.run("find /var/lib/cloudpypi /var/cache/cloudpypi -perm /o=rwx").stdout
    assert exposed.strip() == "", f"expected nothing there open to other accounts, found:\n{exposed}"
    props = dict(line.split("=", 1) for line in host.check_output(
        "systemctl show cloudpypi-sync.service --property=UMask,StateDirectoryMode").splitlines())
    assert props == {"UMask": "0027", "StateDirectoryMode": "0750"}, f"expected the unit to agree: {props}"
    for name in plain_members(team_members)[:1]:
        with host.sudo():
            listing = host.run(f"sudo -u {name} ls /var/lib/cloudpypi/reports")
        assert listing.rc != 0, f"expected {name} unable to list the reports directly, got {listing.stdout!r}"
