"""`cloudpypi costs` against a real moto server: Cost Explorer results preloaded through moto's API, real
AWS Budgets calls, and the forecast fallback (moto has no GetCostForecast)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cloudpypi.cli import main

from .conftest import create_budget, daily_by_service, preload_cost_and_usage

pytestmark = pytest.mark.moto

TODAY = "2026-11-10"  # November: 30 days; the 1st to the 9th are complete
MODEL_ARGS = ["--mirror-bytes", str(50 * 2**30), "--mirror-files", "1000", "--egress-gb", "10"]


def run_costs(capsys: pytest.CaptureFixture[str], tmp_path: Path, *extra: str) -> tuple[int, str]:
    code = main(["costs", "--today", TODAY, "--report-dir", str(tmp_path), *MODEL_ARGS, *extra])
    return code, capsys.readouterr().out


def nine_days(amount: str = "2.00") -> dict:
    return daily_by_service({f"2026-11-{d:02d}": {"Amazon Simple Storage Service": amount,
                                                  "Amazon CloudFront": "0.50"} for d in range(1, 10)})


def test_month_to_date_total_printed_is_the_preloaded_cost_explorer_figure(aws, capsys, tmp_path) -> None:
    preload_cost_and_usage(aws, {
        "ResultsByTime": [{"TimePeriod": {"Start": "2026-11-01", "End": "2026-11-10"},
                           "Total": {"UnblendedCost": {"Amount": "37.42", "Unit": "USD"}},
                           "Groups": [], "Estimated": True}],
        "DimensionValueAttributes": [],
    })
    code, out = run_costs(capsys, tmp_path)
    assert code == 0, f"no budget to pass: expected exit 0, got {code}\n{out}"
    assert "Month to date" in out and "$37.42" in out, f"expected the preloaded $37.42 in:\n{out}"


def test_json_output_sums_services_and_ranks_them(aws, capsys, tmp_path) -> None:
    preload_cost_and_usage(aws, nine_days())
    code, out = run_costs(capsys, tmp_path, "--json")
    doc = json.loads(out)
    mtd = doc["month_to_date"]
    assert mtd["total"] == "22.5", f"9 days * (2.00 + 0.50): expected 22.5, got {mtd['total']}"
    assert [s["service"] for s in mtd["by_service"]] == ["Amazon Simple Storage Service", "Amazon CloudFront"]
    assert [s["usd"] for s in mtd["by_service"]] == ["18", "4.5"], mtd["by_service"]
    assert doc["cost_explorer_requests"] == 2, "one GetCostAndUsage page and one GetCostForecast"
    assert code == 0 and doc["exit_code"] == 0


def test_forecast_falls_back_to_a_labelled_projection_when_cost_explorer_has_none(aws, capsys, tmp_path) -> None:
    preload_cost_and_usage(aws, nine_days())
    _, out = run_costs(capsys, tmp_path, "--json")
    forecast = json.loads(out)["forecast"]
    assert forecast["source"] == "projection", forecast
    assert forecast["label"].startswith("projection (Cost Explorer forecast unavailable: GetCostForecast"), \
        f"the projection must say why: {forecast['label']!r}"
    assert forecast["usd"] == "75", f"mean of 9 complete days (2.50) * 30 days: expected 75, got {forecast['usd']}"


def test_budget_limit_actual_forecast_and_thresholds_are_shown(aws, capsys, tmp_path) -> None:
    preload_cost_and_usage(aws, nine_days())
    create_budget(aws, "500")
    code, out = run_costs(capsys, tmp_path)
    assert code == 0, f"$22.50 spent, $75 projected, $500 budget: expected exit 0, got {code}\n{out}"
    for text in ("Budget 'cloudpypi-monthly'", "$500.00", "within budget", "actual > 50%",
                 "forecasted > 100%", "Projection, whole month", "$75.00"):
        assert text in out, f"expected {text!r} in:\n{out}"


def test_actual_spend_past_the_budget_exits_3(aws, capsys, tmp_path) -> None:
    preload_cost_and_usage(aws, nine_days("60.00"))  # 9 * 60.50 = 544.50 > 500
    create_budget(aws, "500")
    code, out = run_costs(capsys, tmp_path)
    assert code == 3, f"actual $544.50 over a $500 budget: expected exit 3, got {code}\n{out}"
    assert "EXCEEDED" in out and "Spend passes the budget" in out, out


def test_forecast_past_the_budget_exits_3_while_actual_is_under(aws, capsys, tmp_path) -> None:
    preload_cost_and_usage(aws, nine_days("20.00"))  # actual 184.50; projection 20.50 * 30 = 615
    create_budget(aws, "500")
    code, out = run_costs(capsys, tmp_path, "--json")
    (budget,) = json.loads(out)["budgets"]
    assert (budget["actual_exceeded"], budget["forecast_exceeded"]) == (False, True), budget
    assert code == 3, f"forecast $615 over $500: expected exit 3, got {code}"


def test_unreachable_aws_is_reported_with_exit_1_and_the_model_still_prints(monkeypatch, capsys, tmp_path) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard port: connection refused
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "unused-test-key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "unused-test-secret-key")
    code, out = run_costs(capsys, tmp_path)
    assert code == 1, f"neither Cost Explorer nor Budgets answered: expected exit 1, got {code}\n{out}"
    assert "Mirror cost model" in out and "could not read spend" in out.lower(), out


def test_no_aws_prints_the_model_alone_with_prices_date(capsys, tmp_path) -> None:
    code, out = run_costs(capsys, tmp_path, "--no-aws")
    assert code == 0, out
    assert "AWS spend" not in out and "Total per month" in out, out
    assert "list prices as of" in out, out
    # 50 GiB at $0.023 = $1.15
    assert "$1.15" in out, f"expected S3 storage of 50 GiB at $1.15 in:\n{out}"


def test_budget_option_reads_only_that_budget(aws, capsys, tmp_path) -> None:
    """The dev server's role may read one budget only (DescribeBudget on its ARN), so fab passes --budget."""
    preload_cost_and_usage(aws, nine_days())
    create_budget(aws, "500", name="cloudpypi-monthly")
    create_budget(aws, "10", name="someone-elses")
    code, out = run_costs(capsys, tmp_path, "--budget", "cloudpypi-monthly", "--json")
    assert [b["name"] for b in json.loads(out)["budgets"]] == ["cloudpypi-monthly"], out
    assert code == 0, "the other, exceeded budget is not this check's business"
    code, out = run_costs(capsys, tmp_path, "--budget", "missing", "--json")
    assert "budgets" in json.loads(out)["errors"], f"a missing budget is reported: {out}"
