"""`cloudpypi closure --dry-run`: what a [closure] config would mirror, and what it would cost, before any
distribution file is downloaded (only project pages and core metadata are read)."""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal
from typing import Any

from cloudpypi.commands import add_target_options, config_from_args
from cloudpypi.errors import ConfigError

DEFAULT_EGRESS_GB = 100


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "closure", help="plan a dependency-closure mirror: projects, files, bytes and monthly cost",
        description="Resolve the config's [closure] requirements for every target environment and print the "
                    "projects, files and bytes it would mirror, the failures, and the monthly cost from the cost "
                    "model. Nothing is written and no distribution file is downloaded. Exit 1 when some "
                    "requirement cannot be resolved.")
    add_target_options(parser)
    parser.add_argument("--dry-run", action="store_true",
                        help="plan only (the default and only mode: `cloudpypi sync` does the mirroring)")
    parser.add_argument("--egress-gb", type=float, default=DEFAULT_EGRESS_GB,
                        help=f"assumed CloudFront egress to users per month, GB (default {DEFAULT_EGRESS_GB})")
    parser.add_argument("--prices", help="a prices JSON file instead of the packaged data/prices.json")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(run=run)


def _cost(total_bytes: int, files: int, projects: int, egress_gb: float,
          prices_path: str | None) -> tuple[dict[str, Any] | None, str]:
    """(figures, note): the cost model's estimate, or None and why it is not available."""
    try:
        from cloudpypi.costs.model import forecast_mirror_cost
        from cloudpypi.costs.prices import load_prices
    except ImportError:
        return None, "cost model not available"
    prices = load_prices(prices_path)
    egress = int(Decimal(str(egress_gb)) * prices.bytes_per_gb)
    estimate = forecast_mirror_cost(total_bytes, files, projects, egress, prices=prices)
    return {
        "monthly_usd": f"{estimate.monthly_total:.2f}",
        "one_time_usd": f"{estimate.one_time_total:.2f}",
        "by_service": {k: f"{v:.2f}" for k, v in estimate.by_service().items()},
        "assumptions": list(estimate.assumptions),
        "prices_as_of": estimate.prices_as_of,
    }, ""


def run(args: argparse.Namespace) -> int:
    from cloudpypi.closure import compute, parse_closure
    from cloudpypi.origin import OriginClient

    if args.egress_gb < 0:
        raise ConfigError("--egress-gb cannot be negative")
    config = config_from_args(args)
    if not config.closure:
        raise ConfigError(f"{args.config or 'the config'} has no [closure] table: nothing to plan")
    spec = parse_closure(config.closure)
    origin = OriginClient.from_config(config)
    try:
        computation = compute(spec, origin, workers=config.workers)
    finally:
        origin.close()
    record = computation.record
    projects = {name: {"files": len(names), "bytes": sum(computation.sizes.get(n, 0) for n in names)}
                for name, names in record.files.items()}
    total_files = sum(p["files"] for p in projects.values())
    total_bytes = sum(p["bytes"] for p in projects.values())
    cost, cost_note = _cost(total_bytes, total_files, len(projects), args.egress_gb, args.prices)
    summary = {
        "origin": config.origin,
        "environments": [e.label for e in record.environments],
        "projects": projects,
        "totals": {"projects": len(projects), "files": total_files, "bytes": total_bytes,
                   "files_of_unknown_size": computation.unknown_sizes},
        "failures": [{"requirement": s, "reason": r} for s, r in record.failures],
        "origin_requests": computation.fetched,
        "monthly_cost": cost,
        "cost_note": cost_note,
    }
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        print()
    else:
        _print(summary)
    return 0 if not record.failures else 1


def _print(summary: dict[str, Any]) -> None:
    print(f"closure of {summary['origin']} for {len(summary['environments'])} environment(s): "
          f"{', '.join(summary['environments'])}")
    for name, figures in summary["projects"].items():
        print(f"  {name:<40} {figures['files']:>5} file(s) {figures['bytes']:>15,} bytes")
    totals = summary["totals"]
    print(f"total: {totals['projects']} project(s), {totals['files']} file(s), {totals['bytes']:,} bytes"
          + (f" ({totals['files_of_unknown_size']} file(s) of unknown size)" if totals["files_of_unknown_size"]
             else ""))
    for failure in summary["failures"]:
        print(f"MISSING {failure['requirement']}: {failure['reason']}")
    cost = summary["monthly_cost"]
    if cost is None:
        print(summary["cost_note"])
        return
    services = ", ".join(f"{k} ${v}" for k, v in cost["by_service"].items())
    print(f"monthly cost: ${cost['monthly_usd']} ({services}); one-time upload ${cost['one_time_usd']}; "
          f"prices as of {cost['prices_as_of']}")
    for note in cost["assumptions"]:
        print(f"  assumption: {note}")
