"""The cost check: gathers spend, forecast, budgets and the mirror's model into one :class:`CostReport`.

The AWS clients are passed in; every source that fails is recorded with its reason, and the rest still
report.  The exit code rule lives in :meth:`CostReport.exit_code`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from cloudpypi.costs.aws import (
    Budget,
    CostDataUnavailable,
    Spend,
    account_id,
    read_budgets,
    read_forecast,
    read_month_to_date,
)
from cloudpypi.costs.model import BudgetCheck, CostEstimate, project_month
from cloudpypi.costs.prices import Prices

EXIT_OK = 0
EXIT_UNCHECKED = 1  # neither Cost Explorer nor Budgets answered: spend could not be checked
EXIT_OVER_BUDGET = 3  # actual or forecast spend passes a budget's limit


@dataclass(frozen=True)
class Forecast:
    amount: Decimal
    source: str  # "cost-explorer" | "projection"
    label: str


@dataclass
class CostReport:
    today: date
    prices: Prices
    estimate: CostEstimate
    spend: Spend | None = None
    forecast: Forecast | None = None
    budgets: list[Budget] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # source -> reason
    aws_checked: bool = True

    @property
    def ce_requests(self) -> int:
        """Cost Explorer requests this check made (each is billed): the spend pages and one forecast."""
        if self.spend is None:
            return 1 if "spend" in self.errors else 0
        return self.spend.requests + 1

    def budget_checks(self) -> list[tuple[Budget, BudgetCheck]]:
        """Each budget against the highest actual and forecast figures any source gave."""
        checks = []
        for budget in self.budgets:
            actuals = [x for x in (self.spend.total if self.spend else None, budget.actual) if x is not None]
            forecasts = [x for x in (self.forecast.amount if self.forecast else None, budget.forecast)
                         if x is not None]
            checks.append((budget, BudgetCheck(budget.limit, max(actuals, default=None),
                                               max(forecasts, default=None))))
        return checks

    def exit_code(self) -> int:
        if any(check.exceeded for _, check in self.budget_checks()):
            return EXIT_OVER_BUDGET
        if self.aws_checked and self.spend is None and not self.budgets and "budgets" in self.errors:
            return EXIT_UNCHECKED
        return EXIT_OK


def forecast_for_month(ce: Any, today: date, spend: Spend) -> tuple[Forecast, str | None]:
    """Cost Explorer's forecast (the spend before today plus its forecast from today), or a projection
    from the daily spend so far, labelled with why the forecast was unavailable."""
    try:
        rest = read_forecast(ce, today)
        return Forecast(spend.before(today) + rest, "cost-explorer", "forecast (Cost Explorer)"), None
    except CostDataUnavailable as exc:
        label = f"projection (Cost Explorer forecast unavailable: {exc})"
        return Forecast(project_month(spend.daily, today), "projection", label), str(exc)


def gather(*, today: date, prices: Prices, estimate: CostEstimate, ce: Any = None, budgets_client: Any = None,
           sts: Any = None, account: str | None = None, budget_name: str | None = None) -> CostReport:
    """Read every AWS source it is given a client for; without clients, report the model alone."""
    report = CostReport(today=today, prices=prices, estimate=estimate, aws_checked=ce is not None)
    if ce is not None:
        try:
            report.spend = read_month_to_date(ce, today)
        except CostDataUnavailable as exc:
            report.errors["spend"] = str(exc)
        if report.spend is not None:
            report.forecast, reason = forecast_for_month(ce, today, report.spend)
            if reason:
                report.errors["forecast"] = reason
    if budgets_client is not None:
        try:
            acct = account or account_id(sts)
            report.budgets = read_budgets(budgets_client, acct, budget_name)
            if not report.budgets:
                report.errors["budgets"] = (f"no monthly cost budget named {budget_name!r}" if budget_name
                                            else "no monthly cost budget in this account")
        except CostDataUnavailable as exc:
            report.errors["budgets"] = str(exc)
    return report
