"""CloudPyPI operator tasks (Fabric 3): `fab --list`, `fab --help TASK`.

The dev server comes from the Ansible inventory (one source of truth): ``inventory/aws`` by default,
``CLOUDPYPI_INVENTORY=inventory/sandbox`` for the local sandbox, and ``fab -H user@host:port`` overrides
it.  Tasks are thin: each runs the ``cloudpypi`` command on the host (as the service user, with the
service's config and environment) or a playbook here, and presents the result.  The logic lives in the
``cloudpypi`` package and the playbooks, where it is tested.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from invoke import Context, Exit
from paramiko.ssh_exception import SSHException

from fabric import Connection, task

ROOT = Path(__file__).resolve().parent
DEFAULT_INVENTORY = "inventory/aws"
HOST_GROUP = "devserver"
SERVICE_UNIT = "cloudpypi-sync.service"
TIMER_UNIT = "cloudpypi-sync.timer"
EXIT_LOCKED = 75  # cloudpypi sync: another run holds the mirror's lock
EXIT_UNREACHABLE = 255  # like ssh(1)
EXIT_SETUP = 2  # missing inventory, bad arguments
ANY_CODE = tuple(range(256))  # for reads whose failure a task reports rather than fails on

# Keys the inventory may set (the sync_service and devserver_instance roles' variables), with the roles'
# defaults for hosts given with -H.
_HOSTVARS = {
    "host": "ansible_host | default(inventory_hostname)",
    "port": "ansible_port | default(22)",
    "user": "ansible_user | default('')",
    "key": "ansible_ssh_private_key_file | default('')",
    "service_user": "sync_service_user | default('cloudpypi')",
    "runner": "sync_service_runner | default('/opt/cloudpypi/bin/cloudpypi-service')",
    "config_dir": "sync_service_config_dir | default('/etc/cloudpypi')",
    "report_dir": "sync_service_report_dir | default('/var/lib/cloudpypi/reports')",
    "instance_type": "devserver_instance_type | default('')",
    "volume_gb": "devserver_instance_root_volume_gb | default('')",
    # The one budget the instance role may read (roles/mirror_iam scopes budgets:ViewBudget to it).
    "budget_name": "cloudpypi_budget_name | default('cloudpypi-monthly')",
}


@dataclass(frozen=True)
class Devserver:
    """Where the dev server is and where the service lives on it."""

    name: str
    host: str
    port: int = 22
    user: str = ""
    key: str = ""
    service_user: str = "cloudpypi"
    runner: str = "/opt/cloudpypi/bin/cloudpypi-service"
    config_dir: str = "/etc/cloudpypi"
    report_dir: str = "/var/lib/cloudpypi/reports"
    instance_type: str = ""
    volume_gb: str = ""
    budget_name: str = "cloudpypi-monthly"
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


# --------------------------------------------------------------------------- inventory and connection


def inventory_path() -> str:
    return os.environ.get("CLOUDPYPI_INVENTORY") or DEFAULT_INVENTORY


def _unreachable_hint(inventory: str) -> str:
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


def devserver_from_hostvars(name: str, values: dict[str, Any], inventory: str) -> Devserver:
    port = str(values.get("port") or 22)
    if not port.isdigit():
        raise Exit(f"The inventory gives {name} the SSH port {port!r}, which is not a number.",
                   code=EXIT_SETUP)
    text = {k: str(values.get(k) or "") for k in _HOSTVARS if k != "port"}
    defaults = Devserver(name=name, host=name)
    return Devserver(
        name=name,
        host=text["host"] or name,
        port=int(port),
        user=text["user"],
        key=os.path.expanduser(text["key"]) if text["key"] else "",
        service_user=text["service_user"] or defaults.service_user,
        runner=text["runner"] or defaults.runner,
        config_dir=text["config_dir"] or defaults.config_dir,
        report_dir=text["report_dir"] or defaults.report_dir,
        instance_type=text["instance_type"],
        volume_gb=text["volume_gb"],
        budget_name=text["budget_name"] or defaults.budget_name,
        inventory=inventory,
    )


@lru_cache(maxsize=4)
def resolve_devserver(inventory: str) -> Devserver:
    """The dev server of an inventory, its variables templated by Ansible itself (``ansible -m debug``,
    which connects to nothing).  Exits with one sentence when the inventory is missing or empty."""
    require_inventory(inventory)
    path = ROOT / inventory
    msg = "{{ {" + ", ".join(f"'{k}': {expr}" for k, expr in _HOSTVARS.items()) + "} }}"
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    cmd = ["ansible", HOST_GROUP, "-i", str(path), "-m", "ansible.builtin.debug", "-a", f"msg={msg}"]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                              check=False)
    except FileNotFoundError:
        raise Exit("`ansible` is not on PATH: run `make venv` and use its bin/ (or `make` targets).",
                   code=EXIT_SETUP) from None
    except subprocess.TimeoutExpired:
        raise Exit(f"Reading the inventory {inventory} took over 120 s; check its AWS credentials and "
                   "region.", code=EXIT_SETUP) from None
    try:
        hosts = parse_adhoc_json(proc.stdout) if proc.stdout.strip() else {}
    except ValueError:
        hosts = {}
    if not hosts:
        detail = inventory_error(proc.stderr)
        hint = ("run `make sandbox-up`" if "sandbox" in inventory
                else "run `fab deploy` to launch it, and check your AWS credentials")
        raise Exit(f"No dev server found in {inventory} (group {HOST_GROUP!r} is empty): {hint}."
                   + (f" Ansible said: {detail[:300]}" if detail else ""), code=EXIT_SETUP)
    name = sorted(hosts)[0]
    if len(hosts) > 1:
        print(f"note: {len(hosts)} hosts in group {HOST_GROUP!r}; using {name}", file=sys.stderr)
    return devserver_from_hostvars(name, hosts[name], inventory)


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


def remote(conn: Connection, server: Devserver, command: str, *, hide: bool | str = False, pty: bool = False,
           ok_codes: tuple[int, ...] = (0,)) -> Any:
    """Run ``command`` on the host.  An unreachable host and a failing command (exit code not in
    ``ok_codes``) end the task with one sentence and the remote's exit code."""
    try:
        result = conn.run(command, warn=True, hide=hide, pty=pty)
    except (OSError, SSHException, EOFError) as exc:
        where = f"{conn.user}@{conn.host}:{conn.port}"
        raise Exit(f"Cannot reach the dev server {where} ({type(exc).__name__}: {exc}). "
                   f"{_unreachable_hint(server.inventory)}", code=EXIT_UNREACHABLE) from None
    if result.exited not in ok_codes:
        raise Exit(remote_failure(command, result.exited, result.stderr or result.stdout), code=result.exited)
    return result


