"""`cloudpypi worker --fleet NAME`: sync the projects a fleet's coordinator sends (see cloudpypi.fleet)."""

from __future__ import annotations

import argparse

from cloudpypi.commands import add_target_options, config_from_args
from cloudpypi.errors import ConfigError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "worker", help="take projects from a sync fleet's work queue and sync them",
        description="A worker of a sync fleet: it takes projects from the fleet's work queue, downloads their "
                    "files into the shared s3:// target, publishes their pages while the coordinator's run holds "
                    "the lock, and reports each result. Same package and config as the coordinator.")
    add_target_options(parser)
    parser.add_argument("--fleet", required=True, metavar="NAME", help="the fleet's name (`cloudpypi fleet init`)")
    parser.add_argument("--workers", type=int, metavar="N", help="concurrent downloads (default from config: 10)")
    parser.add_argument("--exit-when-idle", type=float, metavar="SECONDS",
                        help="exit after this long without work (default: run until stopped)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from cloudpypi.fleet.worker import run_worker

    if args.workers is not None and not 1 <= args.workers <= 256:
        raise ConfigError("--workers must be between 1 and 256")
    if args.exit_when_idle is not None and args.exit_when_idle < 0:
        raise ConfigError("--exit-when-idle must be 0 or more seconds")
    args.processes = 1  # a worker's transfers stay in its process: one worker per core scales instead
    completed = run_worker(config_from_args(args), args.fleet, exit_when_idle=args.exit_when_idle)
    print(f"worker: {completed} project(s) completed")
    return 0
