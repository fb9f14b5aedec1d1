"""`cloudpypi verify`: check every page link against the stored files; --repair re-fetches."""

from __future__ import annotations

import argparse

from cloudpypi.commands import add_target_options, config_from_args


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("verify", help="check every page link against the stored files",
                                   description="Check that every file a page links is stored with the right "
                                               "size and sha256. Exit 1 on any problem.")
    add_target_options(parser)
    parser.add_argument("--repair", action="store_true",
                        help="delete bad objects and re-fetch the affected projects from the origin")
    parser.add_argument("--workers", type=int, metavar="N", help="concurrent checks (default from config: 10)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from cloudpypi.lock import TargetLock
    from cloudpypi.state import State
    from cloudpypi.storage import open_target
    from cloudpypi.sync import SyncOptions, run_sync
    from cloudpypi.verify import verify_mirror

    config = config_from_args(args)
    storage = open_target(config.target, config)
    state = State.open(storage, config.state_dir or None, read_only=True)
    try:
        result = verify_mirror(storage, state, config.workers)
    finally:
        state.close()
    print(f"verified {result.projects} project(s), {result.files} file(s), {result.bytes} bytes in {storage.url}")
    for problem in result.problems[:100]:
        print(f"  PROBLEM {problem.project or '(root)'}: {problem.key}: {problem.reason}")
    if len(result.problems) > 100:
        print(f"  ... and {len(result.problems) - 100} more")
    if not result.problems:
        print("OK: every link resolves to a stored file with the right hash")
        return 0
    if not args.repair:
        print(f"{len(result.problems)} problem(s); run with --repair to re-fetch")
        return 1
    with TargetLock(storage, command="verify --repair"):
        for problem in result.problems:
            if problem.key.startswith("packages/"):
                storage.delete(problem.key)  # wrong bytes must go before the re-fetch replaces them
    storage.close()
    projects = result.broken_projects
    print(f"repairing {len(projects)} project(s) from {config.origin}")
    report = run_sync(config, SyncOptions(projects=projects, force=True))
    for line in report.summary_lines():
        print(line)
    storage = open_target(config.target, config)
    state = State.open(storage, config.state_dir or None, read_only=True)
    try:
        again = verify_mirror(storage, state, config.workers)
    finally:
        state.close()
    print(f"after repair: {len(again.problems)} problem(s)")
    for problem in again.problems[:100]:
        print(f"  PROBLEM {problem.project or '(root)'}: {problem.key}: {problem.reason}")
    return 0 if not again.problems and report.ok else 1
