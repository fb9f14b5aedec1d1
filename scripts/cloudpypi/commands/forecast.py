"""`cloudpypi forecast`: the monthly cost of the mirror a config describes, before it is built, against a
budget.  The deploy runs it on the controller before it provisions anything (playbooks/cost_gate.yml).

The mirror's size: PyPI's published totals for an unfiltered pypi.org mirror; the state of an existing mirror
of the same config; otherwise a dry-run plan against the origin, cached on this machine.

Exit codes: 0 within the budget (or no --budget), 3 over the budget, 1 the mirror could not be planned (the
origin could not be read), 2 bad usage or config.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from cloudpypi.errors import ConfigError


def add_parser(subparsers: Any) -> None:
    from cloudpypi.costs.model import DEFAULT_FREQUENT_SHARE, DEFAULT_INSTANCE_TYPE, DEFAULT_VOLUME_GB, STORAGE_CLASSES
    from cloudpypi.costs.sizing import DEFAULT_MAX_AGE

    p = subparsers.add_parser(
        "forecast", help="the monthly cost of the mirror a config describes, before it is built, against a budget",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", metavar="FILE", required=True, help="the mirror's TOML config; - reads it from stdin")
    p.add_argument("--closure-file", action="append", default=[], metavar="PATH",
                   help="read the [closure] requirements files from these paths instead of the config's (the "
                        "controller's copies of the files the deploy ships); repeat for more")
    p.add_argument("--budget", metavar="USD", help="the monthly budget to compare the forecast with")
    p.add_argument("--instance-type", default=DEFAULT_INSTANCE_TYPE,
                   help=f"the dev server's EC2 instance type (default {DEFAULT_INSTANCE_TYPE})")
    p.add_argument("--volume-gb", type=int, default=DEFAULT_VOLUME_GB,
                   help=f"the dev server's root volume, GB (default {DEFAULT_VOLUME_GB})")
    p.add_argument("--storage-class", choices=STORAGE_CLASSES, default="STANDARD",
                   help="the storage class of packages/ (default STANDARD)")
    p.add_argument("--frequent-share", type=float, default=DEFAULT_FREQUENT_SHARE,
                   help="with INTELLIGENT_TIERING: the share of bytes read at least once a month "
                        f"(default {DEFAULT_FREQUENT_SHARE})")
    p.add_argument("--egress-gb", default="100",
                   help="assumed CloudFront egress to users per month, GB (default 100)")
    p.add_argument("--fleet-workers", type=int, default=0, metavar="N",
                   help="also price a first sync on a sync fleet of N workers, paid in the first month (default 0: "
                        "no fleet)")
    p.add_argument("--fleet-instance-type", default="c7i.large", help="the workers' instance type (default c7i.large)")
    p.add_argument("--fleet-worker-rate", type=float, default=60.0, metavar="MB/S",
                   help="what one worker sustains, MB/s (default 60; measure yours with a one-worker run)")
    p.add_argument("--fleet-on-demand", action="store_true", help="price the workers on-demand instead of Spot")
    p.add_argument("--cache-dir", help="where plans are cached (default ~/.cache/cloudpypi/forecast)")
    p.add_argument("--max-age", type=float, default=DEFAULT_MAX_AGE / 3600,
                   help=f"hours a cached plan stays good (default {DEFAULT_MAX_AGE // 3600})")
    p.add_argument("--refresh", action="store_true", help="plan again even when a cached plan is good")
    p.add_argument("--no-state", action="store_true", help="do not read an existing mirror's state")
    p.add_argument("--prices", help="a prices JSON file instead of the packaged data/prices.json")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(run=run)


def _decimal(text: str, what: str) -> Decimal:
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        raise ConfigError(f"{what}: expected a number of USD, got {text!r}") from None
    if not value.is_finite() or value < 0:
        raise ConfigError(f"{what}: expected a non-negative amount, got {text!r}")
    return value


def read_config(path: str, closure_files: list[str]):  # type: ignore[no-untyped-def]
    """The config from a file or stdin; ``closure_files`` replace the [closure] table's requirements_files."""
    from cloudpypi.config import parse_config

    source = "<stdin>" if path == "-" else path
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except OSError as exc:
        raise ConfigError(f"cannot read the config {source}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    if closure_files:
        if not isinstance(data.get("closure"), dict):
            raise ConfigError(f"--closure-file given, but {source} has no [closure] table")
        data["closure"]["requirements_files"] = [str(Path(f).absolute()) for f in closure_files]
    base = None if path == "-" else Path(path).parent.absolute()
    return parse_config(data, source, base)


def run(args: argparse.Namespace) -> int:
    from cloudpypi.costs.forecast import EXIT_OVER_BUDGET, Deployment, forecast, render_lines, to_json
    from cloudpypi.costs.prices import load_prices
    from cloudpypi.costs.sizing import PlanCache, default_cache_dir, mirror_size

    budget = None if args.budget in (None, "") else _decimal(args.budget, "--budget")
    egress = _decimal(args.egress_gb, "--egress-gb")
    if not 0 <= args.frequent_share <= 1:
        raise ConfigError(f"--frequent-share must be between 0 and 1, got {args.frequent_share}")
    config = read_config(args.config, args.closure_file)
    prices = load_prices(args.prices)
    cache = PlanCache(Path(args.cache_dir) if args.cache_dir else default_cache_dir(), args.max_age * 3600)
    size = mirror_size(config, prices.pypi, cache=cache, refresh=args.refresh, use_state=not args.no_state)
    deployment = Deployment(args.instance_type, args.volume_gb, args.storage_class, egress, args.frequent_share)
    fleet = None
    if args.fleet_workers:
        from cloudpypi.costs.fleet import FleetPlan, FleetPrices, first_sync

        plan = FleetPlan(args.fleet_workers, args.fleet_instance_type, args.fleet_worker_rate, not args.fleet_on_demand)
        fleet = first_sync(size.bytes, size.projects, plan, prices, FleetPrices.from_json(prices.fleet))
    result = forecast(size, prices, deployment, budget, fleet)
    if args.json:
        json.dump(to_json(result), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print("\n".join(render_lines(result)))
    return EXIT_OVER_BUDGET if result.over_budget else 0
