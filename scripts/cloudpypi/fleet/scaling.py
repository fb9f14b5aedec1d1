"""The fleet's workers: the EC2 Auto Scaling group that roles/sync_fleet creates, scaled and described.

The group is ``cloudpypi-NAME-workers``.  Scaling sets its desired capacity within the group's bounds
(the deploy sets them); instances that are scaled in finish nothing on purpose: a project they held
returns to the work queue after the visibility timeout and another worker completes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cloudpypi.errors import ConfigError
from cloudpypi.fleet.queues import checked_fleet_name


def group_name(fleet: str) -> str:
    return f"cloudpypi-{checked_fleet_name(fleet)}-workers"


@dataclass(frozen=True)
class GroupState:
    name: str
    desired: int
    minimum: int
    maximum: int
    instances: dict[str, int]  # lifecycle state -> count

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "desired": self.desired, "min": self.minimum, "max": self.maximum,
                "instances": dict(self.instances)}


def describe(fleet: str, *, client: Any = None) -> GroupState:
    client = client or autoscaling_client()
    name = group_name(fleet)
    groups = client.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    if not groups:
        raise ConfigError(f"fleet {fleet!r}: no Auto Scaling group {name}; deploy with cloudpypi_fleet_enabled: true")
    group = groups[0]
    states: dict[str, int] = {}
    for instance in group.get("Instances", []):
        states[instance["LifecycleState"]] = states.get(instance["LifecycleState"], 0) + 1
    return GroupState(name, group["DesiredCapacity"], group["MinSize"], group["MaxSize"], states)


def scale(fleet: str, workers: int, *, client: Any = None) -> GroupState:
    """Ask for ``workers`` workers; refused (nothing changed) outside the group's bounds."""
    client = client or autoscaling_client()
    state = describe(fleet, client=client)
    if not state.minimum <= workers <= state.maximum:
        raise ConfigError(f"fleet {fleet!r}: {workers} workers is outside the group's bounds "
                          f"{state.minimum}..{state.maximum} (sync_fleet_min_workers, sync_fleet_max_workers)")
    client.set_desired_capacity(AutoScalingGroupName=state.name, DesiredCapacity=workers, HonorCooldown=False)
    return describe(fleet, client=client)


def autoscaling_client() -> Any:
    import boto3

    return boto3.session.Session().client("autoscaling")
