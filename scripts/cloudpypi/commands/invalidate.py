"""`cloudpypi invalidate`: refresh CloudFront's cache after a sync, as cheaply as keeps pages fresh."""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

from cloudpypi.commands import add_target_options, config_from_args
from cloudpypi.errors import ConfigError

log = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "invalidate", help="invalidate changed index pages on CloudFront, at the lowest cost",
        description="Invalidate what CloudFront caches for the pages a sync changed (the rewritten objects "
                    "/simple/<name>/index.*; package files are immutable and never invalidated). Prints what "
                    "it did, its cost, and what the other policies would have cost. A retried run with the "
                    "same report creates no second invalidation. A sync never invalidates by itself: without "
                    "this command a changed page is served once CloudFront's copy expires (index_max_age, "
                    "600 s by default).")
    add_target_options(parser, origin=False)
    parser.add_argument("--distribution", metavar="ID",
                        help="CloudFront distribution id (default: [invalidation] distribution_id)")
    parser.add_argument("--policy", choices=("auto", "changed", "wildcard", "none"),
                        help="auto (default: the cheapest that keeps pages fresh within --max-staleness), "
                             "changed, wildcard (/simple/*) or none (rely on the TTL)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--report", metavar="FILE", help="a sync report (JSON): its changed_paths and serial")
    source.add_argument("paths", nargs="*", default=[], metavar="PATH",
                        help="URL paths such as /simple/ or /simple/requests/")
    parser.add_argument("--serial", help="sync serial for the caller reference when giving PATHs "
                                         "(default: the current time, so each manual run is new)")
    parser.add_argument("--max-staleness", type=int, default=600, metavar="SECONDS",
                        help="auto's freshness target: the longest a page may be stale (default 600)")
    parser.add_argument("--page-ttl", type=int, metavar="SECONDS",
                        help="how long CloudFront caches pages, if not the stored max-age "
                             "(e.g. a cache policy's minimum TTL is longer)")
    parser.add_argument("--max-wait", type=float, default=900, metavar="SECONDS",
                        help="how long to wait while too many invalidations are in progress (default 900)")
    parser.add_argument("--dry-run", action="store_true", help="plan and price only; invalidate nothing")
    parser.set_defaults(run=run)


def _read_report(path: str) -> tuple[list[str], Any]:
    try:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the sync report {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not a sync report (invalid JSON: {exc})") from None
    paths = report.get("changed_paths") if isinstance(report, dict) else None
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise ConfigError(f"{path} has no changed_paths list: is it a `cloudpypi sync --report` file?")
    serial = report.get("serial_after")
    if serial is None and any(p.startswith("/simple") for p in paths):
        raise ConfigError(f"{path} has no serial_after: cannot make an idempotent caller reference")
    return paths, serial if serial is not None else "none"


def _page_ttl(storage: Any, default: int) -> int:
    """How long pages are cached: the stored root page's Cache-Control, else the configured max-age."""
    from cloudpypi.invalidation import parse_max_age
    from cloudpypi.layout import HTML_PAGE, JSON_PAGE, PAGES_PREFIX

    for key in (PAGES_PREFIX + HTML_PAGE, PAGES_PREFIX + JSON_PAGE):
        info = storage.stat(key)
        if info is not None:
            age = parse_max_age(info.cache_control)
            if age is not None:
                return age
    return default


def run(args: argparse.Namespace) -> int:
    from cloudpypi.costs.prices import load_prices
    from cloudpypi.invalidation import (
        CloudFrontInvalidator,
        InvalidationPrices,
        describe,
        load_ledger,
        month_of,
        pages_from_paths,
        plan_invalidation,
        run_invalidation,
    )
    from cloudpypi.storage import open_target

    config = config_from_args(args)
    distribution = args.distribution or config.distribution_id
    if not distribution:
        raise ConfigError("no distribution: give --distribution ID or set [invalidation] distribution_id")
    policy = args.policy or config.invalidation_policy
    if args.report:
        changed, serial = _read_report(args.report)
    elif args.paths:
        changed, serial = list(args.paths), args.serial or f"manual{time.time_ns() // 1_000_000}"
    else:
        raise ConfigError("give --report FILE or at least one PATH")

    from datetime import UTC, datetime

    now = datetime.now(UTC)
    storage = open_target(config)
    try:
        pages = pages_from_paths(changed)
        ledger = load_ledger(storage)
        ttl = args.page_ttl if args.page_ttl is not None else _page_ttl(storage, config.index_max_age)
        prices = InvalidationPrices.from_prices(load_prices())
        plan = plan_invalidation(pages, policy, ledger.used(month_of(now)), prices,
                                 page_ttl=ttl, max_staleness=args.max_staleness)
        invalidator = None
        if not plan.nothing:
            import boto3
            from botocore.config import Config as BotoConfig

            client = boto3.session.Session().client(
                "cloudfront", config=BotoConfig(retries={"mode": "standard", "max_attempts": 8}))
            invalidator = CloudFrontInvalidator(client, distribution, max_wait=args.max_wait)
        outcome = run_invalidation(storage, invalidator, plan, serial, dry_run=args.dry_run, now=now)
    finally:
        storage.close()
    for line in describe(outcome, distribution):
        print(line)
    return 0
