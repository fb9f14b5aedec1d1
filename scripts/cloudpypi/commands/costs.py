"""`cloudpypi costs`: month-to-date spend, the month's forecast, the budget, and the mirror's cost model.

Exit codes: 0 within budget (or no budget to check), 1 spend could not be read at all, 2 bad usage or
config, 3 actual or forecast spend passes a budget's limit.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from cloudpypi.costs.check import CostReport, gather
from cloudpypi.costs.model import (
    DEFAULT_INSTANCE_TYPE,
    DEFAULT_VOLUME_GB,
    MIN_MEAN_FILE_BYTES,
    CostLine,
    MirrorUsage,
    mean_download_bytes,
    monthly_cost,
    s3_request_cost,
)
from cloudpypi.costs.prices import Prices, load_prices
from cloudpypi.costs.usage import (
    MirrorSize,
    monthly_requests,
    read_mirror_size,
    read_reports,
    scale_to_month,
)
from cloudpypi.errors import CloudPyPIError, ConfigError
from cloudpypi.invalidation import invalidation_paths_used

log = logging.getLogger(__name__)

DEFAULT_REPORT_DIR = "/var/lib/cloudpypi/reports"
DEFAULT_EGRESS_GB = 100


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "costs",
        help="AWS spend, forecast and budget, plus the mirror's own cost model",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", help="the mirror's TOML config (for the target and the invalidation policy)")
    p.add_argument("--target", help="the mirror (folder or s3://bucket[/prefix]); default: from --config")
    p.add_argument("--report-dir", default=DEFAULT_REPORT_DIR,
                   help=f"where the sync reports are (default {DEFAULT_REPORT_DIR})")
    p.add_argument("--egress-gb", type=float, default=DEFAULT_EGRESS_GB,
                   help=f"assumed CloudFront egress to users per month, GB (default {DEFAULT_EGRESS_GB})")
    p.add_argument("--viewer-requests", type=int,
                   help="assumed CloudFront requests per month (default: 2 per downloaded file of mean size)")
    p.add_argument("--cache-hit-ratio", type=float, default=0.9,
                   help="assumed CloudFront cache hit ratio, 0..1 (default 0.9)")
    p.add_argument("--invalidation-paths", type=int,
                   help="invalidation paths per month (default: estimated from the sync reports and policy)")
    p.add_argument("--instance-type", default=DEFAULT_INSTANCE_TYPE,
                   help=f"the dev server's EC2 instance type (default {DEFAULT_INSTANCE_TYPE})")
    p.add_argument("--volume-gb", type=int, default=DEFAULT_VOLUME_GB,
                   help=f"the dev server's gp3 root volume, GB (default {DEFAULT_VOLUME_GB})")
    p.add_argument("--no-public-ipv4", action="store_true", help="the instance has no public IPv4 address")
    p.add_argument("--no-free-tier", action="store_true",
                   help="ignore the always-free CloudFront and CloudWatch allowances")
    p.add_argument("--mirror-bytes", type=int,
                   help="the mirror's size in bytes, instead of asking `cloudpypi status`")
    p.add_argument("--mirror-files", type=int, default=0, help="with --mirror-bytes: the file count")
    p.add_argument("--budget", dest="budget_name", help="the AWS Budgets budget to check (default: every "
                   "monthly cost budget of the account)")
    p.add_argument("--account-id", help="the AWS account id (default: from STS GetCallerIdentity)")
    p.add_argument("--no-aws", action="store_true",
                   help="skip Cost Explorer and Budgets: print the mirror's cost model only")
    p.add_argument("--prices", help="a prices JSON file instead of the packaged data/prices.json")
    p.add_argument("--top", type=int, default=5, help="how many services to list by spend (default 5)")
    p.add_argument("--today", type=date.fromisoformat,
                   help="report as of this date, YYYY-MM-DD (default: today, UTC)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.set_defaults(run=run)


def _mirror_size(args: argparse.Namespace, target: str | None, notes: list[str]) -> MirrorSize | None:
    if args.mirror_bytes is not None:
        return MirrorSize(0, args.mirror_files, args.mirror_bytes, None)
    if not target:
        notes.append("mirror size unknown: no --target or --config given; storage priced at 0")
        return None
    try:
        return read_mirror_size(target, args.config)
    except CloudPyPIError as exc:
        notes.append(f"mirror size unknown ({exc}); storage priced at 0")
        return None


def build_usage(args: argparse.Namespace, prices: Prices, now: datetime, target: str | None,
                policy: str) -> tuple[MirrorUsage, int]:
    """The month's usage from the mirror's size, its sync reports and the stated assumptions."""
    notes: list[str] = []
    size = _mirror_size(args, target, notes)
    if size is not None:
        notes.append(f"mirror: {size.bytes:,} bytes in {size.files:,} files"
                     + (f", {size.projects:,} projects" if size.projects else "")
                     + (f", serial {size.last_serial}" if size.last_serial is not None else ""))
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    activity = read_reports(Path(args.report_dir), month_start)
    notes.extend(f"sync reports: {reason}" for reason in activity.skipped)
    requests = monthly_requests(activity, now, prices.hours_per_month, policy)
    notes.append(f"S3 requests from sync: {requests.note}")
    egress = int(Decimal(str(args.egress_gb)) * prices.bytes_per_gb)
    viewer = args.viewer_requests
    if viewer is None:
        mean = mean_download_bytes(size.bytes if size else 0, size.files if size else 0)
        viewer = 2 * math.ceil(egress / mean)
        notes.append(f"CloudFront requests: 2 per downloaded file of mean size {mean / 1e6:.1f} MB "
                     f"(the mirror's, at least {MIN_MEAN_FILE_BYTES / 1e6:.0f} MB): {viewer:,}")
    misses = math.ceil(viewer * (1 - args.cache_hit_ratio))
    notes.append(f"assumed egress {args.egress_gb:g} GB/month, cache hit ratio {args.cache_hit_ratio:.0%} "
                 f"({misses:,} S3 GETs from CloudFront)")
    paths = args.invalidation_paths
    if paths is None and target:
        used = invalidation_paths_used(target, now)
        if used is not None:
            paths = scale_to_month(used, now)
            notes.append(f"invalidation paths: {used:,} used so far this month (the invalidation ledger), "
                         f"{paths:,} at this pace for the month")
    if paths is None:
        paths = requests.invalidation_paths
    usage = MirrorUsage(
        stored_bytes=size.bytes if size else 0,
        put_requests=requests.puts,
        get_requests=requests.gets + misses,
        egress_bytes=egress,
        viewer_requests=viewer,
        function_invocations=viewer // 2,
        invalidation_paths=paths,
        instance_type=args.instance_type,
        volume_gb=args.volume_gb,
        public_ipv4=not args.no_public_ipv4,
        free_tier=not args.no_free_tier,
        notes=tuple(notes),
    )
    return usage, requests.initial_puts


def _clients() -> tuple[Any, Any, Any]:
    import boto3
    from botocore.config import Config as BotoConfig

    # Cost Explorer and Budgets are global services answered in us-east-1.  Few retries: a failing
    # forecast falls back to a projection rather than stalling the check.
    cfg = BotoConfig(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=10, read_timeout=30)
    session = boto3.session.Session()
    return (session.client("ce", region_name="us-east-1", config=cfg),
            session.client("budgets", region_name="us-east-1", config=cfg),
            session.client("sts", region_name=os.environ.get("AWS_REGION", "us-east-1"), config=cfg))


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.cache_hit_ratio <= 1:
        raise ConfigError(f"--cache-hit-ratio must be between 0 and 1, got {args.cache_hit_ratio}")
    if args.egress_gb < 0:
        raise ConfigError("--egress-gb cannot be negative")
    prices = load_prices(args.prices)
    target, policy = args.target, "auto"
    if args.config:
        from cloudpypi.config import load_config

        config = load_config(args.config)
        target = target or config.target
        policy = config.invalidation_policy
    now = datetime.now(UTC)
    today = args.today or now.date()
    usage, initial_puts = build_usage(args, prices, now, target, policy)
    estimate = monthly_cost(usage, prices)
    if initial_puts:
        put_usd, _ = s3_request_cost(initial_puts, 0, prices)
        first = CostLine("S3", "initial upload PUT requests (this month)", Decimal(initial_puts), "requests",
                         put_usd)
        estimate = replace(estimate, one_time=(first,))
    if args.no_aws:
        report = gather(today=today, prices=prices, estimate=estimate)
    else:
        ce, budgets, sts = _clients()
        report = gather(today=today, prices=prices, estimate=estimate, ce=ce, budgets_client=budgets, sts=sts,
                        account=args.account_id, budget_name=args.budget_name)
    _print(report, args)
    return report.exit_code()


def _print(report: CostReport, args: argparse.Namespace) -> None:
    from cloudpypi.costs.render import render, to_json

    if args.json:
        json.dump(to_json(report), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    from rich.console import Console

    # Over SSH without a terminal (fab costs), keep a fixed width so the table does not wrap at 80.
    console = Console(width=None if sys.stdout.isatty() else 120)
    render(report, console, top=args.top)