def remote_failure(command: str, code: int, output: str) -> str:
    last = next((line.strip() for line in reversed(output.splitlines()) if line.strip()), "")
    program = " ".join(shlex.split(command)[:1])
    if "a password is required" in output or "may not run sudo" in output or "is not allowed to" in output:
        return ("The dev server refused sudo for your account: ask for `sudo: true` in team_members "
                f"(fab onboard --sudo), or run as the admin user. ({last})")
    return f"The remote command failed with exit code {code}: {last or program}"


def local(c: Context, command: str, **kwargs: Any) -> Any:
    """Run ``command`` here, in the repository root (where ansible.cfg is); a failure ends the task with
    its exit code."""
    runner = c.local if isinstance(c, Connection) else c.run
    pty = kwargs.pop("pty", sys.stdout.isatty() and sys.stdin.isatty())
    result = runner(f"cd {shlex.quote(str(ROOT))} && {command}", warn=True, pty=pty, **kwargs)
    if result.exited != 0:
        raise Exit(f"`{command}` failed with exit code {result.exited}", code=result.exited)
    return result


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


def require_inventory(inventory: str) -> None:
    if not (ROOT / inventory).exists():
        raise Exit(
            f"No Ansible inventory at {inventory}: create it (docs/operators-guide.md), or set "
            "CLOUDPYPI_INVENTORY=inventory/sandbox to use the local sandbox.",
            code=EXIT_SETUP,
        )


# --------------------------------------------------------------------------- presenting results


