"""testinfra checks of the dev server, over SSH.

Runs against the sandbox by default, or against the real dev server with
CLOUDPYPI_INVENTORY=inventory/aws (that is what `fab test` does); sandbox_only tests skip there.
"""

from __future__ import annotations

import re
import subprocess

import pytest

pytestmark = pytest.mark.sandbox

SERVICE = "cloudpypi-sync.service"
TIMER = "cloudpypi-sync.timer"


def sshd_settings(host) -> dict[str, str]:
    with host.sudo():
        out = host.check_output("/usr/sbin/sshd -T")
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def unit_properties(host, unit: str, *names: str) -> dict[str, str]:
    out = host.check_output(f"systemctl show {unit} --property={','.join(names)}")
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


# --- sshd --------------------------------------------------------------------------------------------


def test_sshd_effective_settings_allow_keys_only_and_no_root(host):
    settings = sshd_settings(host)
    expected = {"passwordauthentication": "no", "kbdinteractiveauthentication": "no", "permitrootlogin": "no",
                "pubkeyauthentication": "yes", "permitemptypasswords": "no", "authenticationmethods": "publickey"}
    got = {key: settings.get(key) for key in expected}
    assert got == expected, f"expected sshd -T to show {expected}, got {got}"


def test_sshd_refuses_password_logins(ssh_target):
    proc = subprocess.run([*ssh_target.ssh_args(), "-o", "PreferredAuthentications=password,keyboard-interactive",
                           "-o", "PubkeyAuthentication=no", "true"], capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 255, f"expected the login to be refused (ssh exit 255), got {proc.returncode}"
    methods = re.search(r"Permission denied \(([^)]*)\)", proc.stderr)
    assert methods and methods.group(1) == "publickey", (
        f"expected the server to offer only publickey, got: {proc.stderr.strip()!r}")


def test_sshd_refuses_root_even_with_the_admin_key(ssh_target):
    proc = subprocess.run([*ssh_target.ssh_args(user="root"), "true"], capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 255 and "Permission denied" in proc.stderr, (
        f"expected root's login to be denied, got exit {proc.returncode}: {proc.stderr.strip()!r}")


def test_sshd_config_drop_in_is_root_owned_and_sshd_is_running(host):
    dropin = host.file("/etc/ssh/sshd_config.d/10-cloudpypi-hardening.conf")
    assert dropin.exists and dropin.user == "root" and dropin.mode == 0o644, (
        f"expected the hardening drop-in root-owned 0644, got exists={dropin.exists}")
    assert host.service("ssh").is_running, "expected ssh.service to be running"


# --- base --------------------------------------------------------------------------------------------


def test_unattended_upgrades_installed_and_scheduled(host):
    assert host.package("unattended-upgrades").is_installed, "expected unattended-upgrades installed"
    periodic = host.file("/etc/apt/apt.conf.d/20auto-upgrades").content_string
    assert 'APT::Periodic::Unattended-Upgrade "1";' in periodic, f"expected upgrades on, got {periodic!r}"
    props = unit_properties(host, "apt-daily-upgrade.timer", "ActiveState", "UnitFileState")
    assert props == {"ActiveState": "active", "UnitFileState": "enabled"}, (
        f"expected apt-daily-upgrade.timer enabled and active, got {props}")


def test_journald_is_limited(host):
    conf = host.file("/etc/systemd/journald.conf.d/50-cloudpypi.conf").content_string
    assert re.search(r"^SystemMaxUse=\S+", conf, re.M) and re.search(r"^MaxRetentionSec=\S+", conf, re.M), (
        f"expected SystemMaxUse and MaxRetentionSec in the journald drop-in, got {conf!r}")


def test_timesyncd_enabled_and_running_unless_in_a_container(host):
    assert host.service("systemd-timesyncd").is_enabled, "expected systemd-timesyncd enabled"
    container = host.run("systemd-detect-virt --container")
    if container.rc != 0:  # a VM or metal: it must run
        assert host.service("systemd-timesyncd").is_running, "expected systemd-timesyncd running"


# --- team ----------------------------------------------------------------------------------------------


def present(members: list[dict]) -> list[dict]:
    return [m for m in members if m.get("state", "present") == "present"]


def test_listed_members_exist_with_exactly_their_keys(host, team_members):
    if not present(team_members):
        pytest.skip("the inventory lists no team members")
    for member in present(team_members):
        user = host.user(member["name"])
        assert user.exists and "cloudpypi-team" in user.groups, (
            f"expected {member['name']} to exist in cloudpypi-team, got exists={user.exists} groups={user.groups}")
        with host.sudo():
            keys = host.file(f"{user.home}/.ssh/authorized_keys")
            lines = [line for line in keys.content_string.splitlines() if line.strip()]
            assert (keys.user, keys.mode) == (member["name"], 0o600), (
                f"expected {member['name']}'s authorized_keys owned by them, 0600, got {keys.user} {oct(keys.mode)}")
        expected = sorted(k.strip() for k in member["ssh_keys"])
        assert sorted(lines) == expected, f"expected exactly {member['name']}'s listed keys, got {lines}"


def test_sudo_only_for_members_marked_sudo(host, team_members):
    if not present(team_members):
        pytest.skip("the inventory lists no team members")
    for member in present(team_members):
        with host.sudo():
            rules = host.run(f"sudo -l -U {member['name']}").stdout
        wants = bool(member.get("sudo", False))
        assert ("NOPASSWD: ALL" in rules) == wants, (
            f"expected {member['name']} {'with' if wants else 'without'} full sudo, got {rules!r}")
        assert ("cloudpypi-sudo" in host.user(member["name"]).groups) == wants, (
            f"expected {member['name']} {'in' if wants else 'not in'} cloudpypi-sudo")


def test_no_managed_account_outside_the_list(host, team_members):
    listed = {m["name"] for m in present(team_members)}
    group = host.run("getent group cloudpypi-team")
    members = set(filter(None, group.stdout.strip().split(":")[-1].split(","))) if group.rc == 0 else set()
    assert members <= listed, f"expected cloudpypi-team to hold only listed members {listed}, got {members}"


def test_motd_names_the_commands_to_run(host):
    motd = host.file("/etc/motd").content_string
    for command in ("fab sync", "fab status", "cloudpypi status"):
        assert command in motd, f"expected the welcome to name {command!r}, got {motd!r}"


# --- sync service --------------------------------------------------------------------------------------


def test_service_user_is_an_unprivileged_system_account(host):
    user = host.user("cloudpypi")
    assert user.exists and user.uid < 1000 and user.shell == "/usr/sbin/nologin", (
        f"expected a system user with nologin, got uid={user.uid} shell={user.shell}")
    assert set(user.groups) == {"cloudpypi"}, f"expected cloudpypi only in its own group, got {user.groups}"


def test_venv_holds_the_cli_and_reports_its_version(host):
    out = host.check_output("/opt/cloudpypi/venv/bin/cloudpypi --version")
    assert re.fullmatch(r"cloudpypi \d+\.\d+\S*", out.strip()), f"expected 'cloudpypi <version>', got {out!r}"
    assert host.check_output("cloudpypi --version") == out, "expected cloudpypi on PATH to be the venv's"


def test_every_member_may_run_the_runner_as_the_service_user_but_not_a_shell(host, team_members):
    runner = host.file("/opt/cloudpypi/bin/cloudpypi-service")
    assert (runner.user, runner.mode) == ("root", 0o755), f"expected root 0755, got {runner.user} {oct(runner.mode)}"
    plain = [m["name"] for m in present(team_members) if not m.get("sudo", False)]
    if not plain:
        pytest.skip("the inventory lists no member without full sudo")
    for name in plain:
        with host.sudo():
            allowed = host.run(f"sudo -u {name} sudo -n -u cloudpypi /opt/cloudpypi/bin/cloudpypi-service --version")
            shell = host.run(f"sudo -u {name} sudo -n -u cloudpypi /bin/sh -c id")
        assert allowed.rc == 0 and allowed.stdout.startswith("cloudpypi "), (
            f"expected {name} to run the runner as cloudpypi (what fab sync does), got {allowed.rc}: {allowed.stderr}")
        assert shell.rc != 0, f"expected {name} refused a shell as cloudpypi, got {shell.stdout!r}"


def test_config_files_are_0640_root_with_the_service_group(host):
    for path in ("/etc/cloudpypi/mirror.toml", "/etc/cloudpypi/cloudpypi.env"):
        with host.sudo():
            config = host.file(path)
            assert (config.user, config.group, config.mode) == ("root", "cloudpypi", 0o640), (
                f"expected {path} root:cloudpypi 0640, got {config.user}:{config.group} {oct(config.mode)}")
    readable = host.run("cat /etc/cloudpypi/mirror.toml")
    assert readable.rc != 0, "expected the admin user (not in the cloudpypi group) unable to read mirror.toml"


def test_config_parses_with_the_package_and_names_the_target(host):
    with host.sudo("cloudpypi"):
        out = host.check_output(
            "/opt/cloudpypi/venv/bin/python -c 'import cloudpypi.config as c; "
            "print(c.load_config(\"/etc/cloudpypi/mirror.toml\").target)'")
    assert out.startswith("s3://"), f"expected an s3:// target in mirror.toml, got {out!r}"


def test_timer_enabled_and_active(host):
    props = unit_properties(host, TIMER, "ActiveState", "UnitFileState")
    assert props == {"ActiveState": "active", "UnitFileState": "enabled"}, f"expected {TIMER} enabled+active: {props}"
    listed = host.check_output(f"systemctl list-timers --all --no-legend {TIMER}")
    assert SERVICE in listed, f"expected list-timers to show {SERVICE}, got {listed!r}"


def test_service_unit_is_hardened(host):
    props = unit_properties(host, SERVICE, "Type", "User", "NoNewPrivileges", "ProtectSystem", "ProtectHome",
                            "PrivateTmp", "ReadWritePaths", "ExecStart", "CapabilityBoundingSet")
    expected = {"Type": "oneshot", "User": "cloudpypi", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
                "ProtectHome": "yes", "PrivateTmp": "yes"}
    got = {key: props.get(key) for key in expected}
    assert got == expected, f"expected {expected}, got {got}"
    writable = set(props.get("ReadWritePaths", "").split())
    assert writable <= {"/var/lib/cloudpypi", "/var/cache/cloudpypi"} and "/var/lib/cloudpypi" in writable, (
        f"expected ReadWritePaths only the state and cache dirs, got {writable}")
    assert props.get("CapabilityBoundingSet", "x") == "", (
        f"expected an empty capability bounding set, got {props.get('CapabilityBoundingSet')!r}")
    assert "sync --config /etc/cloudpypi/mirror.toml --report-dir /var/lib/cloudpypi/reports" in props["ExecStart"], (
        f"expected the service to run cloudpypi sync with the config and report dir, got {props['ExecStart']!r}")


def test_service_logs_to_the_journal(host):
    props = unit_properties(host, SERVICE, "StandardOutput", "StandardError")
    assert props == {"StandardOutput": "journal", "StandardError": "journal"}, f"expected journal output: {props}"
