"""The monthly forecast of a mirror before it is built, and its verdict against a budget.  Pure: a size in,
a verdict and its text out (the size comes from cloudpypi.costs.sizing, which does the I/O).

The forecast prices the mirror with :func:`cloudpypi.costs.model.forecast_mirror_cost` twice: in its first
month and from its fourth (the two differ only with S3 Intelligent-Tiering, whose cold bytes move to cheaper
tiers after 30 and 90 days).  The verdict compares the larger of the two with the budget, because every
month has to fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cloudpypi.costs.fleet import FleetEstimate
from cloudpypi.costs.fleet import render_lines as render_fleet_lines
from cloudpypi.costs.model import (
    DEFAULT_FREQUENT_SHARE,
    DEFAULT_INSTANCE_TYPE,
    DEFAULT_VOLUME_GB,
    STEADY_STATE_MONTH,
    CostEstimate,
    CostLine,
    forecast_mirror_cost,
    human_bytes,
)
from cloudpypi.costs.prices import Prices

#: Exit code of `cloudpypi forecast` when the forecast passes the budget (as `cloudpypi costs`).
EXIT_OVER_BUDGET = 3


@dataclass(frozen=True)
class MirrorSize:
    """What a mirror holds (or will hold), and where the figures come from."""

    projects: int
    files: int
    bytes: int
    source: str  # "published totals", "plan", "sampled plan", "state"
    detail: str  # one sentence: which totals, which plan, which state
    files_added_per_month: int | None = None  # None: the cost model's assumption (2% of the files)
    growth_bytes_per_month: int = 0
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"projects": self.projects, "files": self.files, "bytes": self.bytes, "source": self.source,
                "detail": self.detail, "files_added_per_month": self.files_added_per_month,
                "growth_bytes_per_month": self.growth_bytes_per_month, "notes": list(self.notes)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MirrorSize:
        return cls(int(data["projects"]), int(data["files"]), int(data["bytes"]), str(data["source"]),
                   str(data["detail"]), data.get("files_added_per_month"), int(data.get("growth_bytes_per_month", 0)),
                   tuple(data.get("notes", ())))


@dataclass(frozen=True)
class Deployment:
    """What is deployed around the mirror, as far as the cost model cares."""

    instance_type: str = DEFAULT_INSTANCE_TYPE
    volume_gb: int = DEFAULT_VOLUME_GB
    storage_class: str = "STANDARD"
    egress_gb: Decimal = Decimal(100)
    frequent_share: float = DEFAULT_FREQUENT_SHARE


@dataclass(frozen=True)
class Forecast:
    size: MirrorSize
    first_month: CostEstimate
    steady: CostEstimate
    budget: Decimal | None
    fleet: FleetEstimate | None = None  # a first sync on a sync fleet: paid once, in the first month

    @property
    def monthly(self) -> Decimal:
        """The figure that is compared with the budget: the dearest month (the first carries a fleet's first sync)."""
        first = self.first_month.monthly_total + (self.fleet.total if self.fleet else 0)
        return max(first, self.steady.monthly_total)

    @property
    def over_budget(self) -> bool:
        return self.budget is not None and self.monthly > self.budget

    def largest_lines(self, count: int = 3) -> list[CostLine]:
        estimate = self.first_month if self.first_month.monthly_total >= self.steady.monthly_total else self.steady
        return sorted(estimate.monthly, key=lambda line: line.usd, reverse=True)[:count]


def forecast(size: MirrorSize, prices: Prices, deployment: Deployment, budget: Decimal | None,
             fleet: FleetEstimate | None = None) -> Forecast:
    egress = int(deployment.egress_gb * prices.bytes_per_gb)

    def month(number: int) -> CostEstimate:
        return forecast_mirror_cost(size.bytes, size.files, size.projects, egress, prices=prices,
                                    files_added_per_month=size.files_added_per_month,
                                    instance_type=deployment.instance_type, volume_gb=deployment.volume_gb,
                                    storage_class=deployment.storage_class,
                                    frequent_share=deployment.frequent_share, month=number)

    return Forecast(size, month(1), month(STEADY_STATE_MONTH), budget, fleet)


def usd(amount: Decimal) -> str:
    return f"${amount:,.2f}"


def verdict_line(result: Forecast) -> str:
    """One sentence naming the forecast and the budget in USD."""
    figure = f"forecast {usd(result.monthly)} a month (USD)"
    if result.budget is None:
        return f"{figure}; no budget to compare with"
    if result.over_budget:
        return f"{figure} is over the budget of {usd(result.budget)} a month (USD)"
    return f"{figure} is within the budget of {usd(result.budget)} a month (USD)"


def render_lines(result: Forecast) -> list[str]:
    """The text `cloudpypi forecast` prints (and the deploy gate shows)."""
    size = result.size
    lines = [verdict_line(result),
             f"mirror: {human_bytes(size.bytes)} in {size.files:,} files, {size.projects:,} projects "
             f"({size.source}: {size.detail})"]
    if result.first_month.monthly_total != result.steady.monthly_total:
        lines.append(f"first month {usd(result.first_month.monthly_total)}, from month {STEADY_STATE_MONTH} "
                     f"{usd(result.steady.monthly_total)} (S3 Intelligent-Tiering moves cold files to cheaper tiers)")
    lines.append("largest cost lines:")
    lines += [f"  {line.service} {line.item}: {usd(line.usd)}" for line in result.largest_lines()]
    if size.growth_bytes_per_month:
        growth = forecast_growth_usd(result)
        lines.append(f"the mirror grows about {human_bytes(size.growth_bytes_per_month)} a month: "
                     f"about {usd(growth)} more each month in storage")
    lines.append(f"one-time: {usd(result.first_month.one_time_total)} (the initial upload)")
    if result.fleet is not None:
        lines += render_fleet_lines(result.fleet)
    lines += [f"  note: {note}" for note in size.notes]
    lines.append(f"prices as of {result.first_month.prices_as_of}")
    return lines


def forecast_growth_usd(result: Forecast) -> Decimal:
    """What a month's growth adds to the storage line, at the first tier's rate (an estimate)."""
    first = result.first_month
    storage = next((line for line in first.monthly if line.item.startswith("storage")), None)
    if storage is None or storage.quantity == 0:
        return Decimal(0)
    rate = storage.usd / storage.quantity
    return Decimal(result.size.growth_bytes_per_month) / Decimal(2**30) * rate


def to_json(result: Forecast) -> dict[str, Any]:
    def estimate(e: CostEstimate) -> dict[str, Any]:
        return {"monthly_usd": f"{e.monthly_total:.2f}", "one_time_usd": f"{e.one_time_total:.2f}",
                "by_service": {k: f"{v:.2f}" for k, v in e.by_service().items()},
                "lines": [{"service": line.service, "item": line.item, "usd": f"{line.usd:.2f}"} for line in e.monthly],
                "assumptions": list(e.assumptions)}

    return {
        "monthly_usd": f"{result.monthly:.2f}",
        "budget_usd": None if result.budget is None else f"{result.budget:.2f}",
        "over_budget": result.over_budget,
        "verdict": verdict_line(result),
        "size": result.size.to_json(),
        "first_month": estimate(result.first_month),
        "steady_state": estimate(result.steady),
        "largest": [{"service": line.service, "item": line.item, "usd": f"{line.usd:.2f}"}
                    for line in result.largest_lines()],
        "prices_as_of": result.first_month.prices_as_of,
        "fleet_first_sync": None if result.fleet is None else {
            "workers": result.fleet.plan.workers, "hours": f"{result.fleet.hours}",
            "usd": f"{result.fleet.total:.2f}", "nat_avoided_usd": f"{result.fleet.avoided.usd:.2f}",
            "lines": [{"service": line.service, "item": line.item, "usd": f"{line.usd:.2f}"}
                      for line in result.fleet.lines]},
    }
