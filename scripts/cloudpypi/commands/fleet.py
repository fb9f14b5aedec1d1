"""`cloudpypi fleet init|status`: a sync fleet's queues (see cloudpypi.fleet)."""

from __future__ import annotations

import argparse
import json

from cloudpypi.fleet.queues import DEFAULT_MAX_RECEIVES, DEFAULT_VISIBILITY_TIMEOUT


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fleet", help="create or inspect a sync fleet's queues",
        description="A sync fleet shares one mirror's work between a coordinator (`cloudpypi sync --fleet`) and "
                    "workers on other machines (`cloudpypi worker --fleet`) through SQS queues. AWS settings come "
                    "from the environment (AWS_REGION, credentials, AWS_ENDPOINT_URL).")
    actions = parser.add_subparsers(dest="fleet_action", metavar="ACTION", required=True)
    init = actions.add_parser("init", help="create the fleet's queues (safe to run again); prints their URLs")
    init.add_argument("--fleet", required=True, metavar="NAME", help="the fleet's name")
    init.add_argument("--visibility-timeout", type=int, default=DEFAULT_VISIBILITY_TIMEOUT, metavar="SECONDS",
                      help="how long a worker holds a project before another may take it "
                           f"(default {DEFAULT_VISIBILITY_TIMEOUT}; workers extend it while they work)")
    init.add_argument("--max-receives", type=int, default=DEFAULT_MAX_RECEIVES, metavar="N",
                      help="deliveries without success before a project goes to the dead-letter queue "
                           f"(default {DEFAULT_MAX_RECEIVES})")
    init.set_defaults(run=run_init)
    status = actions.add_parser("status", help="queue depths, dead letters, and the workers' group")
    status.add_argument("--fleet", required=True, metavar="NAME", help="the fleet's name")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(run=run_status)
    scale = actions.add_parser("scale", help="set the number of workers of the fleet's Auto Scaling group")
    scale.add_argument("--fleet", required=True, metavar="NAME", help="the fleet's name")
    scale.add_argument("--workers", required=True, type=int, metavar="N", help="workers wanted (0 stops them all)")
    scale.set_defaults(run=run_scale)


def run_init(args: argparse.Namespace) -> int:
    from cloudpypi.fleet.queues import FleetQueues

    queues = FleetQueues.init(args.fleet, visibility_timeout=args.visibility_timeout, max_receives=args.max_receives)
    for role in ("work", "dead", "results"):
        print(f"{role:8} {getattr(queues, role)}")
    return 0


def run_status(args: argparse.Namespace) -> int:
    from cloudpypi.errors import ConfigError
    from cloudpypi.fleet.queues import FleetQueues
    from cloudpypi.fleet.scaling import describe

    queues = FleetQueues.find(args.fleet)
    depths = queues.depths()
    try:
        group = describe(args.fleet).to_json()
    except ConfigError:
        group = None  # queues without a group: workers started by hand (`cloudpypi worker`)
    if args.json:
        print(json.dumps({"fleet": args.fleet, "queues": depths, "group": group}, indent=2))
        return 0
    print(f"fleet {args.fleet}")
    if group is not None:
        running = ", ".join(f"{count} {state}" for state, count in sorted(group["instances"].items())) or "none"
        print(f"  workers wanted     {group['desired']} (bounds {group['min']}..{group['max']}); instances: {running}")
    print(f"  projects waiting   {depths['work']['waiting']}")
    print(f"  projects in flight {depths['work']['in_flight']}")
    print(f"  results waiting    {depths['results']['waiting']}")
    print(f"  dead letters       {depths['dead']['waiting']}")
    return 0


def run_scale(args: argparse.Namespace) -> int:
    from cloudpypi.fleet.scaling import scale

    state = scale(args.fleet, args.workers)
    print(f"fleet {args.fleet}: {state.desired} worker(s) wanted in {state.name}")
    return 0
