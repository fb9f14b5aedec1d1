"""The report page from a :class:`ReportModel`: the charts and tables it shows, rendered through one jinja2
template with autoescaping (project names and failure reasons come from the origin).  Pure: a model in,
one HTML string out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

import jinja2
from markupsafe import Markup

from cloudpypi.htmlreport.model import ReportModel, Run
from cloudpypi.htmlreport.svg import (
    BYTES,
    COUNT,
    SECONDS,
    Bar,
    Point,
    bar_chart,
    empty_chart,
    hbar_chart,
    line_chart,
    time_format,
)

MAX_BARS = 120  # more runs than this are drawn as one bar per day
MAX_POINTS = 400  # longer lines are thinned to about this many points (the newest always kept)


def human_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} PiB"


def human_duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 60:
        return f"{minutes:.0f} min"
    hours = minutes / 60
    if hours < 48:
        return f"{int(hours)} h {int(minutes % 60)} min"
    return f"{hours / 24:.1f} days"


def usd(amount: Decimal | float | None) -> str:
    if amount is None:
        return "n/a"
    return f"${Decimal(str(amount)).quantize(Decimal('0.01'), ROUND_HALF_UP):,}"


def count(value: float) -> str:
    return f"{value:,.0f}"


def when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


def _thin(points: list[Point]) -> list[Point]:
    if len(points) <= MAX_POINTS:
        return points
    step = -(-len(points) // MAX_POINTS)
    kept = points[::step]
    return kept if kept[-1] is points[-1] else [*kept, points[-1]]


def _svg(text: str) -> Markup:
    """Chart markup from svg.py, which escapes every text it puts in (labels, tooltips, project names)."""
    return Markup(text)  # noqa: S704 - built by svg.py from escaped parts


@dataclass(frozen=True)
class Chart:
    caption: str
    svg: Markup


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    intro: str
    charts: tuple[Chart, ...]
    note: str = ""


@dataclass(frozen=True)
class _Group:
    """Runs drawn as one bar: a single run, or every run of a day."""

    label: str
    tooltip_head: str
    runs: tuple[Run, ...]

    @property
    def kind(self) -> str:
        if any(r.stopped for r in self.runs):
            return "stopped"
        return "" if all(r.ok for r in self.runs) else "failed"


def _groups(runs: Sequence[Run]) -> tuple[list[_Group], str]:
    if len(runs) <= MAX_BARS:
        span = (runs[-1].finished - runs[0].finished).total_seconds() if runs else 0
        label = time_format(span)
        return [_Group(label(r.finished.timestamp()), f"run ending {when(r.finished)} ({r.result})", (r,))
                for r in runs], "one bar per run"
    days: dict[str, list[Run]] = {}
    for r in runs:
        days.setdefault(r.finished.strftime("%Y-%m-%d"), []).append(r)
    groups = [_Group(day[5:], f"{day}: {len(rs)} runs", tuple(rs)) for day, rs in days.items()]
    return groups, f"one bar per day ({len(runs)} runs)"


def _size_section(model: ReportModel) -> Section:
    sized = [r for r in model.runs if r.mirror_bytes is not None]
    byte_points = [Point(r.finished.timestamp(), r.mirror_bytes or 0,
                         f"{human_bytes(r.mirror_bytes or 0)} after the run ending {when(r.finished)}") for r in sized]
    file_points = [Point(r.finished.timestamp(), r.mirror_files or 0,
                         f"{count(r.mirror_files or 0)} files after the run ending {when(r.finished)}")
                   for r in sized if r.mirror_files is not None]
    m = model.mirror
    if m.files or m.bytes or sized:
        now = model.generated.timestamp()
        byte_points.append(Point(now, m.bytes, f"{human_bytes(m.bytes)} now ({when(model.generated)})"))
        file_points.append(Point(now, m.files, f"{count(m.files)} files now ({when(model.generated)})"))
    note = ""
    if model.runs and not sized:
        note = ("The run reports found carry no mirror totals (reports written before they did); "
                "the charts start with the next run.")
    return Section(
        "size", "Size over time",
        "The mirror's bytes and files after each run, from the run reports, and now, from the state.",
        (Chart("Bytes stored", _svg(line_chart(_thin(byte_points), label="Mirror size (bytes)", scale=BYTES,
                                                 empty="No runs with totals yet"))),
         Chart("Files stored", _svg(line_chart(_thin(file_points), label="Files in the mirror", scale=COUNT,
                                                 empty="No runs with totals yet")))),
        note)


def _runs_section(model: ReportModel) -> Section:
    groups, how = _groups(model.runs)
    duration = [Bar(g.label, sum(r.duration_s for r in g.runs),
                    f"{g.tooltip_head}: {human_duration(sum(r.duration_s for r in g.runs))}", g.kind) for g in groups]
    added = [Bar(g.label, sum(r.bytes_added for r in g.runs),
                 f"{g.tooltip_head}: {human_bytes(sum(r.bytes_added for r in g.runs))} in "
                 f"{count(sum(r.files_added for r in g.runs))} files added, "
                 f"{count(sum(r.files_deleted for r in g.runs))} deleted", g.kind) for g in groups]
    failures = [Bar(g.label, sum(r.failures for r in g.runs),
                    f"{g.tooltip_head}: {sum(r.failures for r in g.runs)} failures "
                    f"({sum(r.files_failed for r in g.runs)} files)", "failed") for g in groups]
    empty = "No run reports yet"
    intro = (f"Duration, bytes added and failures of each sync run ({how}). Red marks a run that failed, "
             "amber one stopped by a signal (it resumes on the next run).")
    return Section("runs", "Runs", intro, (
        Chart("Duration", _svg(bar_chart(duration, label="Run duration", scale=SECONDS, empty=empty))),
        Chart("Bytes added", _svg(bar_chart(added, label="Bytes added per run", scale=BYTES, empty=empty))),
        Chart("Failures (failed projects and run-level errors)",
              _svg(bar_chart(failures, label="Failures per run", scale=COUNT, empty=empty))),
    ))


def _lag_section(model: ReportModel) -> Section:
    points = [Point(r.finished.timestamp(), r.lag or 0,
                    f"{count(r.lag or 0)} events behind after the run ending {when(r.finished)}")
              for r in model.runs if r.lag is not None]
    if model.lag is not None:
        points.append(Point(model.generated.timestamp(), model.lag,
                            f"{count(model.lag)} events behind now ({when(model.generated)})"))
    since = model.since_last_success_s
    intro = ("How many origin events (its serial minus the mirror's) the mirror was behind when each run ended. "
             + (f"The last successful run ended {human_duration(since)} ago." if since is not None
                else "No run has succeeded yet."))
    note = "" if model.lag is not None else f"The origin's serial now is unknown: {model.origin_note or 'not asked'}."
    return Section("lag", "Lag behind the origin", intro,
                   (Chart("Events behind the origin", _svg(line_chart(
                       _thin(points), label="Lag behind the origin (events)", scale=COUNT,
                       empty="No serials recorded yet"))),), note)


def _spend_section(model: ReportModel) -> Section:
    spend = model.spend
    if spend is None:
        return Section("spend", "Spend against the budget",
                       "Pass cost data to see it here: `cloudpypi costs --json > costs.json`, then "
                       "`cloudpypi report --costs costs.json` (or `fab report --costs`).",
                       (Chart("", _svg(empty_chart("Spend against the budget", "No cost data given"))),))
    bars = [Bar(name, float(amount), f"{name}: {usd(amount)}", "over" if over else "")
            for name, amount in (("Month to date", spend.month_to_date_usd),
                                 ("Forecast, whole month", spend.forecast_usd),
                                 ("Cost model, per month", spend.model_monthly_usd)) if amount is not None
            for over in [spend.budget_usd is not None and amount > spend.budget_usd]]
    marker = (float(spend.budget_usd), f"budget {usd(spend.budget_usd)}") if spend.budget_usd is not None else None
    lines = sorted(spend.model_lines, key=lambda line: line.usd, reverse=True)[:8]
    line_bars = [Bar(line.what, float(line.usd), f"{line.what}: {usd(line.usd)} a month") for line in lines]
    verdict = ("over the budget" if spend.over_budget else "within the budget" if spend.budget_usd is not None
               else "no budget found")
    intro = (f"AWS spend this month ({spend.date or 'date unknown'}), its forecast and the mirror's own cost "
             f"model against the budget{f' {spend.budget_name!r}' if spend.budget_name else ''}: {verdict}.")
    note = f"Forecast: {spend.forecast_label}." if spend.forecast_label else ""
    return Section("spend", "Spend against the budget", intro, (
        Chart("This month, in USD", _svg(hbar_chart(
            bars, label="Spend against the budget (USD)", x_format=usd, marker=marker,
            empty="No spend figures in the cost data"))),
        Chart("The cost model's largest lines, USD a month", _svg(hbar_chart(
            line_bars, label="Largest lines of the cost model (USD a month)", x_format=usd,
            empty="No cost model lines"))),
    ), note)


def _largest_section(model: ReportModel) -> Section:
    bars = [Bar(p.name, p.bytes, f"{p.name}: {human_bytes(p.bytes)} in {count(p.files)} files")
            for p in model.largest]
    return Section("largest", "Largest projects",
                   f"The {len(bars)} projects holding the most bytes in the mirror, from its state.",
                   (Chart("Bytes stored per project", _svg(hbar_chart(
                       bars, label="Largest projects (bytes)", x_format=human_bytes,
                       empty="The mirror holds no projects yet"))),))


def build_sections(model: ReportModel) -> list[Section]:
    return [_size_section(model), _runs_section(model), _lag_section(model), _spend_section(model),
            _largest_section(model)]


def summary(model: ReportModel) -> list[tuple[str, str]]:
    m = model.mirror
    lag = (f"{count(model.lag)} events" if model.lag is not None else "unknown")
    since = model.since_last_success_s
    return [
        ("Size", human_bytes(m.bytes)),
        ("Files", count(m.files)),
        ("Projects", count(m.projects)),
        ("Serial", "none yet" if m.serial is None else str(m.serial)),
        ("Lag behind the origin", lag),
        ("Last success", "never" if since is None else f"{human_duration(since)} ago"),
        ("Last run", f"{when(m.last_run)}" + (f" ({m.last_result})" if m.last_result else "")),
        ("Runs shown", count(len(model.runs))),
    ]


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("cloudpypi", "templates"), autoescape=True,
                              trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)


def render_page(model: ReportModel, recent: int = 15) -> str:
    """The whole page, one string: inline style and SVG, no script, nothing fetched when it is opened."""
    runs: list[dict[str, Any]] = [
        {"finished": when(r.finished), "mode": r.mode, "duration": human_duration(r.duration_s),
         "files": count(r.files_added), "bytes": human_bytes(r.bytes_added), "deleted": count(r.files_deleted),
         "failures": r.failures, "result": r.result}
        for r in reversed(model.runs[-recent:])
    ]
    return _environment().get_template("report.html.j2").render(
        model=model, generated=when(model.generated), summary=summary(model), sections=build_sections(model),
        recent=runs, notes=model.notes)