def human_bytes(num: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if num < 1000 or unit == "TB":
            return f"{num:.0f} {unit}" if unit == "B" else f"{num:.1f} {unit}"
        num /= 1000
    return f"{num:.1f} TB"


def report_summary(report: dict[str, Any]) -> list[str]:
    """The lines `fab sync` prints from a sync report (see the report keys in cloudpypi.sync)."""
    failures = report.get("failures") or []
    get = report.get
    added = human_bytes(get("bytes_added") or 0)
    lines = [
        f"serial      {get('serial_before')} -> {get('serial_after')}",
        f"projects    {get('projects_synced', 0)} synced, {get('projects_failed', 0)} failed",
        f"files       {get('files_added', 0)} added ({added}), {get('files_deleted', 0)} deleted",
        f"pages       {len(get('changed_paths') or [])} changed",
        f"duration    {get('duration_s') or 0:.1f} s ({get('started_at')} to {get('finished_at')})",
    ]
    lines += [f"failed      {f.get('project')}: {f.get('reason')}" for f in failures[:20]]
    if len(failures) > 20:
        lines.append(f"            ... and {len(failures) - 20} more (see the report)")
    skipped = get("skipped") or []  # files over max_file_size: left out on purpose, not failures
    lines += [f"skipped     {s.get('project')}: {s.get('filename')} ({human_bytes(s.get('size') or 0)}, over "
              "max_file_size)" for s in skipped[:20]]
    if len(skipped) > 20:
        lines.append(f"            ... and {len(skipped) - 20} more skipped (see the report)")
    return lines


def lock_message(engine_output: str, service_props: dict[str, str]) -> str:
    """What `fab sync` says when the mirror's lock is held: who started the running sync, and when."""
    if service_props.get("ActiveState") in {"active", "activating"}:
        when = service_props.get("ExecMainStartTimestamp") or "an unknown time"
        who = f"the systemd timer ({SERVICE_UNIT}) at {when}"
    else:
        match = re.search(r"locked by (.+?), started (.+?);", engine_output)
        who = f"{match.group(1)} at {match.group(2)}" if match else "another run"
    return (f"a sync is already running (started by {who}); not starting a second one. "
            "Follow it with `fab logs --follow`, or try again when it has finished.")


def parse_properties(text: str) -> dict[str, str]:
    """``systemctl show`` output (KEY=value lines) as a dict."""
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def status_lines(timer: str | None, service: dict[str, str] | None, mirror: dict[str, Any] | None,
                 mirror_error: str, disk: str | None, report: dict[str, Any] | None) -> list[str]:
    """What `fab status` prints.  Each part that could not be read says so instead of failing."""
    lines = ["Timer"]
    lines += [f"  {line}" for line in (timer or "unavailable").splitlines() if line.strip()]
    if service:
        ended = service.get("ExecMainExitTimestamp") or "never"
        lines.append(f"  last run: result {service.get('Result', '?')}, exit status "
                     f"{service.get('ExecMainStatus', '?')}, ended {ended} "
                     f"(service {service.get('ActiveState', '?')})")
    lines.append("Mirror")
    if mirror is None:
        lines.append(f"  unavailable: {mirror_error}")
    else:
        lag = mirror.get("lag")
        lag_text = (f"lag {lag}" if lag is not None
                    else f"lag unknown ({mirror.get('lag_reason') or 'the mirror has no serial yet'})")
        lines.append(f"  {mirror.get('target')}  serial {mirror.get('serial')}, origin "
                     f"{mirror.get('origin_serial')}, {lag_text}")
        gib = (mirror.get("bytes") or 0) / 2**30
        lines.append(f"  {mirror.get('projects')} projects, {mirror.get('files')} files, {gib:.2f} GiB; "
                     f"last success {mirror.get('last_success')}")
        lines += running_lines(mirror.get("running"))
        if mirror.get("private_projects"):  # cloudpypi upload (fab publish), and the guard's collisions
            lines.append(f"  private projects: {', '.join(mirror['private_projects'])}")
        lines += [f"  COLLISION: the origin has the private name {c.get('name')} too (origin serial "
                  f"{c.get('origin_serial')}); its files are kept out" for c in mirror.get("collisions") or []]
    lines.append("Disk")
    disk_lines = [line for line in (disk or "unavailable").splitlines() if line.strip()]
    lines += [f"  {line}" for line in dict.fromkeys(disk_lines)]  # the state dir is often on /
    lines.append("Last report")
    lines += [f"  {line}" for line in (report_summary(report) if report else ["none yet"])]
    return lines


def running_lines(running: dict[str, Any] | None) -> list[str]:
    """The sync in flight, as `cloudpypi status` words it (its `summary`): files and bytes done of the
    total, the rate and the ETA."""
    if not running:
        return ["  no sync running"]
    return [f"  running: {running.get('command', 'sync')} pid {running.get('pid')} since {running.get('started')}",
            f"    {running.get('summary', '')}"]


def _since_arg(since: str) -> str:
    """``1h`` / ``30min`` / ``2d`` mean that long ago; anything else is passed to journalctl as is."""
    if re.fullmatch(r"\d+\s*(s|sec|m|min|h|d|w)", since.strip()):
        return "-" + since.strip().replace(" ", "")
    return since


# --------------------------------------------------------------------------- team list (group_vars)

_KEY_RE = re.compile(
    r"^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp\d+|sk-\S+@openssh\.com) [A-Za-z0-9+/=]+( .*)?$"
)
_USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


def read_public_keys(path: str) -> list[str]:
    """The public keys in ``path`` (one per line).  Refuses private keys and anything else."""
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise Exit(f"Cannot read the key file {path}: {exc.strerror}.", code=EXIT_SETUP) from None
    if "PRIVATE KEY" in text:
        raise Exit(f"{path} is a private key: pass the public one ({path}.pub), and keep the private key "
                   "to yourself.", code=EXIT_SETUP)
    keys = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    bad = [k for k in keys if not _KEY_RE.match(k)]
    if not keys or bad:
        raise Exit(f"{path} holds no OpenSSH public key (expected lines like "
                   "'ssh-ed25519 AAAA... you@host').", code=EXIT_SETUP)
    return keys


def find_team_file(inventory: str) -> Path:
    """The group_vars file of ``inventory`` that defines ``team_members``."""
    base = (ROOT / inventory) / "group_vars"
    candidates = sorted(base.glob("**/*.yml")) + sorted(base.glob("**/*.yaml"))
    candidates.sort(key=lambda p: (HOST_GROUP not in p.parts, str(p)))
    for path in candidates:
        if re.search(r"(?m)^team_members\s*:", path.read_text(encoding="utf-8")):
            return path
    raise Exit(f"No team_members list in {base}: add `team_members: []` to "
               f"{base / HOST_GROUP / 'team.yml'} (see roles/team/defaults/main.yml).", code=EXIT_SETUP)


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML()  # round trip: comments, order and quoting survive
    yaml.preserve_quotes = True
    yaml.explicit_start = True
    yaml.width = 4096  # never fold an SSH key
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def edit_team(path: Path, user: str, *, keys: list[str] | None = None, sudo: bool | None = None,
              state: str = "present") -> str:
    """Add, update or mark absent one member of the team list in ``path``; returns what changed."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    yaml = _yaml()
    data = yaml.load(path.read_text(encoding="utf-8"))
    members = data.get("team_members")
    if members is None:
        members = data["team_members"] = CommentedSeq()
    if not isinstance(members, list):
        raise Exit(f"{path}: team_members is not a list.", code=EXIT_SETUP)
    if hasattr(members, "fa"):
        members.fa.set_block_style()
    entry = next((m for m in members if isinstance(m, dict) and m.get("name") == user), None)
    if entry is None:
        if state == "absent":
            raise Exit(f"{user} is not in the team list ({path}).", code=EXIT_SETUP)
        entry = CommentedMap()
        entry["name"] = user
        entry["sudo"] = bool(sudo)
        entry["ssh_keys"] = CommentedSeq(keys or [])
        entry["state"] = "present"
        members.append(entry)
        change = f"added {user}" + (" with sudo" if sudo else "")
    else:
        change = f"updated {user}"
        if keys:
            listed = entry.setdefault("ssh_keys", CommentedSeq())
            listed.extend(k for k in keys if k not in listed)
        if sudo is not None:
            entry["sudo"] = sudo
        entry["state"] = state
        if state == "absent":
            change = f"marked {user} absent"
    with path.open("w", encoding="utf-8") as fh:
        yaml.dump(data, fh)
    return change


# --------------------------------------------------------------------------- tasks


@task(help={
    "tags": "only these Ansible tags (comma-separated), e.g. sync_service or team",
    "check": "dry run: ansible-playbook --check --diff, changing nothing",
    "playbook": "the playbook under playbooks/ (default: site, which runs everything)",
    "accept-cost": "deploy even when the mirror's monthly forecast is over cloudpypi_budget_amount",
    "refresh-forecast": "plan the mirror again for its forecast instead of using the cached plan",
})
def deploy(c, tags=None, check=False, playbook="site", accept_cost=False, refresh_forecast=False):
    """Forecast the mirror's monthly cost, then provision and configure everything (playbooks/site.yml)."""
    book = ROOT / "playbooks" / f"{playbook}.yml"
    if not book.exists():
        raise Exit(f"No playbook {book.relative_to(ROOT)}.", code=EXIT_SETUP)
    inventory = inventory_path()
    require_inventory(inventory)
    cmd = ["ansible-playbook", "-i", inventory, f"playbooks/{playbook}.yml"]
    if tags:
        cmd += ["--tags", tags]
    if check:
        cmd += ["--check", "--diff"]
    if accept_cost:
        cmd += ["-e", "cloudpypi_accept_cost=true"]
    if refresh_forecast:
        cmd += ["-e", "cloudpypi_forecast_refresh=true"]
    local(c, shlex.join(cmd), env=ansible_env(inventory))


@task(iterable=["project"], help={
    "origin": "the service's configured origin only: the runner refuses any other (docs/security.md)",
    "project": "only this project (repeat for more); the serial is not advanced",
    "full": "ignore the changelog and compare every project's serial",
    "dry-run": "plan only: print what would change, change nothing",
})
def sync(c, origin=None, project=None, full=False, dry_run=False):
    """Sync the mirror now on the dev server and print the report."""
    conn, server = target(c)
    args = ["sync", "--config", server.config, "--lock-wait", "0"]
    if origin:
        args += ["--origin", origin]
    for name in project or []:
        args += ["--project", name]
    if full:
        args.append("--full")
    if dry_run:
        args.append("--dry-run")
    else:
        args += ["--report-dir", server.report_dir]
    result = remote(conn, server, server.service_command(*args), ok_codes=(0, 1, EXIT_LOCKED))
    if result.exited == EXIT_LOCKED:
        props = remote(conn, server, f"systemctl show {SERVICE_UNIT} "
                       "--property=ActiveState,ExecMainStartTimestamp", hide=True, ok_codes=ANY_CODE)
        message = lock_message(result.stderr + result.stdout, parse_properties(props.stdout))
        raise Exit(message, code=EXIT_LOCKED)
    if not dry_run:
        fetched = remote(conn, server, server.service_command("report", "latest.json"), hide=True,
                         ok_codes=ANY_CODE)
        try:
            report = json.loads(fetched.stdout) if fetched.exited == 0 else None
        except ValueError:
            report = None
        print("\nReport" if report else f"\n(no report at {server.report_dir}/latest.json)")
        for line in report_summary(report) if report else []:
            print(f"  {line}")
    if result.exited != 0:
        raise Exit(remote_failure("cloudpypi sync", result.exited, result.stderr), code=result.exited)


@task(iterable=["path"], help={
    "report": "'latest' (default) or a sync report file on the host (relative to the report directory)",
    "path": "invalidate this URL path instead of a report's changed pages (repeat for more)",
    "policy": "auto, changed, wildcard or none (default: the service config's policy, auto)",
})
def invalidate(c, report="latest", path=None, policy=None):
    """Invalidate CloudFront's cached pages; prints what it cost.

    The sync timer never invalidates: after a run, a changed page reaches users when CloudFront's cached
    copy expires, within index_max_age (600 s by default), at no cost.  Run this to show the latest run's
    changed pages sooner.  With the default policy (auto) and that TTL it invalidates nothing and costs
    $0; changed or wildcard invalidate the changed pages or /simple/*: the first 1,000 paths a month
    are free per AWS account, then $0.005 a path (/simple/* counts as one).
    """
    conn, server = target(c)
    args = ["invalidate", "--config", server.config]
    if policy:
        if policy not in {"changed", "wildcard", "none", "auto"}:
            raise Exit(f"--policy must be auto, changed, wildcard or none, not {policy!r}.", code=EXIT_SETUP)
        args += ["--policy", policy]
    if path:
        args += list(path)
    else:
        name = "latest.json" if report == "latest" else report
        args += ["--report", name if name.startswith("/") else f"{server.report_dir}/{name}"]
    remote(conn, server, server.service_command(*args))


@task(help={
    "egress-gb": "assumed CloudFront egress per month in GB for the mirror's cost model (default 100)",
    "json": "print JSON instead of tables",
})
def costs(c, egress_gb=None, json=False):
    """Spend, forecast, budget and the mirror's cost model (from the host)."""
    conn, server = target(c)
    args = costs_args(server)
    if egress_gb is not None:
        args += ["--egress-gb", str(egress_gb)]
    if json:
        args.append("--json")
    remote(conn, server, server.service_command(*args))


@task
def status(c):
    """Timer runs, serial and lag, a sync in flight (done of total, rate, ETA), disk use and the last report."""
    conn, server = target(c)
    anything = ANY_CODE
    timer = remote(conn, server, f"systemctl list-timers --all --no-pager {TIMER_UNIT}", hide=True,
                   ok_codes=anything)
    service = remote(conn, server, f"systemctl show {SERVICE_UNIT} "
                     "--property=ActiveState,Result,ExecMainStatus,ExecMainExitTimestamp", hide=True,
                     ok_codes=anything)
    mirror_run = remote(conn, server, server.service_command("status", "--config", server.config, "--json"),
                        hide=True, ok_codes=anything)
    mirror, mirror_error = None, ""
    if mirror_run.exited == 0:
        try:
            mirror = json.loads(mirror_run.stdout)
        except ValueError:
            mirror_error = "cloudpypi status --json printed no JSON"
    else:
        mirror_error = remote_failure("cloudpypi status", mirror_run.exited,
                                      mirror_run.stderr or mirror_run.stdout)
    df = ["df", "-h", "--output=target,size,used,avail,pcent", str(Path(server.report_dir).parent), "/"]
    disk = remote(conn, server, shlex.join(df), hide=True, ok_codes=anything)
    latest = remote(conn, server, server.service_command("report", "latest.json"), hide=True,
                    ok_codes=anything)
    try:
        report = json.loads(latest.stdout) if latest.exited == 0 else None
    except ValueError:
        report = None
    for line in status_lines(timer.stdout if timer.exited == 0 else None,
                             parse_properties(service.stdout) if service.exited == 0 else None,
                             mirror, mirror_error, disk.stdout if disk.exited == 0 else None, report):
        print(line)


@task(help={
    "out": "where to save the page on this machine (default cloudpypi-report.html)",
    "days": "how many days of sync history to draw (default 90)",
    "costs": "add spend against the budget: runs `cloudpypi costs --json` on the host first "
             "(two Cost Explorer requests, billed at $0.01 each)",
})
def report(c, out="cloudpypi-report.html", days=90, costs=False):
    """Build the mirror's HTML report on the dev server and save it here."""
    conn, server = target(c)
    args = ["report", "--config", server.config, "--reports", server.report_dir, "--days", str(days)]
    command = server.service_command(*args, "--html", "-")
    if costs:
        # The cost data goes straight from one command to the other on the host, never to a file there.
        command = f"{server.service_command(*costs_args(server), '--json')} | " \
                  f"{server.service_command(*args, '--costs', '-', '--html', '-')}"
    result = remote(conn, server, command, hide="out")
    if not result.stdout.lstrip().startswith("<!DOCTYPE html>"):
        raise Exit("cloudpypi report printed no HTML page; see its messages above.", code=1)
    path = save_page(Path(out).expanduser(), result.stdout)
    print(f"report saved to {path} ({len(result.stdout.encode()) // 1024} KiB); open it in a browser")


def costs_args(server: Devserver) -> list[str]:
    """`cloudpypi costs` as the host's inventory describes it: its budget, instance type and volume."""
    args = ["costs", "--config", server.config, "--report-dir", server.report_dir, "--budget", server.budget_name]
    if server.instance_type:
        args += ["--instance-type", server.instance_type]
    if server.volume_gb and server.volume_gb.isdigit():
        args += ["--volume-gb", server.volume_gb]
    return args


def save_page(path: Path, text: str) -> Path:
    """Write the page whole or not at all (a temporary file renamed over the target)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


@task(optional=["origin"], help={
    "repair": "re-fetch whatever is missing, corrupt or (with --origin) differs from the origin",
    "origin": "check every file's bytes against the sha256 and size the origin publishes now "
              "(no URL: the service's configured origin)",
    "sample": "with --origin: check this many files drawn at random instead of all",
})
def verify(c, repair=False, origin=None, sample=None):
    """Check every page link against the files in the bucket, or every file against the origin."""
    if sample is not None and not origin:
        raise Exit("--sample needs --origin.", code=EXIT_SETUP)
    conn, server = target(c)
    args = ["verify", "--config", server.config]
    if origin:
        # a bare --origin (True) leaves the URL to the deployed config, which the runner allows team members
        args += ["--origin"] if origin is True else ["--origin", origin]
    if sample is not None:
        args += ["--sample", str(sample)]
    if repair:
        args.append("--repair")
    remote(conn, server, server.service_command(*args))


@task(help={
    "since": "the serial of the mirror that will import the bundle (0: a full bundle)",
    "out": "where to save the bundle here (default: cloudpypi-bundle-SINCE.tar)",
})
def export(c, since, out=None):
    """Fetch a bundle of the mirror's changes after a serial (cloudpypi export) for an air-gapped mirror."""
    try:
        serial = int(since)
    except ValueError:
        serial = -1
    if serial < 0:
        raise Exit(f"--since must be 0 (a full bundle) or a serial, not {since!r}.", code=EXIT_SETUP)
    local_path = out or f"cloudpypi-bundle-{serial}.tar"
    conn, server = target(c)
    # The engine writes the bundle to its standard output (no path passes through the runner); the shell
    # of the connecting user puts it in a file of that user's in /var/tmp (on disk: /tmp is RAM on Debian 13).
    staged = remote(conn, server, "mktemp -p /var/tmp cloudpypi-bundle.XXXXXXXX", hide=True).stdout.strip()
    try:
        command = server.service_command("export", "--config", server.config, "--since", str(serial), "--out", "-")
        remote(conn, server, f"{command} > {shlex.quote(staged)}")
        conn.get(staged, local=local_path)
    finally:
        remote(conn, server, shlex.join(["rm", "-f", staged]), hide=True, ok_codes=ANY_CODE)
    print(f"bundle saved to {local_path}; apply it with: cloudpypi import --bundle {local_path} --target TARGET")


@task(help={"k": "only tests matching this pytest -k expression"})
def test(c, k=None):
    """Run the testinfra suite against the dev server."""
    suite = ROOT / "tests" / "sandbox"
    if not suite.is_dir():
        raise Exit("The testinfra suite tests/sandbox is not in this checkout.", code=EXIT_SETUP)
    if isinstance(c, Connection):
        raise Exit("fab test checks the dev server of the inventory (the suite reads CLOUDPYPI_INVENTORY); "
                   "drop -H and set CLOUDPYPI_INVENTORY instead.", code=EXIT_SETUP)
    inventory = inventory_path()
    require_inventory(inventory)
    # Check the server as it is deployed: no boot, no plays (CLOUDPYPI_TEST_DEPLOY=0), only the host checks.
    cmd = [sys.executable, "-m", "pytest", "-m", "sandbox", "tests/sandbox"]
    if k:
        cmd += ["-k", k]
    local(c, shlex.join(cmd), env={"CLOUDPYPI_INVENTORY": inventory, "CLOUDPYPI_TEST_DEPLOY": "0"})


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _apply_team(c, inventory: str) -> None:
    local(c, shlex.join(["ansible-playbook", "-i", inventory, "playbooks/onboard.yml"]), env=ansible_env(inventory))


@task(help={
    "user": "login name for the new member (lowercase letters, digits, - and _)",
    "key": "their OpenSSH public key file (KEY.pub)",
    "sudo": "give them passwordless sudo",
})
def onboard(c, user, key, sudo=False):
    """Add a person's account (team list, then the team role)."""
    if not _USER_RE.match(user):
        raise Exit(f"{user!r} is not a valid login name (lowercase letters, digits, - and _).",
                   code=EXIT_SETUP)
    keys = read_public_keys(key)
    inventory = inventory_path()
    team_file = find_team_file(inventory)
    print(f"{edit_team(team_file, user, keys=keys, sudo=sudo)} in {_shown(team_file)}")
    _apply_team(c, inventory)


@task(help={"user": "the member to remove (their account is locked and removed)"})
def offboard(c, user):
    """Remove a person's account (team list, then the team role)."""
    inventory = inventory_path()
    team_file = find_team_file(inventory)
    print(f"{edit_team(team_file, user, state='absent')} in {_shown(team_file)}")
    _apply_team(c, inventory)


@task(help={
    "since": "how far back: 1h, 30min, 2d, or any journalctl time such as '2026-11-29 10:00' (default 1h)",
    "follow": "keep printing new entries until Ctrl-C",
})
def logs(c, since="1h", follow=False):
    """Show the sync service's journal."""
    conn, server = target(c)
    remote(conn, server, journal_command(since, follow), pty=bool(follow and sys.stdin.isatty()))


def journal_command(since: str, follow: bool) -> str:
    """journalctl for the service and its timer: through sudo where the account may (admins), else
    directly (team members read the journal through the systemd-journal group)."""
    cmd = ["journalctl", "--no-pager", "-u", SERVICE_UNIT, "-u", TIMER_UNIT, f"--since={_since_arg(since)}"]
    if follow:
        cmd.append("--follow")
    line = shlex.join(cmd)
    return f"if sudo -n true 2>/dev/null; then sudo -n {line}; else {line}; fi"



# --------------------------------------------------------------------------- closure, teardown


@task(help={
    "egress-gb": "assumed CloudFront egress per month in GB for the monthly cost (default 100)",
    "json": "print JSON instead of text",
})
def closure(c, egress_gb=None, json=False):
    """The closure mirror's plan on the dev server: projects, files, bytes, monthly cost."""
    conn, server = target(c)
    args = ["closure", "--dry-run", "--config", server.config]
    if egress_gb is not None:
        args += ["--egress-gb", str(egress_gb)]
    if json:
        args.append("--json")
    result = remote(conn, server, server.service_command(*args), ok_codes=(0, 1))
    if result.exited == 1:
        raise Exit("Some requirements of the closure cannot be resolved (the MISSING lines above).", code=1)


@task(help={
    "name": "the project to explain",
    "compute": "resolve now from the origin instead of reading the closure the last sync stored",
})
def why(c, name, compute=False):
    """The requirement chains that pulled a project into the closure mirror."""
    conn, server = target(c)
    args = ["why", name, "--config", server.config] + (["--compute"] if compute else [])
    result = remote(conn, server, server.service_command(*args), ok_codes=(0, 1))
    if result.exited == 1:
        raise Exit(f"{name} is not in the closure mirror (see above).", code=1)


def inventory_setting(inventory: str, expression: str, group: str = "aws_resources") -> str:
    """One setting of the inventory's controller group, templated by Ansible (connects to nothing)."""
    msg = "{{ {'value': (" + expression + ") | string} }}"
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    cmd = ["ansible", group, "-i", str(ROOT / inventory), "-m", "ansible.builtin.debug", "-a", f"msg={msg}"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    try:
        hosts = parse_adhoc_json(proc.stdout) if proc.stdout.strip() else {}
    except ValueError:
        hosts = {}
    if not hosts:
        detail = inventory_error(proc.stderr)
        raise Exit(f"Cannot read {expression} from {inventory} (group {group!r})."
                   + (f" Ansible said: {detail[:300]}" if detail else ""), code=EXIT_SETUP)
    return str(next(iter(hosts.values())).get("value", ""))


@task(help={"yes": "do not ask: delete everything without a confirmation"})
def teardown(c, yes=False):
    """Delete the mirror's AWS resources, the bucket and its files included; asks first."""
    inventory = inventory_path()
    require_inventory(inventory)
    bucket = inventory_setting(inventory, "cloudpypi_bucket_name | default('')")
    if not bucket:
        raise Exit(f"{inventory} names no bucket (cloudpypi_bucket_name): nothing to tear down.", code=EXIT_SETUP)
    if not yes:
        print(f"This deletes the bucket {bucket} with every file in it, its CloudFront distribution, the dev "
              "server, its IAM role, the budget and the alarms. It cannot be undone.")
        try:
            answer = input(f"Type the bucket name ({bucket}) to confirm: ").strip()
        except EOFError:
            answer = ""
        if answer != bucket:
            raise Exit("Not confirmed; nothing was deleted (pass --yes to skip the question).", code=1)
    cmd = ["ansible-playbook", "-i", inventory, "playbooks/teardown.yml", "-e", f"cloudpypi_teardown_confirm={bucket}"]
    local(c, shlex.join(cmd), env=ansible_env(inventory))


@task(help={
    "dists": "wheels and sdists here: paths or a quoted glob, separated by commas or spaces (e.g. 'dist/*')",
    "lock_wait": "seconds to wait for a sync holding the mirror's lock (default 600)",
})
def publish(c, dists, lock_wait=600):
    """Publish private wheels and sdists to the mirror through the dev server's service (cloudpypi upload)."""
    if str(ROOT / "scripts") not in sys.path:
        sys.path.insert(0, str(ROOT / "scripts"))
    from cloudpypi.upload.publish import local_dists, publish_dists

    try:
        paths = local_dists(dists)
    except ValueError as exc:
        raise Exit(f"fab publish: {exc}", code=EXIT_SETUP) from None
    conn, server = target(c)
    publish_dists(conn, lambda command, **kwargs: remote(conn, server, command, **kwargs), server.service_command,
                  server.config, paths, float(lock_wait))
