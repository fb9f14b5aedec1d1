"""The report's pure parts: run and cost parsing, the chart scales, the SVG charts and the page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from cloudpypi.htmlreport.model import Mirror, Project, ReportModel, Run, parse_costs, parse_run
from cloudpypi.htmlreport.page import MAX_BARS, MAX_POINTS, render_page
from cloudpypi.htmlreport.svg import BYTES, COUNT, SECONDS, USD, Bar, Point, bar_chart, hbar_chart, line_chart

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def report_json(**overrides):
    data = {"origin": "https://pypi.org", "target": "s3://m/", "dry_run": False, "stopped": False,
            "mode": "changelog", "serial_before": 100, "serial_after": 110, "origin_serial": 112,
            "files_added": 3, "bytes_added": 3000, "files_deleted": 1, "files_failed": 0, "projects_failed": 0,
            "failures": [], "started_at": "2026-11-01T12:00:00Z", "finished_at": "2026-11-01T12:05:00Z",
            "duration_s": 300.0, "ok": True, "mirror": {"projects": 2, "files": 10, "bytes": 50_000}}
    data.update(overrides)
    return data


def a_run(i: int, **kw) -> Run:
    finished = T0 + timedelta(minutes=15 * i)
    values = {"started": finished - timedelta(seconds=30), "finished": finished, "duration_s": 30.0,
              "files_added": 2, "bytes_added": 1000 * i, "serial_after": 100 + i, "origin_serial": 100 + i,
              "mirror_files": 10 + i, "mirror_bytes": 10_000 + 1000 * i, "mirror_projects": 3}
    values.update(kw)
    return Run(**values)


def a_model(runs=(), **kw) -> ReportModel:
    mirror = Mirror("s3://mirror/", "https://pypi.org", serial=120, projects=3, files=20, bytes=123_456,
                    last_run=T0, last_success=T0)
    values = {"generated": T0 + timedelta(days=1), "mirror": mirror, "runs": tuple(runs), "origin_serial": 125,
              "largest": (Project("numpy", 5, 100_000), Project("idna", 2, 2_000))}
    values.update(kw)
    return ReportModel(**values)


# -- parsing -------------------------------------------------------------------------------------------

def test_a_sync_report_becomes_a_run_with_its_figures_and_lag():
    run = parse_run(report_json(failures=[{"project": "x", "reason": "404"}], ok=False, projects_failed=1))
    assert run is not None
    assert (run.duration_s, run.bytes_added, run.files_deleted, run.failures) == (300.0, 3000, 1, 1)
    assert run.finished == datetime(2026, 11, 1, 12, 5, tzinfo=UTC)
    assert run.lag == 2, "expected origin_serial - serial_after"
    assert (run.mirror_files, run.mirror_bytes, run.mirror_projects) == (10, 50_000, 2)
    assert run.result == "failed"


def test_a_dry_run_report_is_not_a_run():
    assert parse_run(report_json(dry_run=True)) is None


def test_a_report_without_mirror_totals_still_gives_the_run():
    data = report_json()
    del data["mirror"]
    run = parse_run(data)
    assert run is not None and run.mirror_bytes is None and run.bytes_added == 3000


@pytest.mark.parametrize("bad", [[], "text", {"started_at": "yesterday"}, report_json(bytes_added="lots"),
                                 report_json(failures="none"), report_json(duration_s=True)])
def test_a_document_that_is_not_a_sync_report_is_refused(bad):
    with pytest.raises(ValueError):
        parse_run(bad)


def test_cost_data_gives_spend_budget_and_the_model_lines():
    spend = parse_costs({
        "date": "2026-12-06", "month_to_date": {"total": "120.5"}, "forecast": {"usd": "610", "label": "CE"},
        "budgets": [{"name": "cloudpypi-monthly", "limit": "500"}],
        "mirror_model": {"monthly_usd": "540.2", "lines": [{"service": "S3", "item": "storage", "usd": "516.2"},
                                                           {"service": "EC2", "item": "t3.small", "usd": None}]}})
    assert spend.budget_usd == Decimal("500") and spend.forecast_usd == Decimal("610")
    assert spend.over_budget, "a forecast of 610 against a budget of 500 is over it"
    assert [line.what for line in spend.model_lines] == ["S3 storage"], "lines without an amount are left out"


@pytest.mark.parametrize("bad", [{}, [], {"mirror_model": {"monthly_usd": "NaN"}},
                                 {"mirror_model": {"monthly_usd": "twelve"}}])
def test_cost_data_that_is_not_costs_json_is_refused(bad):
    with pytest.raises(ValueError):
        parse_costs(bad)


# -- scales and charts ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("scale", "top", "labels"), [
    (COUNT, 0, ["0", "1", "2", "3", "4"]),
    (COUNT, 6, ["0", "2", "4", "6", "8"]),
    (COUNT, 9, ["0", "5", "10", "15", "20"]),
    (COUNT, 90, ["0", "25", "50", "75", "100"]),
    (BYTES, 8.3 * 2**20, ["0", "2.5 MiB", "5.0 MiB", "7.5 MiB", "10.0 MiB"]),
    (COUNT, 6500, ["0", "2k", "4k", "6k", "8k"]),
    (BYTES, 2_492_224, ["0", "1 MiB", "2 MiB", "3 MiB", "4 MiB"]),
    (SECONDS, 0.19, ["0", "0.05 s", "0.10 s", "0.15 s", "0.20 s"]),
    (SECONDS, 7000, ["0", "0.5 h", "1.0 h", "1.5 h", "2.0 h"]),
    (USD, 537.45, ["$0", "$200", "$400", "$600", "$800"]),
])
def test_axes_step_in_round_numbers_of_the_largest_unit_reached(scale, top, labels):
    y_max, label = scale.axis(top)
    assert y_max >= top
    assert [label(y_max * i / 4) for i in range(5)] == labels


def test_a_line_chart_draws_one_point_per_value_in_time_order():
    points = [Point(T0.timestamp() + 60 * i, v, f"value {v}") for i, v in ((2, 30), (0, 10), (1, 20))]
    svg = line_chart(points, label="Size", scale=COUNT)
    assert re.findall(r'data-value="([^"]+)"', svg) == ["10", "20", "30"]
    assert svg.count('class="point"') == 3 and '<path class="line"' in svg
    cys = [float(y) for y in re.findall(r'cy="([^"]+)"', svg)]
    assert cys[0] > cys[1] > cys[2], "a larger value is drawn higher (smaller y)"


def test_a_chart_with_no_data_says_so_instead_of_drawing_nothing():
    svg = bar_chart([], label="Runs", scale=COUNT, empty="No run reports yet")
    assert "No run reports yet" in svg and "<rect" not in svg


def test_chart_text_is_escaped():
    svg = bar_chart([Bar("<b>", 1, "<script>alert(1)</script>", kind="failed")], label="a & b", scale=COUNT)
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "a &amp; b" in svg
    assert 'class="bar failed"' in svg


def test_a_horizontal_bar_chart_marks_the_budget_line():
    svg = hbar_chart([Bar("Forecast", 610, "610"), Bar("Month to date", 120, "120")], label="Spend",
                     x_format=str, marker=(500.0, "budget $500"))
    assert svg.count('class="bar"') == 2 and 'class="marker"' in svg and "budget $500" in svg
    forecast_w, mtd_w = (float(w) for w in re.findall(r'<rect class="bar"[^>]* width="([^"]+)"', svg))
    marker_x = float(re.search(r'<line class="marker" x1="([^"]+)"', svg).group(1))
    assert forecast_w > mtd_w and 200 + mtd_w < marker_x < 200 + forecast_w, "the budget lies between the bars"


# -- the page --------------------------------------------------------------------------------------------

def test_an_empty_history_renders_a_page_that_says_what_is_missing():
    page = render_page(a_model(runs=(), mirror=Mirror("./mirror"), largest=(), origin_serial=None,
                               origin_note="not asked (--offline)"))
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    for text in ("No run reports yet", "No cost data given", "The mirror holds no projects yet",
                 "not asked (--offline)", "No run has succeeded yet"):
        assert text in page, f"expected {text!r} on the empty page"


def test_the_page_fetches_nothing_and_runs_no_script():
    page = render_page(a_model([a_run(i) for i in range(5)]))
    assert "<script" not in page.lower()
    assert re.search(r"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'", page)
    assert not re.search(r"""(?:src|href)=["'](?!data:|#)""", page), "no reference to anything outside the page"
    assert "@import" not in page and "url(" not in page


