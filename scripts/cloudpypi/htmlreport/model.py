"""The figures of the HTML report as plain values, and the pure parsers that build them.

A run is one sync report (the JSON that ``cloudpypi sync --report-dir DIR`` writes).  Reports written
since the run report carried the mirror's totals (its ``mirror`` member) give the size over time; older ones
still give each run's duration, bytes, failures and lag.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any


def parse_time(value: Any) -> datetime:
    """An ISO 8601 time (``2026-12-06T10:00:00Z``) as an aware UTC datetime; ValueError otherwise."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"not a time: {value!r}")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _int(data: dict[str, Any], key: str) -> int:
    value = data.get(key) or 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key}: expected a number, got {value!r}")
    return int(value)


def _optional_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


@dataclass(frozen=True)
class Run:
    """One sync run, as its report tells it."""

    started: datetime
    finished: datetime
    duration_s: float
    mode: str = ""
    files_added: int = 0
    bytes_added: int = 0
    files_deleted: int = 0
    files_failed: int = 0
    projects_failed: int = 0
    failures: int = 0  # entries in the report's failures list (failed projects and run-level failures)
    ok: bool = True
    stopped: bool = False
    serial_after: int | None = None
    origin_serial: int | None = None
    mirror_files: int | None = None  # the mirror's totals when the run ended, when the report has them
    mirror_bytes: int | None = None
    mirror_projects: int | None = None

    @property
    def lag(self) -> int | None:
        """Events the mirror was behind the origin when the run ended (never below 0)."""
        if self.serial_after is None or self.origin_serial is None:
            return None
        return max(0, self.origin_serial - self.serial_after)

    @property
    def result(self) -> str:
        return "stopped" if self.stopped else "ok" if self.ok else "failed"


def parse_run(data: Any) -> Run | None:
    """A run from a sync report's JSON; None for a dry run (it changed nothing).  ValueError when the
    document is not a sync report."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    if data.get("dry_run"):
        return None
    started = parse_time(data.get("started_at"))
    finished = parse_time(data.get("finished_at")) if data.get("finished_at") else started
    duration = data.get("duration_s") or 0
    if isinstance(duration, bool) or not isinstance(duration, int | float):
        raise ValueError(f"duration_s: expected a number, got {duration!r}")
    failures = data.get("failures") or []
    if not isinstance(failures, list):
        raise ValueError("failures: expected a list")
    mirror = data.get("mirror") if isinstance(data.get("mirror"), dict) else {}
    return Run(
        started=started,
        finished=finished,
        duration_s=float(duration),
        mode=str(data.get("mode") or ""),
        files_added=_int(data, "files_added"),
        bytes_added=_int(data, "bytes_added"),
        files_deleted=_int(data, "files_deleted"),
        files_failed=_int(data, "files_failed"),
        projects_failed=_int(data, "projects_failed"),
        failures=len(failures),
        ok=bool(data.get("ok", not failures)),
        stopped=bool(data.get("stopped")),
        serial_after=_optional_int(data.get("serial_after")),
        origin_serial=_optional_int(data.get("origin_serial")),
        mirror_files=_optional_int(mirror.get("files")),
        mirror_bytes=_optional_int(mirror.get("bytes")),
        mirror_projects=_optional_int(mirror.get("projects")),
    )


@dataclass(frozen=True)
class Project:
    name: str
    files: int
    bytes: int


@dataclass(frozen=True)
class Mirror:
    """The mirror as its state stands now."""

    target: str
    origin: str = ""
    serial: int | None = None
    projects: int = 0
    files: int = 0
    bytes: int = 0
    projects_to_retry: int = 0
    pending_deletions: int = 0
    last_run: datetime | None = None
    last_success: datetime | None = None
    last_result: str | None = None


@dataclass(frozen=True)
class CostLine:
    what: str
    usd: Decimal


@dataclass(frozen=True)
class Spend:
    """This month's spend against the budget, from ``cloudpypi costs --json``."""

    date: str = ""
    budget_name: str = ""
    budget_usd: Decimal | None = None
    month_to_date_usd: Decimal | None = None
    forecast_usd: Decimal | None = None
    forecast_label: str = ""
    model_monthly_usd: Decimal | None = None
    model_lines: tuple[CostLine, ...] = ()

    @property
    def over_budget(self) -> bool:
        if self.budget_usd is None:
            return False
        figures = [x for x in (self.month_to_date_usd, self.forecast_usd) if x is not None]
        return any(x > self.budget_usd for x in figures)


def _money(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not an amount of money: {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"not an amount of money: {value!r}")
    return amount


def parse_costs(doc: Any) -> Spend:
    """The spend figures of a ``cloudpypi costs --json`` document; ValueError when it is not one."""
    if not isinstance(doc, dict) or "mirror_model" not in doc:
        raise ValueError("not a `cloudpypi costs --json` document (no mirror_model)")
    mtd = doc.get("month_to_date") or {}
    forecast = doc.get("forecast") or {}
    budgets = [b for b in doc.get("budgets") or [] if isinstance(b, dict)]
    budget = budgets[0] if budgets else {}
    model = doc.get("mirror_model") or {}
    lines = tuple(
        CostLine(f"{line.get('service', '')} {line.get('item', '')}".strip(), amount)
        for line in model.get("lines") or [] if isinstance(line, dict)
        for amount in [_money(line.get("usd"))] if amount is not None
    )
    return Spend(
        date=str(doc.get("date") or ""),
        budget_name=str(budget.get("name") or ""),
        budget_usd=_money(budget.get("limit")),
        month_to_date_usd=_money(mtd.get("total")) if isinstance(mtd, dict) else None,
        forecast_usd=_money(forecast.get("usd")) if isinstance(forecast, dict) else None,
        forecast_label=str(forecast.get("label") or "") if isinstance(forecast, dict) else "",
        model_monthly_usd=_money(model.get("monthly_usd")) if isinstance(model, dict) else None,
        model_lines=lines,
    )


@dataclass(frozen=True)
class ReportModel:
    """Everything the page shows."""

    generated: datetime
    mirror: Mirror
    runs: tuple[Run, ...] = ()  # oldest first
    origin_serial: int | None = None  # the origin's serial now, when it was asked
    origin_note: str = ""  # why the origin's serial is unknown
    largest: tuple[Project, ...] = ()
    spend: Spend | None = None
    notes: tuple[str, ...] = field(default=())  # inputs that could not be read, and why

    @property
    def lag(self) -> int | None:
        if self.origin_serial is None or self.mirror.serial is None:
            return None
        return max(0, self.origin_serial - self.mirror.serial)

    @property
    def since_last_success_s(self) -> float | None:
        if self.mirror.last_success is None:
            return None
        return max(0.0, (self.generated - self.mirror.last_success).total_seconds())
