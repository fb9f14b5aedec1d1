"""Presenting a :class:`CostReport`: rich tables for people, a JSON document for programs.  No I/O besides
writing to the console it is given."""

from __future__ import annotations

import calendar
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from cloudpypi.costs.check import CostReport
from cloudpypi.costs.model import CostLine


def usd(amount: Decimal | None) -> str:
    """$1,234.57; sub-cent amounts keep four places ($0.0040) so they do not read as zero."""
    if amount is None:
        return "n/a"
    if 0 < abs(amount) < Decimal("0.00005"):
        return "<$0.0001"
    if amount != 0 and abs(amount) < Decimal("0.01"):
        return f"${amount.quantize(Decimal('0.0001'), ROUND_HALF_UP)}"
    return f"${amount.quantize(Decimal('0.01'), ROUND_HALF_UP):,}"


def quantity(value: Decimal, unit: str) -> str:
    if unit.startswith("GB"):
        return f"{value.quantize(Decimal('0.01'), ROUND_HALF_UP):,} {unit}"
    if value == value.to_integral_value():
        return f"{int(value):,} {unit}"
    return f"{value.quantize(Decimal('0.1'), ROUND_HALF_UP):,} {unit}"


def _money(amount: Decimal | None) -> str | None:
    return None if amount is None else f"{amount.quantize(Decimal('0.000001'), ROUND_HALF_UP).normalize():f}"


def _line_json(line: CostLine) -> dict[str, Any]:
    return {"service": line.service, "item": line.item, "quantity": f"{line.quantity.normalize():f}",
            "unit": line.unit, "usd": _money(line.usd), "note": line.note}


def to_json(report: CostReport) -> dict[str, Any]:
    """A JSON-ready document.  Money is a decimal string in USD, so no figure loses a cent to floats."""
    spend = report.spend
    doc: dict[str, Any] = {
        "date": report.today.isoformat(),
        "exit_code": report.exit_code(),
        "month_to_date": None if spend is None else {
            "start": spend.start.isoformat(), "end": spend.end.isoformat(), "metric": spend.metric,
            "total": _money(spend.total), "unit": spend.unit, "estimated": spend.estimated,
            "by_service": [{"service": name, "usd": _money(amount)} for name, amount in spend.by_service],
        },
        "forecast": None if report.forecast is None else {
            "usd": _money(report.forecast.amount), "source": report.forecast.source,
            "label": report.forecast.label,
        },
        "budgets": [
            {"name": b.name, "limit": _money(b.limit), "unit": b.unit,
             "actual": _money(check.actual), "forecast": _money(check.forecast),
             "budget_actual": _money(b.actual), "budget_forecast": _money(b.forecast),
             "thresholds": [t.describe() for t in b.thresholds],
             "actual_exceeded": check.actual_exceeded, "forecast_exceeded": check.forecast_exceeded}
            for b, check in report.budget_checks()
        ],
        "mirror_model": {
            "monthly_usd": _money(report.estimate.monthly_total),
            "lines": [_line_json(line) for line in report.estimate.monthly],
            "one_time_usd": _money(report.estimate.one_time_total),
            "one_time": [_line_json(line) for line in report.estimate.one_time],
            "assumptions": list(report.estimate.assumptions),
        },
        "prices": {"as_of": report.prices.as_of, "region": report.prices.region,
                   "sources": dict(report.prices.sources)},
        "cost_explorer_requests": report.ce_requests,
        "cost_explorer_requests_usd": _money(report.ce_requests * report.prices.ce_request),
        "errors": dict(report.errors),
    }
    return doc


def render(report: CostReport, console: Console, top: int = 5) -> None:
    """Print the report as tables: spend, forecast and budgets, then the mirror's own cost model."""
    month = f"{calendar.month_name[report.today.month]} {report.today.year}"
    aws = Table(title=f"AWS spend, {month}", title_justify="left", show_header=True)
    aws.add_column("What")
    aws.add_column("USD", justify="right")
    aws.add_column("Source / note")
    spend = report.spend
    if spend is not None:
        through = f"{spend.start.isoformat()} to {report.today.isoformat()}"
        aws.add_row("Month to date", usd(spend.total),
                    f"Cost Explorer, {through}" + (" (estimated)" if spend.estimated else ""))
        for name, amount in spend.by_service[:top]:
            aws.add_row(f"  {name}", usd(amount), "")
        if len(spend.by_service) > top:
            rest = sum((a for _, a in spend.by_service[top:]), Decimal(0))
            aws.add_row(f"  {len(spend.by_service) - top} other services", usd(rest), "")
    elif report.aws_checked:
        aws.add_row("Month to date", "unknown", report.errors.get("spend", ""))
    if report.forecast is not None:
        aws.add_row("Forecast, whole month" if report.forecast.source == "cost-explorer"
                    else "Projection, whole month", usd(report.forecast.amount), report.forecast.label)
    for budget, check in report.budget_checks():
        state = ("EXCEEDED" if check.actual_exceeded else
                 "FORECAST EXCEEDS" if check.forecast_exceeded else "within budget")
        aws.add_row(f"Budget {budget.name!r}", usd(budget.limit),
                    f"{budget.time_unit.lower()} limit: {state}")
        aws.add_row("  actual (AWS Budgets)", usd(budget.actual), "")
        aws.add_row("  forecast (AWS Budgets)", usd(budget.forecast), "")
        aws.add_row("  thresholds", "", ", ".join(t.describe() for t in budget.thresholds) or "none")
    if "budgets" in report.errors:
        aws.add_row("Budget", "unknown", report.errors["budgets"])
    if report.aws_checked:
        console.print(aws)

    model = Table(title="Mirror cost model, per month (list prices)", title_justify="left")
    model.add_column("Service")
    model.add_column("Item")
    model.add_column("Quantity", justify="right")
    model.add_column("USD", justify="right")
    model.add_column("Note")
    for line in report.estimate.monthly:
        model.add_row(line.service, line.item, quantity(line.quantity, line.unit), usd(line.usd), line.note)
    total = usd(report.estimate.monthly_total)
    model.add_row("", "[bold]Total per month[/bold]", "", f"[bold]{total}[/bold]", "")
    for line in report.estimate.one_time:
        model.add_row(line.service, line.item, quantity(line.quantity, line.unit), usd(line.usd),
                      ("one-time; " + line.note).rstrip("; "))
    console.print(model)
    for assumption in report.estimate.assumptions:
        console.print(f"  assumption: {assumption}")
    console.print(f"  prices: {report.prices.region} list prices as of {report.prices.as_of}, from "
                  "cloudpypi/data/prices.json (which names the AWS pricing page of each)")
    if report.ce_requests:
        console.print(f"  this check made {report.ce_requests} Cost Explorer request(s), billed at "
                      f"{usd(report.prices.ce_request)} each")
    code = report.exit_code()
    if code == 3:
        console.print("[bold red]Spend passes the budget.[/bold red]")
    elif code == 1:
        console.print("[bold red]Could not read spend or budgets: the budget was not checked.[/bold red]")
