"""Readers for the account's real spend: Cost Explorer (spend, forecast) and AWS Budgets.

Each reader takes a boto3 client, so tests can hand in one pointed at a moto server.  The clients come from
the standard credential chain (the dev server's instance role) and honour ``AWS_ENDPOINT_URL``.
Cost Explorer is billed per request (``cost_explorer.api_request_usd`` in prices.json): one cost check makes
one GetCostAndUsage request (more only when paginated) and one GetCostForecast request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cloudpypi.errors import CloudPyPIError

log = logging.getLogger(__name__)

ZERO = Decimal(0)


class CostDataUnavailable(CloudPyPIError):
    """An AWS cost API refused or failed; the message says which and why."""


@dataclass(frozen=True)
class Spend:
    """Month-to-date spend: the total, per service (largest first) and per day."""

    start: date
    end: date  # exclusive
    metric: str
    unit: str
    total: Decimal
    by_service: tuple[tuple[str, Decimal], ...]
    daily: tuple[tuple[date, Decimal], ...]
    estimated: bool
    requests: int  # Cost Explorer requests made (each is billed)

    def before(self, day: date) -> Decimal:
        return sum((amount for d, amount in self.daily if d < day), ZERO)


@dataclass(frozen=True)
class Threshold:
    kind: str  # ACTUAL | FORECASTED
    comparison: str  # GREATER_THAN | LESS_THAN | EQUAL_TO
    value: Decimal
    unit: str  # PERCENTAGE | ABSOLUTE_VALUE

    def describe(self) -> str:
        amount = f"{self.value.normalize():f}%" if self.unit == "PERCENTAGE" else f"${self.value:.2f}"
        return f"{self.kind.lower()} > {amount}" if self.comparison == "GREATER_THAN" else \
            f"{self.kind.lower()} {self.comparison.lower().replace('_', ' ')} {amount}"


@dataclass(frozen=True)
class Budget:
    name: str
    limit: Decimal
    unit: str
    time_unit: str
    actual: Decimal | None
    forecast: Decimal | None
    thresholds: tuple[Threshold, ...]


def describe_error(exc: Exception, operation: str) -> str:
    """One line saying why an AWS call failed, without HTML bodies or tracebacks."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", "")) or "error"
        message = str(err.get("Message", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if not message or message.lstrip().startswith("<"):  # an HTML error page (e.g. moto's 500)
            message = f"HTTP {status}" if status else ""
        if code.isdigit():
            return f"{operation} failed: {message or 'HTTP ' + code}"
        return f"{operation} failed: {code}" + (f": {message}" if message else "")
    return f"{operation} failed: {exc}"


def _amount(metrics: dict[str, Any], metric: str) -> tuple[Decimal, str] | None:
    """The amount of ``metric`` in a Total/Metrics mapping; the only metric present if it is not there."""
    entry = metrics.get(metric)
    if entry is None and len(metrics) == 1:
        entry = next(iter(metrics.values()))
    if not entry:
        return None
    try:
        return Decimal(str(entry["Amount"])), str(entry.get("Unit", "USD"))
    except (KeyError, InvalidOperation):
        return None


def month_start(today: date) -> date:
    return today.replace(day=1)


def next_month_start(today: date) -> date:
    return (today.replace(day=28) + timedelta(days=4)).replace(day=1)


def read_month_to_date(ce: Any, today: date, metric: str = "UnblendedCost") -> Spend:
    """GetCostAndUsage from the 1st through today, daily, grouped by service.

    A day's figure is its ``Total`` when Cost Explorer gives one (it does not when grouping), otherwise the
    sum of its service groups.
    """
    start, end = month_start(today), today + timedelta(days=1)
    request: dict[str, Any] = {
        "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
        "Granularity": "DAILY",
        "Metrics": [metric],
        "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}],
    }
    daily: dict[date, Decimal] = {}
    services: dict[str, Decimal] = {}
    unit, estimated, requests = "USD", False, 0
    while True:
        try:
            page = ce.get_cost_and_usage(**request)
        except (ClientError, BotoCoreError) as exc:
            raise CostDataUnavailable(describe_error(exc, "Cost Explorer GetCostAndUsage")) from None
        requests += 1
        for result in page.get("ResultsByTime", []):
            day = date.fromisoformat(result["TimePeriod"]["Start"][:10])
            estimated = estimated or bool(result.get("Estimated"))
            group_sum = ZERO
            for group in result.get("Groups", []):
                found = _amount(group.get("Metrics", {}), metric)
                if found is None:
                    continue
                amount, unit = found
                name = " / ".join(group.get("Keys", [])) or "(unnamed)"
                services[name] = services.get(name, ZERO) + amount
                group_sum += amount
            total = _amount(result.get("Total", {}), metric)
            if total is not None:
                unit = total[1]
            daily[day] = daily.get(day, ZERO) + (total[0] if total is not None else group_sum)
        token = page.get("NextPageToken")
        if not token:
            break
        request["NextPageToken"] = token
    by_service = tuple(sorted(services.items(), key=lambda kv: (-kv[1], kv[0])))
    return Spend(start, end, metric, unit, sum(daily.values(), ZERO), by_service,
                 tuple(sorted(daily.items())), estimated, requests)


def read_forecast(ce: Any, today: date) -> Decimal:
    """Cost Explorer's forecast of spend from today to the end of the month (not including the past)."""
    try:
        response = ce.get_cost_forecast(
            TimePeriod={"Start": today.isoformat(), "End": next_month_start(today).isoformat()},
            Metric="UNBLENDED_COST",
            Granularity="MONTHLY",
        )
        return Decimal(str(response["Total"]["Amount"]))
    except (ClientError, BotoCoreError) as exc:
        raise CostDataUnavailable(describe_error(exc, "GetCostForecast")) from None
    except (KeyError, InvalidOperation) as exc:
        raise CostDataUnavailable(f"GetCostForecast gave no usable total ({exc})") from None


def account_id(sts: Any) -> str:
    try:
        return str(sts.get_caller_identity()["Account"])
    except (ClientError, BotoCoreError) as exc:
        raise CostDataUnavailable(describe_error(exc, "STS GetCallerIdentity")) from None


def _spend(entry: dict[str, Any] | None) -> Decimal | None:
    if not entry:
        return None
    try:
        return Decimal(str(entry["Amount"]))
    except (KeyError, InvalidOperation):
        return None


def read_budgets(client: Any, account: str, name: str | None = None) -> list[Budget]:
    """Monthly cost budgets of the account (or the one named), each with its notification thresholds."""
    try:
        if name:
            raw = [client.describe_budget(AccountId=account, BudgetName=name)["Budget"]]
        else:
            raw = []
            for page in client.get_paginator("describe_budgets").paginate(AccountId=account):
                raw.extend(page.get("Budgets", []))
        budgets = []
        for b in raw:
            if not name and (b.get("BudgetType") != "COST" or b.get("TimeUnit") != "MONTHLY"):
                continue
            notes = client.describe_notifications_for_budget(AccountId=account, BudgetName=b["BudgetName"])
            thresholds = tuple(
                Threshold(n["NotificationType"], n["ComparisonOperator"], Decimal(str(n["Threshold"])),
                          n.get("ThresholdType", "PERCENTAGE"))
                for n in notes.get("Notifications", [])
            )
            spend = b.get("CalculatedSpend", {})
            budgets.append(Budget(
                name=b["BudgetName"],
                limit=Decimal(str(b["BudgetLimit"]["Amount"])),
                unit=b["BudgetLimit"].get("Unit", "USD"),
                time_unit=b.get("TimeUnit", "MONTHLY"),
                actual=_spend(spend.get("ActualSpend")),
                forecast=_spend(spend.get("ForecastedSpend")),
                thresholds=tuple(sorted(thresholds, key=lambda t: (t.kind, t.value))),
            ))
        return budgets
    except (ClientError, BotoCoreError) as exc:
        raise CostDataUnavailable(describe_error(exc, "AWS Budgets DescribeBudgets")) from None
