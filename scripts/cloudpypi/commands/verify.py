"""`cloudpypi verify`: check every page link against the stored files; --repair re-fetches."""

from __future__ import annotations

import argparse

from cloudpypi.commands import add_target_options, config_from_args
from cloudpypi.verify import VerifyResult


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("verify", help="check every page link against the stored files",
                                   description="Check that every file a page links is stored with the right "
                                               "size and sha256. Exit 1 on any problem.")
    add_target_options(parser)
    parser.add_argument("--repair", action="store_true",
                        help="delete bad objects and re-fetch the affected projects from the origin")
    parser.add_argument("--workers", type=int, metavar="N", help="concurrent checks (default from config: 10)")
    parser.add_argument("--orphans", action="store_true",
                        help="instead: list stored files that no page links (with --repair: delete them after "
                             "the deletion grace)")
    parser.set_defaults(run=run)


def _verify(config) -> tuple[str, VerifyResult]:  # type: ignore[no-untyped-def]
    from cloudpypi.state import State
    from cloudpypi.storage import open_target
    from cloudpypi.verify import verify_mirror

    storage = open_target(config.target, config)
    state = State.open(storage, config.state_dir or None, read_only=True)
    try:
        return storage.url, verify_mirror(storage, state, config.workers)
    finally:
        state.close()
        storage.close()


def _print_problems(result: VerifyResult, limit: int = 100) -> None:
    for problem in result.problems[:limit]:
        print(f"  PROBLEM {problem.project or '(root)'}: {problem.key}: {problem.reason}")
    if len(result.problems) > limit:
        print(f"  ... and {len(result.problems) - limit} more")


def run(args: argparse.Namespace) -> int:
    from cloudpypi.lock import TargetLock
    from cloudpypi.storage import open_target
    from cloudpypi.sync import SyncOptions, run_sync

    config = config_from_args(args)
    if args.orphans:
        from cloudpypi.orphans import run_orphans

        return run_orphans(config, repair=args.repair)
    url, result = _verify(config)
    print(f"verified {result.projects} project(s), {result.files} file(s), {result.bytes} bytes in {url}")
    _print_problems(result)
    if not result.problems:
        print("OK: every link resolves to a stored file with the right hash")
        return 0
    if not args.repair:
        print(f"{len(result.problems)} problem(s); run with --repair to re-fetch")
        return 1
    storage = open_target(config.target, config)
    try:
        with TargetLock(storage, command="verify --repair"):
            for problem in result.problems:
                if problem.key.startswith("packages/"):
                    storage.delete(problem.key)  # wrong bytes must go before the re-fetch replaces them
    finally:
        storage.close()
    projects = result.broken_projects
    print(f"repairing {len(projects)} project(s) from {config.origin}")
    report = run_sync(config, SyncOptions(projects=projects, force=True))
    for line in report.summary_lines():
        print(line)
    _, again = _verify(config)
    print(f"after repair: {len(again.problems)} problem(s)")
    _print_problems(again)
    return 0 if not again.problems and report.ok else 1
