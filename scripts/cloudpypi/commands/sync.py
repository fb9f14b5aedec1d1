"""`cloudpypi sync`: bring the mirror up to date with the origin."""

from __future__ import annotations

import argparse
import logging
import sys

from cloudpypi.commands import add_target_options, config_from_args
from cloudpypi.errors import ConfigError

log = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sync", help="mirror the origin into the target",
                                   description="Mirror the origin (all projects the filters allow, or --project "
                                               "ones) into a folder or S3 bucket. Exit 1 when any project failed.")
    add_target_options(parser)
    parser.add_argument("--project", action="append", metavar="NAME",
                        help="mirror only this project (repeatable); the serial is not advanced")
    parser.add_argument("--full", action="store_true",
                        help="ignore the changelog: compare every project's serial with the state")
    parser.add_argument("--dry-run", action="store_true",
                        help="plan only: print what would be fetched, written and deleted; change nothing")
    parser.add_argument("--report", metavar="FILE", help="write the run's JSON report here")
    parser.add_argument("--report-dir", metavar="DIR",
                        help="write DIR/sync-<UTC time>.json and DIR/latest.json")
    parser.add_argument("--lock-wait", type=float, default=0.0, metavar="SECONDS",
                        help="wait this long for another sync to finish (default: refuse at once, exit 75)")
    parser.add_argument("--workers", type=int, metavar="N", help="concurrent downloads (default from config: 10)")
    parser.add_argument("--processes", type=int, metavar="N",
                        help="transfer processes that share the downloads (default from config: 0 = one per CPU, "
                             "at most 4, once the files average under 1 MiB; 1 = all in this process)")
    parser.add_argument("--stall-timeout", type=float, metavar="SECONDS",
                        help="stop the run when it makes no progress for this long (default from config: 1800; "
                             "0 = never); the next run resumes")
    parser.add_argument("--no-progress", action="store_true", help="plain log lines even on a terminal")
    parser.add_argument("--fleet", metavar="NAME",
                        help="coordinate a sync fleet: send the projects to its work queue and collect the workers' "
                             "results (`cloudpypi worker --fleet NAME` on other machines; an s3:// target)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from cloudpypi.monitoring import publish_run_metrics
    from cloudpypi.sync import SyncOptions, run_sync

    if args.workers is not None and not 1 <= args.workers <= 256:
        raise ConfigError("--workers must be between 1 and 256")
    if args.processes is not None and not 0 <= args.processes <= 64:
        raise ConfigError("--processes must be between 0 (automatic) and 64")
    if args.stall_timeout is not None and args.stall_timeout < 0:
        raise ConfigError("--stall-timeout must be 0 (never) or more seconds")
    config = config_from_args(args)
    options = SyncOptions(projects=args.project, full=args.full, dry_run=args.dry_run, lock_wait=args.lock_wait,
                          progress=not args.no_progress)
    if args.fleet:
        from cloudpypi.fleet.coordinator import run_fleet_sync

        report = run_fleet_sync(config, options, args.fleet)
    else:
        report = run_sync(config, options)
    for line in report.summary_lines():
        print(line)
    if args.report:
        report.write(args.report)
    if args.report_dir:
        path = report.write_to_dir(args.report_dir)
        log.info("report written to %s", path)
    if config.cloudwatch_namespace and not args.dry_run:
        publish_run_metrics(config.cloudwatch_namespace, report)
    sys.stdout.flush()
    if report.stalled:
        return 1  # a failed run: the watchdog stopped it (the report's failures say so)
    if report.stopped:
        return 143
    return 0 if report.ok else 1
