"""`fab fleet` and `fab fleet-status`: the engine's `cloudpypi fleet` run here, on the operator's machine,
with the inventory's fleet name and region and the operator's AWS credentials (the Auto Scaling group
is the deploy's, not the dev server's)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from invoke import Context

from cloudpypi.ops.devserver import ansible_env, inventory_path, inventory_setting, require_inventory
from cloudpypi.ops.runner import local

SCRIPTS = Path(__file__).resolve().parents[2]


def fleet_command(c: Context, *args: str) -> None:
    inventory = inventory_path()
    require_inventory(inventory)
    fleet = inventory_setting(inventory, "cloudpypi_fleet_name | default('main')")
    region = inventory_setting(inventory, "cloudpypi_aws_region | default('')")
    env = ansible_env(inventory)
    if region:  # where the deploy put the fleet, whatever region this shell defaults to
        env.update(AWS_REGION=region, AWS_DEFAULT_REGION=region)
    local(c, shlex.join([sys.executable, "-m", "cloudpypi", "fleet", *args, "--fleet", fleet]),
          env=dict(env, PYTHONPATH=str(SCRIPTS)))