def test_the_page_shows_each_run_and_the_size_after_it():
    runs = [a_run(i) for i in range(1, 6)]
    page = render_page(a_model(runs))
    size_chart = page[page.index('id="size"'):page.index('id="runs"')]
    assert size_chart.count('class="point"') == 2 * (5 + 1), "5 runs and now, for bytes and for files"
    runs_part = page[page.index('id="runs"'):page.index('id="lag"')]
    assert runs_part.count('class="bar') == 3 * 5, "duration, bytes and failures of 5 runs"
    assert "numpy" in page and "5 events" in page, "largest projects, and lag now = 125 - 120"


def test_failure_reasons_and_names_from_the_origin_are_escaped():
    model = a_model([a_run(1)], mirror=Mirror("s3://<img src=x>/", "https://pypi.org"),
                    largest=(Project("<script>alert(1)</script>", 1, 10),))
    page = render_page(model)
    assert "<img src=x>" not in page and "<script>alert" not in page


def test_many_runs_are_drawn_one_bar_per_day_and_lines_are_thinned():
    runs = [a_run(i) for i in range(MAX_POINTS * 2)]  # 800 runs, 15 minutes apart: 9 days
    page = render_page(a_model(runs))
    runs_part = page[page.index('id="runs"'):page.index('id="lag"')]
    days = len({r.finished.date() for r in runs})
    assert len(runs) > MAX_BARS and runs_part.count('class="bar') == 3 * days
    assert "one bar per day (800 runs)" in runs_part
    size_part = page[page.index('id="size"'):page.index('id="runs"')]
    assert size_part.count('class="point"') <= 2 * (MAX_POINTS + 2)
    assert 'data-value="123456"' in size_part, "the newest point (the mirror now) is always kept"


def test_spend_over_the_budget_is_marked():
    spend = parse_costs({"month_to_date": {"total": "120"}, "forecast": {"usd": "610"},
                         "budgets": [{"name": "b", "limit": "500"}], "mirror_model": {"monthly_usd": "540"}})
    page = render_page(a_model(spend=spend))
    part = page[page.index('id="spend"'):page.index('id="largest"')]
    assert part.count('class="bar over"') == 2, "the forecast and the model are over 500; month to date is not"
    assert "over the budget" in part and "budget $500.00" in part
