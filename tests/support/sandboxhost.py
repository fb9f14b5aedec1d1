"""Helpers for the dev-server tests: run playbooks and parse their recap, and resolve the dev server's
SSH settings from an Ansible inventory (templated values and env overrides included).

    from support.sandboxhost import inventory_path, resolve_json, resolve_ssh_target, run_playbook

    target = resolve_ssh_target(inventory_path())      # host, port, user, key from the inventory
    testinfra.get_host(target.testinfra_spec(), **target.testinfra_kwargs())
    run = run_playbook("playbooks/onboard.yml", inventory_path(), env)
    assert run.recap["sandbox-devserver"]["changed"] == 0
    members = resolve_json(inventory_path(), "team_members | default([])")
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_INVENTORY = "inventory/sandbox"
DEVSERVER_GROUP = "devserver"
RECAP_LINE = re.compile(r"^(?P<host>\S+)\s+:\s+(?P<counts>(?:\w+=\d+\s*)+)$")


def inventory_path() -> Path:
    """The inventory under test: CLOUDPYPI_INVENTORY (relative to the repository root), else the sandbox."""
    path = Path(os.environ.get("CLOUDPYPI_INVENTORY") or DEFAULT_INVENTORY)
    return path if path.is_absolute() else ROOT / path


def is_sandbox_inventory(path: Path) -> bool:
    return path.resolve() == (ROOT / DEFAULT_INVENTORY).resolve()


def parse_recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP lines -> {host: {"ok": n, "changed": n, "failed": n, ...}}."""
    recap: dict[str, dict[str, int]] = {}
    in_recap = False
    for line in output.splitlines():
        if line.startswith("PLAY RECAP"):
            in_recap = True
            continue
        if in_recap and (match := RECAP_LINE.match(line.strip())):
            recap[match["host"]] = {k: int(v) for k, v in (p.split("=") for p in match["counts"].split())}
    return recap


@dataclass
class PlayRun:
    args: list[str]
    returncode: int
    output: str
    seconds: float

    @property
    def recap(self) -> dict[str, dict[str, int]]:
        return parse_recap(self.output)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and bool(self.recap)

    def total(self, key: str) -> int:
        return sum(counts.get(key, 0) for counts in self.recap.values())

    def changed_tasks(self) -> list[str]:
        """The names of tasks that reported changed (for failure messages)."""
        names, current = [], ""
        for line in self.output.splitlines():
            if line.startswith(("TASK [", "RUNNING HANDLER [")):
                current = line.split("[", 1)[1].rsplit("]", 1)[0]
            elif line.startswith("changed:") and current not in names:
                names.append(current)
        return names

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.output.splitlines()[-lines:])


def run_playbook(playbook: str, inventory: Path, env: dict[str, str], *extra: str, timeout: float = 900) -> PlayRun:
    args = ["ansible-playbook", "-i", str(inventory), str(ROOT / playbook), *extra]
    env = {**env, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"}
    started = time.monotonic()
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    return PlayRun(args, proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started)


@dataclass(frozen=True)
class SshTarget:
    host: str
    port: int
    user: str
    key: str | None
    common_args: str

    def __str__(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    def testinfra_spec(self) -> str:
        return f"ssh://{self.user}@{self.host}:{self.port}"

    def testinfra_kwargs(self) -> dict[str, object]:
        kwargs: dict[str, object] = {"ssh_extra_args": self.common_args or None}
        if self.key:
            kwargs["ssh_identity_file"] = self.key
        return kwargs

    def ssh_args(self, user: str | None = None, key: str | None = None) -> list[str]:
        """An ssh command line (without the remote command) for this host, as user with key."""
        args = ["ssh", "-p", str(self.port), "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
        args += self.common_args.split()
        chosen_key = key if key is not None else self.key
        if chosen_key:
            args += ["-i", chosen_key, "-o", "IdentitiesOnly=yes"]
        return [*args, f"{user or self.user}@{self.host}"]


_RESOLVE = ("{'host': ansible_host | default(inventory_hostname), 'port': ansible_port | default(22) | int,"
            " 'user': ansible_user | default('admin'), 'key': ansible_ssh_private_key_file | default(''),"
            " 'common': ansible_ssh_common_args | default('')}")


def resolve_json(inventory: Path, expression: str, group: str = DEVSERVER_GROUP) -> object:
    """A Jinja expression evaluated by Ansible for the group's first host (inventory vars templated,
    lookups and env overrides applied), without connecting to it."""
    env = {**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json", "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1"}
    proc = subprocess.run(["ansible", "-i", str(inventory), group, "-m", "ansible.builtin.debug",
                           "-a", f"msg={{{{ {expression} | to_json }}}}"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    try:
        result = json.loads(proc.stdout)
        hosts = result["plays"][0]["tasks"][0]["hosts"]
    except (json.JSONDecodeError, KeyError, IndexError):
        raise RuntimeError(f"cannot resolve the {group} host from {inventory} (ansible exit {proc.returncode}): "
                           f"{proc.stderr.strip()[-800:] or proc.stdout[-800:]}") from None
    if not hosts:
        raise RuntimeError(f"inventory {inventory} has no host in group {group}")
    return json.loads(next(iter(hosts.values()))["msg"])


def resolve_ssh_target(inventory: Path, group: str = DEVSERVER_GROUP) -> SshTarget:
    """The first host of the group, with its connection variables templated by Ansible itself."""
    data = resolve_json(inventory, _RESOLVE, group)
    assert isinstance(data, dict)
    return SshTarget(host=data["host"], port=int(data["port"]), user=data["user"], key=data["key"] or None,
                     common_args=data["common"])
