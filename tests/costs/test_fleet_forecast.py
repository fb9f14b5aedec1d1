"""The first sync of a sync fleet, priced and timed before it runs; and the budget gate counting it."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from cloudpypi.costs.fleet import FleetPlan, FleetPrices, first_sync
from cloudpypi.costs.prices import load_prices
from cloudpypi.errors import ConfigError
from support.cli import run_cli

TB = 10**12


@pytest.fixture(scope="module")
def prices():
    return load_prices()


def test_hours_fall_with_workers_and_instance_hours_stay_put(prices):
    fleet_prices = FleetPrices.from_json(prices.fleet)
    one = first_sync(36 * TB, 736_000, FleetPlan(1, worker_rate_mb_s=100), prices, fleet_prices)
    ten = first_sync(36 * TB, 736_000, FleetPlan(10, worker_rate_mb_s=100), prices, fleet_prices)
    assert one.hours == Decimal("100.00")  # 36e12 B / 100e6 B/s = 360,000 s
    assert ten.hours == Decimal("10.00")
    assert one.lines[0].quantity == ten.lines[0].quantity == Decimal(100)
    assert abs(one.total - ten.total) < Decimal("0.01")


def test_the_nat_gateway_a_fleet_avoids_is_about_1600_usd_for_pypi(prices):
    estimate = first_sync(36 * TB, 736_000, FleetPlan(10), prices, FleetPrices.from_json(prices.fleet))
    assert Decimal(1400) < estimate.avoided.usd < Decimal(1700)
    assert all("NAT" not in line.item for line in estimate.lines)


def test_spot_is_cheaper_than_on_demand(prices):
    fleet_prices = FleetPrices.from_json(prices.fleet)
    spot = first_sync(TB, 1000, FleetPlan(4, spot=True), prices, fleet_prices)
    on_demand = first_sync(TB, 1000, FleetPlan(4, spot=False), prices, fleet_prices)
    assert spot.lines[0].usd < on_demand.lines[0].usd


def test_unknown_instance_types_and_empty_fleets_are_refused(prices):
    fleet_prices = FleetPrices.from_json(prices.fleet)
    with pytest.raises(ConfigError, match="no price for instance type"):
        first_sync(TB, 10, FleetPlan(2, instance_type="x9.huge"), prices, fleet_prices)
    with pytest.raises(ConfigError, match="at least one worker"):
        FleetPlan(0)


def test_forecast_counts_the_fleets_first_sync_in_the_first_month(tmp_path):
    config = tmp_path / "mirror.toml"
    config.write_text('[mirror]\norigin = "https://pypi.org"\ntarget = "s3://mirror"\n')

    def forecast(*extra: str) -> dict:
        proc = run_cli("forecast", "--config", str(config), "--no-state", "--json", "--budget", "100000", *extra)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    without = forecast()
    with_fleet = forecast("--fleet-workers", "10", "--fleet-on-demand")
    assert without["fleet_first_sync"] is None
    fleet = with_fleet["fleet_first_sync"]
    assert fleet["workers"] == 10
    first_month = Decimal(with_fleet["first_month"]["monthly_usd"])
    assert Decimal(with_fleet["monthly_usd"]) == max(first_month + Decimal(fleet["usd"]),
                                                     Decimal(with_fleet["steady_state"]["monthly_usd"]))
