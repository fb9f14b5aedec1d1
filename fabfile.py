"""CloudPyPI operator tasks (Fabric 3): `fab --list`, `fab --help TASK`.

The dev server comes from the Ansible inventory (one source of truth): ``inventory/aws`` by default,
``CLOUDPYPI_INVENTORY=inventory/sandbox`` for the local sandbox, and ``fab -H user@host:port`` overrides
it.  Tasks are thin: each runs the ``cloudpypi`` command on the host (as the service user, with the
service's config and environment) or a playbook here, and presents the result.  Resolving the host,
running commands, the team list and presentation live in ``scripts/cloudpypi/ops/``; the engine's logic
lives in the ``cloudpypi`` package and the playbooks, where it is tested.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from invoke import Exit

from fabric import Connection, task

ROOT = Path(__file__).resolve().parent
if str(ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "scripts"))  # this checkout's cloudpypi package, whatever else is installed

from cloudpypi.ops.codes import ANY_CODE, EXIT_LOCKED, EXIT_SETUP  # noqa: E402
from cloudpypi.ops.devserver import (  # noqa: E402
    ansible_env,
    inventory_path,
    inventory_setting,
    require_inventory,
    target,
)
from cloudpypi.ops.fleet import fleet_command  # noqa: E402
from cloudpypi.ops.present import save_page, status_lines  # noqa: E402
from cloudpypi.ops.runner import costs_args, local, remote, remote_failure  # noqa: E402
from cloudpypi.ops.service import journal_command, lock_holder, read_status  # noqa: E402
from cloudpypi.ops.team import check_login, edit_team, find_team_file, read_public_keys, shown  # noqa: E402


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
    "fleet": "coordinate the sync fleet of this name: its workers download, the dev server publishes the index",
})
def sync(c, origin=None, project=None, full=False, dry_run=False, fleet=None):
    """Sync the mirror now on the dev server; the engine prints its summary of the run."""
    conn, server = target(c)
    args = ["sync", "--config", server.config, "--lock-wait", "0"]
    if fleet:
        args += ["--fleet", fleet]
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
    # The engine prints its own summary (streamed here as it runs); its report stays on the host.
    result = remote(conn, server, server.service_command(*args), ok_codes=(0, 1, EXIT_LOCKED))
    if result.exited == EXIT_LOCKED:
        raise Exit(lock_holder(conn, server, result.stderr + result.stdout), code=EXIT_LOCKED)
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
    """Timer runs, `cloudpypi status` (serial, lag, a sync in flight), disk use and the last report."""
    conn, server = target(c)
    for line in status_lines(read_status(conn, server)):
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


def _apply_team(c, inventory: str) -> None:
    local(c, shlex.join(["ansible-playbook", "-i", inventory, "playbooks/onboard.yml"]), env=ansible_env(inventory))


@task(help={
    "user": "login name for the new member (lowercase letters, digits, - and _)",
    "key": "their OpenSSH public key file (KEY.pub)",
    "sudo": "give them passwordless sudo",
})
def onboard(c, user, key, sudo=False):
    """Add a person's account (team list, then the team role)."""
    check_login(user)
    keys = read_public_keys(key)
    inventory = inventory_path()
    team_file = find_team_file(inventory)
    print(f"{edit_team(team_file, user, keys=keys, sudo=sudo)} in {shown(team_file)}")
    _apply_team(c, inventory)


@task(help={"user": "the member to remove (their account is locked and removed)"})
def offboard(c, user):
    """Remove a person's account (team list, then the team role)."""
    inventory = inventory_path()
    team_file = find_team_file(inventory)
    print(f"{edit_team(team_file, user, state='absent')} in {shown(team_file)}")
    _apply_team(c, inventory)


@task(help={
    "since": "how far back: 1h, 30min, 2d, or any journalctl time such as '2026-11-29 10:00' (default 1h)",
    "follow": "keep printing new entries until Ctrl-C",
})
def logs(c, since="1h", follow=False):
    """Show the sync service's journal."""
    conn, server = target(c)
    remote(conn, server, journal_command(since, follow), pty=bool(follow and sys.stdin.isatty()))


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


# --------------------------------------------------------------------------- the sync fleet


@task(help={"workers": "workers wanted (0 scales the fleet down to nothing)"})
def fleet(c, workers):
    """Scale the sync fleet's Auto Scaling group to N workers (deploy with cloudpypi_fleet_enabled first)."""
    fleet_command(c, "scale", "--workers", str(int(workers)))


@task(name="fleet-status")
def fleet_status(c):
    """The sync fleet: projects waiting and in flight, dead letters, and its workers."""
    fleet_command(c, "status")


@task(positional=["action", "name"], help={
    "action": "add NAME (prints the new token), list, revoke NAME, or push (send the file to CloudFront again)",
    "name": "the token's name: the user part of https://NAME:TOKEN@host/simple/",
})
def token(c, action, name=None):
    """Manage the edge's access tokens: the controller's auth file and the CloudFront KeyValueStore."""
    from cloudpypi.errors import CloudPyPIError
    from cloudpypi.ops.tokens import manage

    inventory = inventory_path()
    require_inventory(inventory)
    enabled = inventory_setting(inventory, "cloudpypi_tokens_enabled | default(false) | bool") == "True"
    auth_file = inventory_setting(inventory, "cloudpypi_tokens_auth_file | default('')")
    playbook = shlex.join(["ansible-playbook", "-i", inventory, "playbooks/tokens.yml"])
    try:
        manage(action, name, auth_file, lambda: local(c, playbook, env=ansible_env(inventory)), enabled=enabled)
    except CloudPyPIError as exc:
        raise Exit(str(exc), code=exc.exit_code) from None


@task(help={
    "dists": "wheels and sdists here: paths or a quoted glob, separated by commas or spaces (e.g. 'dist/*')",
    "lock_wait": "seconds to wait for a sync holding the mirror's lock (default 600)",
})
def publish(c, dists, lock_wait=600):
    """Publish private wheels and sdists to the mirror through the dev server's service (cloudpypi upload)."""
    from cloudpypi.upload.publish import local_dists, publish_dists

    try:
        paths = local_dists(dists)
    except ValueError as exc:
        raise Exit(f"fab publish: {exc}", code=EXIT_SETUP) from None
    conn, server = target(c)
    publish_dists(conn, lambda command, **kwargs: remote(conn, server, command, **kwargs), server.service_command,
                  server.config, paths, float(lock_wait))
