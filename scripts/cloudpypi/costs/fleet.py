"""The price and duration of a first sync on a sync fleet (cloudpypi.fleet), before it is run.  Pure.

A fleet's first sync costs instance hours and queue requests (its S3 PUTs are the initial upload that
every first sync pays, priced by the forecast itself); the bytes themselves come into
AWS free of charge and stay off a NAT gateway (the fleet's workers sit in public subnets with an S3
gateway endpoint), which the estimate shows as the line it avoids.

Duration: the mirror's bytes divided by the fleet's rate, ``workers x per-worker rate``.  The per-worker
rate is an input: `make bench` measures a worker's rate and the fan-out of local workers, and an
operator can measure their own with a one-worker run (`cloudpypi fleet status`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any

from cloudpypi.costs.model import CostLine
from cloudpypi.costs.prices import Prices
from cloudpypi.errors import ConfigError

DEFAULT_INSTANCE_TYPE = "c7i.large"
#: MB/s one worker sustains from PyPI's CDN into S3 (network bound: about 0.8 Gbit/s is the baseline of a
#: large instance).  Conservative; replace it with a measured figure.
DEFAULT_WORKER_RATE_MB_S = 60.0
#: SQS requests per project: send, receive, delete, a visibility extension on the work queue; send,
#: receive, delete on the results queue (batched receives count once per batch; this counts them singly).
SQS_REQUESTS_PER_PROJECT = 7


@dataclass(frozen=True)
class FleetPrices:
    sqs_fifo_per_million: Decimal
    sqs_standard_per_million: Decimal
    nat_per_gb: Decimal
    spot_share: Decimal

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> FleetPrices:
        if not raw:
            raise ConfigError("prices: no 'fleet' section (SQS, NAT gateway and Spot figures)")
        try:
            return cls(Decimal(str(raw["sqs_fifo_usd_per_million"])), Decimal(str(raw["sqs_standard_usd_per_million"])),
                       Decimal(str(raw["nat_gateway_usd_per_gb"])), Decimal(str(raw["spot_share_of_on_demand"])))
        except (KeyError, ArithmeticError) as exc:
            raise ConfigError(f"prices: malformed 'fleet' section ({exc})") from None


@dataclass(frozen=True)
class FleetPlan:
    workers: int
    instance_type: str = DEFAULT_INSTANCE_TYPE
    worker_rate_mb_s: float = DEFAULT_WORKER_RATE_MB_S
    spot: bool = True

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ConfigError(f"a fleet needs at least one worker (got {self.workers})")
        if not self.worker_rate_mb_s > 0:
            raise ConfigError(f"a worker's rate must be above 0 MB/s (got {self.worker_rate_mb_s})")


@dataclass(frozen=True)
class FleetEstimate:
    plan: FleetPlan
    hours: Decimal
    lines: tuple[CostLine, ...]
    avoided: CostLine  # the NAT gateway's processing charge the design does not pay

    @property
    def total(self) -> Decimal:
        return sum((line.usd for line in self.lines), Decimal(0))


def first_sync(total_bytes: int, projects: int, plan: FleetPlan, prices: Prices,
               fleet_prices: FleetPrices) -> FleetEstimate:
    """What a first sync of this many bytes, files and projects costs on this fleet, and how long it takes."""
    try:
        on_demand = prices.ec2_per_hour[plan.instance_type]
    except KeyError:
        raise ConfigError(f"no price for instance type {plan.instance_type!r} in the prices file "
                          f"(known: {', '.join(sorted(prices.ec2_per_hour))})") from None
    rate_bytes = Decimal(str(plan.worker_rate_mb_s)) * 1_000_000 * plan.workers
    hours = (Decimal(total_bytes) / rate_bytes / 3600).quantize(Decimal("0.01"), rounding=ROUND_CEILING)
    per_hour = on_demand * (fleet_prices.spot_share if plan.spot else 1) + prices.public_ipv4_per_hour
    instance_hours = hours * plan.workers
    queue_requests = Decimal(projects * SQS_REQUESTS_PER_PROJECT)
    gb = Decimal(total_bytes) / Decimal(prices.bytes_per_gb)
    kind = "Spot" if plan.spot else "on-demand"
    lines = (
        CostLine("EC2", f"{plan.workers} x {plan.instance_type} {kind} for {hours} h (with public IPv4)",
                 instance_hours, "instance-hours", instance_hours * per_hour),
        CostLine("SQS", "work and result messages", queue_requests, "requests",
                 queue_requests / 1_000_000 * (fleet_prices.sqs_fifo_per_million
                                               + fleet_prices.sqs_standard_per_million) / 2),
    )
    avoided = CostLine("VPC", "NAT gateway processing (not paid: public subnets and an S3 gateway endpoint)",
                       gb, "GB", gb * fleet_prices.nat_per_gb)
    return FleetEstimate(plan, hours, lines, avoided)


def render_lines(estimate: FleetEstimate) -> list[str]:
    plan = estimate.plan
    lines = [f"fleet first sync: {plan.workers} worker(s) at {plan.worker_rate_mb_s:g} MB/s each: about "
             f"{estimate.hours} h, ${estimate.total:,.2f} (USD, once)"]
    lines += [f"  {line.service} {line.item}: ${line.usd:,.2f}" for line in estimate.lines]
    lines.append(f"  avoided: {estimate.avoided.item}: ${estimate.avoided.usd:,.2f}")
    return lines
