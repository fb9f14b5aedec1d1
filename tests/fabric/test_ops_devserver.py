"""cloudpypi.ops.devserver: the dev server resolved from an inventory by Ansible itself (a real `ansible`
run over a throwaway inventory; it connects to nothing), and the connection a task gets."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from invoke import Exit, MockContext

from fabric import Config, Connection

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "scripts"))

from cloudpypi.ops import devserver, hostdefaults  # noqa: E402


def inventory(tmp_path: Path, hostvars: str, group_vars: str = "") -> str:
    base = tmp_path / "inv"
    (base / "group_vars").mkdir(parents=True)
    (base / "hosts.yml").write_text("---\nall:\n  children:\n    devserver:\n      hosts:\n        dev1:\n"
                                    + "".join(f"          {line}\n" for line in hostvars.splitlines()))
    (base / "group_vars" / "all.yml").write_text("---\n" + group_vars)
    devserver.resolve_devserver.cache_clear()
    return str(base)


def test_an_inventory_that_moves_the_service_moves_where_fab_runs_it(tmp_path: Path) -> None:
    path = inventory(tmp_path, "ansible_host: 10.0.0.5\nansible_port: 2200\nansible_user: admin\n"
                               "ansible_ssh_private_key_file: ~/.ssh/dev\ndevserver_instance_type: t3.large",
                     "cloudpypi_service_runner: /srv/cloudpypi/bin/cloudpypi-service\nsync_service_state_dir: /data\n"
                     "cloudpypi_budget_name: team-budget\n")
    server = devserver.resolve_devserver(path)
    assert (server.name, server.host, server.port, server.user) == ("dev1", "10.0.0.5", 2200, "admin"), server
    assert server.key == str(Path("~/.ssh/dev").expanduser()) and server.instance_type == "t3.large", server
    assert server.runner == "/srv/cloudpypi/bin/cloudpypi-service", "the runner is where the inventory says"
    assert server.report_dir == "/data/reports", "the report directory follows sync_service_state_dir"
    assert (server.budget_name, server.service_user, server.config) == (
        "team-budget", "cloudpypi", "/etc/cloudpypi/mirror.toml"), server


def test_an_inventory_that_sets_nothing_gets_the_roles_defaults(tmp_path: Path) -> None:
    server = devserver.resolve_devserver(inventory(tmp_path, "ansible_host: 10.0.0.6"))
    settings = hostdefaults.default_settings()
    assert (server.runner, server.report_dir, server.budget_name, server.port) == (
        settings["runner"], settings["report_dir"], settings["budget_name"], 22), server


def test_an_inventory_with_no_devserver_host_is_one_sentence(tmp_path: Path) -> None:
    base = tmp_path / "empty"
    base.mkdir()
    (base / "hosts.yml").write_text("---\nall:\n  children:\n    devserver:\n      hosts: {}\n")
    devserver.resolve_devserver.cache_clear()
    with pytest.raises(Exit) as caught:
        devserver.resolve_devserver(str(base))
    assert caught.value.code == 2
    assert str(caught.value.message).startswith(f"No dev server found in {base} (group 'devserver' is empty)")


def test_the_adhoc_message_is_one_jinja_expression_asking_for_each_variable() -> None:
    msg = devserver.adhoc_message(["sync_service_runner", "cloudpypi_budget_name"])
    assert msg.startswith("{{ {") and msg.endswith("} }}") and msg.count("}}") == 1, msg
    assert "'sync_service_runner': sync_service_runner | default(none)" in msg, msg


def test_fab_h_targets_that_host_with_the_roles_defaults() -> None:
    conn = Connection("203.0.113.9", user="admin", port=2201, config=Config(overrides={"run": {"in_stream": False}}))
    got, server = devserver.target(conn)
    assert got is conn and (server.host, server.port, server.user) == ("203.0.113.9", 2201, "admin"), server
    assert server.runner == hostdefaults.default_settings()["runner"], server


def test_a_context_targets_the_inventorys_host_with_its_key(monkeypatch: pytest.MonkeyPatch) -> None:
    server = devserver.Devserver(name="dev1", host="10.0.0.5", port=2200, user="admin", key="/k/id")
    monkeypatch.setattr(devserver, "resolve_devserver", lambda inventory: server)
    conn, got = devserver.target(MockContext())
    assert got is server
    assert (conn.host, conn.port, conn.user) == ("10.0.0.5", 2200, "admin"), conn
    assert conn.connect_kwargs["key_filename"] == ["/k/id"], conn.connect_kwargs


def test_ansible_env_gives_the_sandbox_dummy_keys_and_leaves_the_operators_alone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "CLOUDPYPI_SANDBOX_MOTO_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert devserver.ansible_env("inventory/aws") == {}
    env = devserver.ansible_env("inventory/sandbox")
    assert env["AWS_ACCESS_KEY_ID"] == "sandbox-dummy-access-key-id" and "AWS_DEFAULT_REGION" not in env, env
