"""Which dev server the tasks talk to, and how to reach it.

The host comes from the Ansible inventory (the one source of truth): ``inventory/aws`` by default,
``CLOUDPYPI_INVENTORY=inventory/sandbox`` for the local sandbox; ``fab -H user@host:port`` overrides it.
The inventory's values are templated by Ansible itself (``ansible -m debug``, which connects to nothing);
where the service lives on the host comes from the roles' defaults (``hostdefaults``), with what the
inventory sets winning, as it does when the roles run.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from invoke import Context, Exit

from cloudpypi.ops import hostdefaults
from cloudpypi.ops.codes import EXIT_SETUP
from fabric import Connection

REPO_ROOT = Path(__file__).resolve().parents[3]  # where fabfile.py, ansible.cfg and inventory/ are
DEFAULT_INVENTORY = "inventory/aws"
HOST_GROUP = "devserver"

# How to reach the host (Ansible's connection variables) and what the inventory says of the instance
# (the devserver_instance role's variables, passed to `cloudpypi costs`); empty when not set.
_CONNECTION = {
    "host": "ansible_host | default(inventory_hostname)",
    "port": "ansible_port | default(22)",
    "user": "ansible_user | default('')",
    "key": "ansible_ssh_private_key_file | default('')",
    "instance_type": "devserver_instance_type | default('')",
    "volume_gb": "devserver_instance_root_volume_gb | default('')",
}


def _setting(name: str) -> Any:
    return field(default_factory=lambda: hostdefaults.default_settings()[name])


@dataclass(frozen=True)
class Devserver:
    """Where the dev server is and where the service lives on it (unset: the roles' defaults)."""

    name: str
    host: str
    port: int = 22
    user: str = ""
    key: str = ""
    service_user: str = _setting("service_user")
    runner: str = _setting("runner")
    config_dir: str = _setting("config_dir")
    report_dir: str = _setting("report_dir")
    instance_type: str = ""
    volume_gb: str = ""
    budget_name: str = _setting("budget_name")
    inventory: str = ""

    @property
    def config(self) -> str:
        return f"{self.config_dir}/mirror.toml"

    @property
    def sandbox(self) -> bool:
        return "sandbox" in self.inventory

    def service_command(self, *args: str) -> str:
        """``cloudpypi ARGS`` as the service user, with the service's environment file loaded, the way
        cloudpypi-sync.service runs it: through the sync_service role's runner, which team members
        without full sudo may run too."""
        return shlex.join(["sudo", "-n", "-u", self.service_user, self.runner, *args])


def inventory_path() -> str:
    return os.environ.get("CLOUDPYPI_INVENTORY") or DEFAULT_INVENTORY


def require_inventory(inventory: str) -> None:
    if not (REPO_ROOT / inventory).exists():
        raise Exit(
            f"No Ansible inventory at {inventory}: create it (docs/operators-guide.md), or set "
            "CLOUDPYPI_INVENTORY=inventory/sandbox to use the local sandbox.",
            code=EXIT_SETUP,
        )


def unreachable_hint(inventory: str) -> str:
    if "sandbox" in inventory:
        return "Is the sandbox up? Run `make sandbox-up` (and `fab deploy` once) and try again."
    return ("Is the instance running (`fab deploy` launches it), does its security group allow your address "
            "(admin CIDRs in group_vars), and is your key in ssh-agent or ansible_ssh_private_key_file?")


def parse_adhoc_json(text: str) -> dict[str, dict[str, Any]]:
    """Host -> debug ``msg`` from the output of ``ansible -m debug`` under the json callback."""
    data = json.loads(text)
    results: dict[str, dict[str, Any]] = {}
    for play in data.get("plays", []):
        for task_ in play.get("tasks", []):
            for host, result in task_.get("hosts", {}).items():
                if isinstance(result.get("msg"), dict):
                    results[host] = result["msg"]
    return results


def inventory_error(stderr: str) -> str:
    """The reason Ansible gives for not reading an inventory (the first plugin failure), if any."""
    match = re.search(r"Failed to parse inventory with '[^']*' plugin: (.+)", stderr)
    if match:
        return match.group(1).strip()
    errors = [line.strip() for line in stderr.splitlines() if line.startswith("ERROR")]
    return errors[0] if errors else ""


def adhoc_message(variables: list[str]) -> str:
    """The debug ``msg`` that makes Ansible print the connection values and the inventory's own value (or
    null) of each service variable, under ``vars``."""
    connection = ", ".join(f"'{k}': {expr}" for k, expr in _CONNECTION.items())
    service = ", ".join(f"'{name}': {name} | default(none)" for name in variables)
    return "{{ {" + connection + ", 'vars': {" + service + "} } }}"  # `} }`: `}}` would end the expression


def devserver_from_hostvars(name: str, values: dict[str, Any], inventory: str) -> Devserver:
    """A Devserver from the values of one host: the connection keys of ``_CONNECTION`` and the Devserver's
    service fields (empty or missing: the roles' defaults)."""
    port = str(values.get("port") or 22)
    if not port.isdigit():
        raise Exit(f"The inventory gives {name} the SSH port {port!r}, which is not a number.",
                   code=EXIT_SETUP)
    text = {k: str(values.get(k) or "") for k in (*_CONNECTION, *hostdefaults.SETTINGS) if k != "port"}
    service = {k: text[k] or default for k, default in hostdefaults.default_settings().items()}
    return Devserver(
        name=name,
        host=text["host"] or name,
        port=int(port),
        user=text["user"],
        key=os.path.expanduser(text["key"]) if text["key"] else "",
        instance_type=text["instance_type"],
        volume_gb=text["volume_gb"],
        inventory=inventory,
        **service,
    )


def _ansible_debug(inventory: str, group: str, msg: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    cmd = ["ansible", group, "-i", str(REPO_ROOT / inventory), "-m", "ansible.builtin.debug", "-a", f"msg={msg}"]
    try:
        return subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
                              check=False)
    except FileNotFoundError:
        raise Exit("`ansible` is not on PATH: run `make venv` and use its bin/ (or `make` targets).",
                   code=EXIT_SETUP) from None
    except subprocess.TimeoutExpired:
        raise Exit(f"Reading the inventory {inventory} took over 120 s; check its AWS credentials and "
                   "region.", code=EXIT_SETUP) from None


def _hosts(proc: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    try:
        return parse_adhoc_json(proc.stdout) if proc.stdout.strip() else {}
    except ValueError:
        return {}


@lru_cache(maxsize=4)
def resolve_devserver(inventory: str) -> Devserver:
    """The dev server of an inventory, its variables templated by Ansible itself.  Exits with one sentence
    when the inventory is missing or empty."""
    require_inventory(inventory)
    try:
        variables = hostdefaults.variables_needed()
    except hostdefaults.DefaultsError as exc:
        raise Exit(str(exc), code=EXIT_SETUP) from None
    proc = _ansible_debug(inventory, HOST_GROUP, adhoc_message(variables))
    hosts = _hosts(proc)
    if not hosts:
        detail = inventory_error(proc.stderr)
        hint = ("run `make sandbox-up`" if "sandbox" in inventory
                else "run `fab deploy` to launch it, and check your AWS credentials")
        raise Exit(f"No dev server found in {inventory} (group {HOST_GROUP!r} is empty): {hint}."
                   + (f" Ansible said: {detail[:300]}" if detail else ""), code=EXIT_SETUP)
    name = sorted(hosts)[0]
    if len(hosts) > 1:
        print(f"note: {len(hosts)} hosts in group {HOST_GROUP!r}; using {name}", file=sys.stderr)
    values = dict(hosts[name])
    try:
        values.update(hostdefaults.host_settings(values.pop("vars", None) or {}))
    except hostdefaults.DefaultsError as exc:
        raise Exit(f"{inventory}: {exc}", code=EXIT_SETUP) from None
    return devserver_from_hostvars(name, values, inventory)


def inventory_setting(inventory: str, expression: str, group: str = "aws_resources") -> str:
    """One setting of the inventory's controller group, templated by Ansible (connects to nothing)."""
    proc = _ansible_debug(inventory, group, "{{ {'value': (" + expression + ") | string} }}")
    hosts = _hosts(proc)
    if not hosts:
        detail = inventory_error(proc.stderr)
        raise Exit(f"Cannot read {expression} from {inventory} (group {group!r})."
                   + (f" Ansible said: {detail[:300]}" if detail else ""), code=EXIT_SETUP)
    return str(next(iter(hosts.values())).get("value", ""))


def target(c: Context) -> tuple[Connection, Devserver]:
    """The connection to the dev server: ``fab -H`` wins, else the inventory's devserver host."""
    if isinstance(c, Connection):
        return c, Devserver(name=c.host, host=c.host, port=int(c.port or 22), user=c.user or "",
                            inventory=os.environ.get("CLOUDPYPI_INVENTORY", ""))
    server = resolve_devserver(inventory_path())
    connect_kwargs = {"key_filename": [server.key]} if server.key else {}
    conn = Connection(server.host, user=server.user or None, port=server.port, config=c.config,
                      connect_kwargs=connect_kwargs, connect_timeout=20)
    return conn, server


def ansible_env(inventory: str) -> dict[str, str]:
    """Extra environment for ansible-playbook.  For the sandbox: moto's dummy credentials and region unless
    set (moto accepts any; the same values as inventory/sandbox), so `fab deploy` works as typed."""
    if "sandbox" not in inventory:
        return {}
    env = {"AWS_ACCESS_KEY_ID": "sandbox-dummy-access-key-id",
           "AWS_SECRET_ACCESS_KEY": "sandbox-dummy-secret-access-key",  # moto accepts any; not a secret
           "AWS_DEFAULT_REGION": "us-east-1"}
    if os.environ.get("CLOUDPYPI_SANDBOX_MOTO_URL"):
        env["AWS_ENDPOINT_URL"] = os.environ["CLOUDPYPI_SANDBOX_MOTO_URL"]
    return {key: value for key, value in env.items() if not os.environ.get(key)}
