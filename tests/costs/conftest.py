"""Fixtures for the cost tests: a moto server of their own (Cost Explorer keeps a queue of preloaded
results per server, so each test starts from a reset server), and helpers to preload and to run the CLI."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from support.motoserver import MotoServer, moto_server

ACCOUNT = "123456789012"  # moto's default account


@pytest.fixture(scope="module")
def costs_moto() -> Iterator[MotoServer]:
    with moto_server() as server:
        yield server


@pytest.fixture
def aws(costs_moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """A reset moto server, with this process's AWS settings pointing at it."""
    costs_moto.reset()
    for key, value in costs_moto.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return costs_moto


def preload_cost_and_usage(server: MotoServer, *results: dict[str, Any]) -> None:
    """Queue GetCostAndUsage answers in moto (POST /moto-api/static/ce/cost-and-usage-results)."""
    request = urllib.request.Request(
        f"{server.url}/moto-api/static/ce/cost-and-usage-results",
        data=json.dumps({"results": list(results)}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201, f"moto refused the preload: HTTP {response.status}"


def daily_by_service(days: dict[str, dict[str, str]]) -> dict[str, Any]:
    """A GetCostAndUsage answer grouped by service: {"2026-11-01": {"Amazon S3": "1.50"}, ...}."""
    return {
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": day, "End": day},
                "Total": {},
                "Groups": [
                    {"Keys": [service], "Metrics": {"UnblendedCost": {"Amount": amount, "Unit": "USD"}}}
                    for service, amount in services.items()
                ],
                "Estimated": True,
            }
            for day, services in days.items()
        ],
        "DimensionValueAttributes": [],
    }


def create_budget(server: MotoServer, limit: str, name: str = "cloudpypi-monthly",
                  thresholds: tuple[tuple[str, int], ...] = (("ACTUAL", 50), ("ACTUAL", 80), ("ACTUAL", 100),
                                                             ("FORECASTED", 100))) -> None:
    server.client("budgets").create_budget(
        AccountId=ACCOUNT,
        Budget={"BudgetName": name, "BudgetLimit": {"Amount": limit, "Unit": "USD"}, "TimeUnit": "MONTHLY",
                "BudgetType": "COST"},
        NotificationsWithSubscribers=[
            {"Notification": {"NotificationType": kind, "ComparisonOperator": "GREATER_THAN",
                              "Threshold": value, "ThresholdType": "PERCENTAGE"},
             "Subscribers": [{"SubscriptionType": "EMAIL", "Address": "ops@example.com"}]}
            for kind, value in thresholds
        ],
    )
