"""AWS list prices, read from one data file: ``cloudpypi/data/prices.json``.

The file is the single place where prices live; code never hard-codes a price.  Every amount is read as a
``Decimal`` so that cost arithmetic is exact.  Other modules (the invalidation planner, the benchmark, the
closure dry run) read it through :func:`load_prices`.

Keys of prices.json (amounts in ``currency``, us-east-1 on-demand list prices unless stated):

``as_of``                     date the figures were taken (ISO), ``note``: how they were obtained
``currency``, ``region``      "USD", "us-east-1"
``bytes_per_gb``              1073741824: AWS bills storage and transfer in binary GB
``hours_per_month``           730: AWS's own convention for a month of instance hours
``s3.storage_tiers``          list of ``{up_to_gb, usd_per_gb_month}``; ``up_to_gb`` is the cumulative upper
                              bound of the tier, ``null`` for the last (S3 Standard)
``s3.put_usd_per_1000``       PUT, COPY, POST, LIST requests
``s3.get_usd_per_1000``       GET, SELECT and all other requests
``s3.intelligent_tiering.{infrequent_usd_per_gb_month, archive_instant_usd_per_gb_month,
  monitoring_usd_per_1000_objects, min_monitored_object_bytes, lifecycle_transition_usd_per_1000}``
                              S3 Intelligent-Tiering; its Frequent Access tier is priced as ``storage_tiers``
``cloudfront.egress_tiers``   list of ``{up_to_gb, usd_per_gb}`` for data transfer out to the internet
                              (North America and Europe), cumulative upper bounds as for S3
``cloudfront.https_requests_usd_per_10000``
``cloudfront.function_invocations_usd_per_million``   CloudFront Functions
``cloudfront.invalidation.free_paths_per_month``      1000 (per account)
``cloudfront.invalidation.usd_per_path``              0.005 for each path beyond the free ones
``cloudfront.free_tier.{egress_gb, https_requests, function_invocations}``   always-free monthly allowance
``ec2.usd_per_hour``          mapping of instance type (Linux, on-demand) to the hourly price
``ec2.public_ipv4_usd_per_hour``                     each public IPv4 address, in use or idle
``ebs.volume_types.<type>.{usd_per_gb_month, included_iops, usd_per_iops_month,
                           included_throughput_mbps, usd_per_mbps_month}``
``cloudwatch.{custom_metric_usd_per_month, alarm_usd_per_month}``, ``cloudwatch.free_tier.{custom_metrics,
                              alarms}``
``cost_explorer.api_request_usd``   each GetCostAndUsage / GetCostForecast request costs this
``pypi.{as_of, live_bytes, projects, new_files_per_day, growth_bytes_per_month, files_estimate}``
                              PyPI's published totals with their date: the size of an unfiltered mirror
``<section>.source``          the pricing page each section comes from
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from cloudpypi.errors import ConfigError


@dataclass(frozen=True)
class Tier:
    """One price tier: ``rate`` applies to quantities up to ``up_to`` (cumulative; None = no bound)."""

    up_to: Decimal | None
    rate: Decimal


@dataclass(frozen=True)
class VolumePrice:
    per_gb_month: Decimal
    included_iops: int
    per_iops_month: Decimal
    included_throughput_mbps: int
    per_mbps_month: Decimal


@dataclass(frozen=True)
class IntelligentTiering:
    """S3 Intelligent-Tiering: Frequent Access costs what S3 Standard costs; the colder tiers less."""

    infrequent_per_gb_month: Decimal
    archive_instant_per_gb_month: Decimal
    monitoring_per_1000_objects: Decimal
    min_monitored_object_bytes: int
    transition_per_1000: Decimal


@dataclass(frozen=True)
class PublishedTotals:
    """The size of PyPI as published, with the date of the figures."""

    as_of: str
    live_bytes: int
    projects: int
    new_files_per_day: int
    growth_bytes_per_month: int
    files_estimate: int
    source: str


@dataclass(frozen=True)
class Prices:
    as_of: str
    currency: str
    region: str
    note: str
    bytes_per_gb: int
    hours_per_month: Decimal
    s3_storage_tiers: tuple[Tier, ...]
    s3_put_per_1000: Decimal
    s3_get_per_1000: Decimal
    cf_egress_tiers: tuple[Tier, ...]
    cf_requests_per_10000: Decimal
    cf_functions_per_million: Decimal
    cf_invalidation_free_paths: int
    cf_invalidation_per_path: Decimal
    cf_free_egress_gb: Decimal
    cf_free_requests: int
    cf_free_function_invocations: int
    ec2_per_hour: Mapping[str, Decimal]
    public_ipv4_per_hour: Decimal
    ebs: Mapping[str, VolumePrice]
    cw_metric_per_month: Decimal
    cw_alarm_per_month: Decimal
    cw_free_metrics: int
    cw_free_alarms: int
    ce_request: Decimal
    sources: Mapping[str, str]
    s3_intelligent_tiering: IntelligentTiering | None = None
    pypi: PublishedTotals | None = None
    fleet: Mapping[str, Any] | None = None  # SQS, NAT gateway and Spot figures (cloudpypi.costs.fleet)


def _tiers(raw: list[dict[str, Any]], rate_key: str, where: str) -> tuple[Tier, ...]:
    tiers = tuple(
        Tier(None if t["up_to_gb"] is None else Decimal(t["up_to_gb"]), Decimal(t[rate_key])) for t in raw
    )
    bounds = [t.up_to for t in tiers]
    if not tiers or bounds[-1] is not None or None in bounds[:-1]:
        raise ConfigError(f"prices: {where} must end with exactly one tier whose up_to_gb is null")
    finite = [b for b in bounds if b is not None]
    if any(a >= b for a, b in itertools.pairwise(finite)):
        raise ConfigError(f"prices: {where} bounds must increase")
    return tiers


def parse_prices(data: Mapping[str, Any]) -> Prices:
    """Build :class:`Prices` from the parsed JSON (numbers already Decimal).  Raises ConfigError."""
    try:
        s3, cf, ec2, ebs, cw = data["s3"], data["cloudfront"], data["ec2"], data["ebs"], data["cloudwatch"]
        return Prices(
            as_of=str(data["as_of"]),
            currency=str(data["currency"]),
            region=str(data["region"]),
            note=str(data.get("note", "")),
            bytes_per_gb=int(data["bytes_per_gb"]),
            hours_per_month=Decimal(data["hours_per_month"]),
            s3_storage_tiers=_tiers(s3["storage_tiers"], "usd_per_gb_month", "s3.storage_tiers"),
            s3_put_per_1000=Decimal(s3["put_usd_per_1000"]),
            s3_get_per_1000=Decimal(s3["get_usd_per_1000"]),
            cf_egress_tiers=_tiers(cf["egress_tiers"], "usd_per_gb", "cloudfront.egress_tiers"),
            cf_requests_per_10000=Decimal(cf["https_requests_usd_per_10000"]),
            cf_functions_per_million=Decimal(cf["function_invocations_usd_per_million"]),
            cf_invalidation_free_paths=int(cf["invalidation"]["free_paths_per_month"]),
            cf_invalidation_per_path=Decimal(cf["invalidation"]["usd_per_path"]),
            cf_free_egress_gb=Decimal(cf["free_tier"]["egress_gb"]),
            cf_free_requests=int(cf["free_tier"]["https_requests"]),
            cf_free_function_invocations=int(cf["free_tier"]["function_invocations"]),
            ec2_per_hour={k: Decimal(v) for k, v in ec2["usd_per_hour"].items()},
            public_ipv4_per_hour=Decimal(ec2["public_ipv4_usd_per_hour"]),
            ebs={
                name: VolumePrice(
                    per_gb_month=Decimal(v["usd_per_gb_month"]),
                    included_iops=int(v["included_iops"]),
                    per_iops_month=Decimal(v["usd_per_iops_month"]),
                    included_throughput_mbps=int(v["included_throughput_mbps"]),
                    per_mbps_month=Decimal(v["usd_per_mbps_month"]),
                )
                for name, v in ebs["volume_types"].items()
            },
            cw_metric_per_month=Decimal(cw["custom_metric_usd_per_month"]),
            cw_alarm_per_month=Decimal(cw["alarm_usd_per_month"]),
            cw_free_metrics=int(cw["free_tier"]["custom_metrics"]),
            cw_free_alarms=int(cw["free_tier"]["alarms"]),
            ce_request=Decimal(data["cost_explorer"]["api_request_usd"]),
            sources={name: section["source"] for name, section in data.items()
                     if isinstance(section, dict) and "source" in section},
            s3_intelligent_tiering=_intelligent_tiering(s3.get("intelligent_tiering")),
            pypi=_published_totals(data.get("pypi")),
            fleet=data.get("fleet"),
        )
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise ConfigError(f"prices: missing or malformed entry ({type(exc).__name__}: {exc})") from None


def _intelligent_tiering(raw: Mapping[str, Any] | None) -> IntelligentTiering | None:
    if raw is None:
        return None
    return IntelligentTiering(
        infrequent_per_gb_month=Decimal(raw["infrequent_usd_per_gb_month"]),
        archive_instant_per_gb_month=Decimal(raw["archive_instant_usd_per_gb_month"]),
        monitoring_per_1000_objects=Decimal(raw["monitoring_usd_per_1000_objects"]),
        min_monitored_object_bytes=int(raw["min_monitored_object_bytes"]),
        transition_per_1000=Decimal(raw["lifecycle_transition_usd_per_1000"]),
    )


def _published_totals(raw: Mapping[str, Any] | None) -> PublishedTotals | None:
    if raw is None:
        return None
    return PublishedTotals(
        as_of=str(raw["as_of"]),
        live_bytes=int(raw["live_bytes"]),
        projects=int(raw["projects"]),
        new_files_per_day=int(raw["new_files_per_day"]),
        growth_bytes_per_month=int(raw["growth_bytes_per_month"]),
        files_estimate=int(raw["files_estimate"]),
        source=str(raw.get("source", "")),
    )


def load_prices(path: str | Path | None = None) -> Prices:
    """The prices from ``path``, or from the packaged ``cloudpypi/data/prices.json``."""
    try:
        if path is None:
            text = resources.files("cloudpypi").joinpath("data/prices.json").read_text(encoding="utf-8")
            where = "cloudpypi/data/prices.json"
        else:
            text = Path(path).read_text(encoding="utf-8")
            where = str(path)
        data = json.loads(text, parse_float=Decimal, parse_int=Decimal)
    except OSError as exc:
        raise ConfigError(f"cannot read the price file: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}: not valid JSON: {exc}") from None
    return parse_prices(data)
