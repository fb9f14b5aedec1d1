"""The cost model is pure: exact figures from hand-computed list-price arithmetic."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest

from cloudpypi.costs import model
from cloudpypi.costs.model import (
    BudgetCheck,
    MirrorUsage,
    cloudfront_egress_cost,
    ebs_cost,
    forecast_mirror_cost,
    invalidation_cost,
    monthly_cost,
    project_month,
    s3_storage_cost,
    thresholds_crossed,
    tiered_cost,
)
from cloudpypi.costs.prices import Prices, Tier, load_prices
from cloudpypi.errors import ConfigError

GB = 2**30


@pytest.fixture(scope="module")
def prices() -> Prices:
    return load_prices()


def test_packaged_prices_are_dated_sourced_us_east_1_and_carry_invalidation_pricing(prices: Prices) -> None:
    assert prices.region == "us-east-1" and prices.currency == "USD", f"got {prices.region} {prices.currency}"
    assert date.fromisoformat(prices.as_of), "as_of must be an ISO date"
    free, per_path = prices.cf_invalidation_free_paths, prices.cf_invalidation_per_path
    assert free == 1000, f"expected 1000 free paths, got {free}"
    assert per_path == D("0.005"), f"expected $0.005/path, got {per_path}"
    for section in ("s3", "cloudfront", "ec2", "ebs"):
        assert prices.sources.get(section, "").startswith("https://aws.amazon.com/"), \
            f"{section} needs a pricing-page source URL, got {prices.sources.get(section)!r}"


def test_tiered_cost_charges_each_tier_only_for_the_quantity_inside_it() -> None:
    tiers = (Tier(D(10), D(1)), Tier(D(30), D("0.5")), Tier(None, D("0.1")))
    assert tiered_cost(D(0), tiers) == 0
    assert tiered_cost(D(10), tiers) == D(10), "the first tier alone"
    assert tiered_cost(D(25), tiers) == D("17.5"), "10*1 + 15*0.5"
    assert tiered_cost(D(100), tiers) == D(27), "10*1 + 20*0.5 + 70*0.1"
    with pytest.raises(ValueError, match="negative"):
        tiered_cost(D(-1), tiers)


def test_s3_storage_crosses_from_the_50_tb_tier_into_the_next(prices: Prices) -> None:
    assert s3_storage_cost(100 * GB, prices) == D("2.3"), "100 GB-month at $0.023"
    # 60,000 GB: 51,200 at $0.023 + 8,800 at $0.022
    assert s3_storage_cost(60_000 * GB, prices) == D("1177.6") + D("193.6")


def test_cloudfront_egress_uses_the_free_terabyte_then_the_price_tiers(prices: Prices) -> None:
    twelve_tb = 12 * 1024 * GB
    # free tier: 11,264 GB billable = 10,240 at $0.085 + 1,024 at $0.080
    assert cloudfront_egress_cost(twelve_tb, prices) == D("870.4") + D("81.92")
    # without it: 10,240 at $0.085 + 2,048 at $0.080
    assert cloudfront_egress_cost(twelve_tb, prices, free_tier=False) == D("870.4") + D("163.84")
    assert cloudfront_egress_cost(1024 * GB, prices) == 0, "1 TB is inside the free tier"


@pytest.mark.parametrize(("paths", "already", "usd"), [
    (1000, 0, "0"), (1001, 0, "0.005"), (2500, 0, "7.5"), (200, 900, "0.5"), (10, 5000, "0.05"),
])
def test_invalidation_paths_cost_half_a_cent_beyond_the_free_thousand(
        prices: Prices, paths: int, already: int, usd: str) -> None:
    got = invalidation_cost(paths, prices, already_used=already)
    assert got == D(usd), f"{paths} paths after {already} used: expected ${usd}, got ${got}"


def test_gp3_volume_pays_for_iops_and_throughput_above_the_included_baseline(prices: Prices) -> None:
    assert ebs_cost(30, "gp3", 3000, 125, prices) == D("2.4")
    assert ebs_cost(30, "gp3", 6000, 250, prices) == D("2.4") + D(15) + D(5), \
        "3000 IOPS*0.005 + 125 MB/s*0.04"
    with pytest.raises(ConfigError, match="gp9"):
        ebs_cost(30, "gp9", 3000, 125, prices)


def test_monthly_cost_itemises_every_service_and_totals_exactly(prices: Prices) -> None:
    usage = MirrorUsage(
        stored_bytes=200 * GB, put_requests=100_000, get_requests=1_000_000, egress_bytes=2048 * GB,
        viewer_requests=12_000_000, function_invocations=3_000_000, invalidation_paths=1200,
        instance_type="t3.small", volume_gb=30,
    )
    estimate = monthly_cost(usage, prices)
    lines = {(line.service, line.item): line.usd for line in estimate.monthly}
    expected = {
        ("S3", "storage"): D("4.6"),                       # 200 * 0.023
        ("S3", "PUT requests"): D("0.5"),                  # 100 * 0.005
        ("S3", "GET requests"): D("0.4"),                  # 1000 * 0.0004
        ("CloudFront", "egress to viewers"): D("87.04"),   # (2048 - 1024) * 0.085
        ("CloudFront", "HTTPS requests"): D("2"),          # (12M - 10M) / 10k * 0.01
        ("CloudFront", "function invocations"): D("0.1"),  # (3M - 2M) / 1M * 0.10
        ("CloudFront", "invalidation paths"): D("1"),      # 200 * 0.005
        ("EC2", "t3.small instance"): D("15.184"),         # 730 * 0.0208
        ("EC2", "public IPv4 address"): D("3.65"),         # 730 * 0.005
        ("EBS", "gp3 root volume"): D("2.4"),              # 30 * 0.08
        ("CloudWatch", "custom metrics"): D(0),            # 5 of the free 10
        ("CloudWatch", "alarms"): D(0),                    # 2 alarm metrics of the free 10
    }
    assert lines == expected, f"expected {expected}, got {lines}"
    assert estimate.monthly_total == sum(expected.values()) == D("116.874")


def test_unknown_instance_type_names_the_known_ones(prices: Prices) -> None:
    with pytest.raises(ConfigError, match=r"x9\.huge.*t3\.small"):
        monthly_cost(MirrorUsage(stored_bytes=0, instance_type="x9.huge"), prices)


def test_full_pypi_sized_mirror_forecast_is_storage_dominated_and_prices_the_initial_upload(
        prices: Prices) -> None:
    estimate = forecast_mirror_cost(24 * 10**12, 10_000_000, 700_000, 0, prices=prices)
    storage = next(line for line in estimate.monthly if line.item == "storage")
    assert storage.usd.quantize(D("0.01")) == D("514.09"), \
        f"24 TB (22,351.74 GiB) at $0.023: got {storage.usd}"
    (upload,) = estimate.one_time
    assert upload.quantity == 10_000_000 + 3 * 700_001, "every file plus three pages per project and the root"
    assert upload.usd == D("60.500015"), f"12,100,003 PUTs at $0.005/1000: got {upload.usd}"
    assert any("2% of the files" in a for a in estimate.assumptions), estimate.assumptions
    assert estimate.monthly_total > D(500), "a full mirror is over the default $500 budget"


def test_forecast_requests_scale_with_egress_and_cache_misses(prices: Prices) -> None:
    estimate = forecast_mirror_cost(1000 * GB, 1000, 100, 100 * GB, prices=prices, cache_hit_ratio=0.5,
                                    files_added_per_month=0, projects_changed_per_month=0,
                                    sync_interval_min=60)
    lines = {line.item: line.quantity for line in estimate.monthly}
    # mean file 1 GiB -> 100 downloads -> 200 viewer requests, 100 of them misses; 730 runs * 2 GETs
    assert lines["HTTPS requests"] == 200, lines
    assert lines["GET requests"] == 100 + 730 * model.GETS_PER_RUN, lines
    assert lines["PUT requests"] == 730 * (model.PUTS_PER_RUN + model.PAGES_PER_PROJECT), lines
    with pytest.raises(ValueError, match="cache_hit_ratio"):
        forecast_mirror_cost(1, 1, 1, 0, prices=prices, cache_hit_ratio=1.5)


def test_projection_averages_the_complete_days_over_the_whole_month() -> None:
    daily = [(date(2026, 11, 1), D("10")), (date(2026, 11, 2), D("20")), (date(2026, 11, 3), D("99"))]
    # 1st and 2nd are complete on the 3rd: mean 15 * 30 days; today's partial 99 is left out
    assert project_month(daily, date(2026, 11, 3)) == D(450)
    assert project_month([(date(2026, 2, 1), D("4"))], date(2026, 2, 1)) == D(112), "the 1st: 4 * 28 days"
    assert project_month([], date(2026, 11, 3)) == 0


def test_budget_check_flags_actual_and_forecast_separately() -> None:
    check = BudgetCheck(limit=D(500), actual=D(120), forecast=D("500.01"))
    assert (check.actual_exceeded, check.forecast_exceeded, check.exceeded) == (False, True, True)
    assert not BudgetCheck(D(500), D(500), None).exceeded, "spend equal to the limit has not passed it"
    assert thresholds_crossed(D(400), D(500), [D(50), D(80), D(100)]) == [D(50), D(80)]


def test_malformed_price_file_is_a_config_error_naming_the_problem(tmp_path: Path) -> None:
    data = json.loads((Path(model.__file__).parent.parent / "data" / "prices.json").read_text())
    data["s3"]["storage_tiers"][-1]["up_to_gb"] = 10**9  # no open-ended last tier
    bad = tmp_path / "prices.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="up_to_gb is null"):
        load_prices(bad)
    del data["cloudfront"]
    bad.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="cloudfront"):
        load_prices(bad)


def test_a_toy_mirror_of_tiny_files_does_not_turn_egress_into_absurd_request_counts(prices: Prices) -> None:
    # 3 files of ~1 KB: the mean download is floored at MIN_MEAN_FILE_BYTES (1 MB)
    estimate = forecast_mirror_cost(3500, 3, 2, 100 * 10**6, prices=prices)
    requests = next(line.quantity for line in estimate.monthly if line.item == "HTTPS requests")
    assert requests == 2 * 100, f"100 MB of egress in 1 MB downloads, 2 requests each: got {requests}"
