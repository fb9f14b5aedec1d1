"""`cloudpypi verify`: check every page link against the stored files; --repair re-fetches.

With --origin, every stored file is checked against what the origin publishes now instead (see
cloudpypi.verify_origin): the check that a writer of the target cannot fool.
"""

from __future__ import annotations

import argparse

from cloudpypi.commands import add_target_options, config_from_args
from cloudpypi.errors import ConfigError
from cloudpypi.layout import is_file_key
from cloudpypi.verify import VerifyResult

CONFIGURED_ORIGIN = "(configured)"  # `--origin` without a URL: the origin in the config


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "verify", help="check every page link against the stored files, or every file against the origin",
        description="Check that every file a page links is stored with the right size and sha256. With --origin, "
                    "check every stored file's bytes against the sha256 and size the origin publishes now (files "
                    "the origin no longer lists are reported apart and do not fail the check). Exit 1 on any "
                    "problem.")
    add_target_options(parser, origin=False)
    parser.add_argument("--origin", nargs="?", const=CONFIGURED_ORIGIN, metavar="URL",
                        help="check the files against this index (no URL: the config's origin); without --origin, "
                             "--repair re-fetches from the config's origin")
    parser.add_argument("--repair", action="store_true",
                        help="delete bad objects and re-fetch the affected projects (files and pages) from the origin")
    parser.add_argument("--sample", type=int, metavar="N",
                        help="with --origin: check N files drawn at random instead of every file")
    parser.add_argument("--workers", type=int, metavar="N", help="concurrent checks (default from config: 10)")
    parser.add_argument("--orphans", action="store_true",
                        help="instead: list stored files that no page links (with --repair: delete them after "
                             "the deletion grace)")
    parser.set_defaults(run=run)


def _verify(config) -> tuple[str, VerifyResult]:  # type: ignore[no-untyped-def]
    from cloudpypi.state import State
    from cloudpypi.storage import open_target
    from cloudpypi.verify import verify_mirror

    storage = open_target(config)
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
    if args.workers is not None and not 1 <= args.workers <= 256:
        raise ConfigError("--workers must be between 1 and 256")
    if args.sample is not None and (args.origin is None or args.sample < 1):
        raise ConfigError("--sample N needs --origin and N of 1 or more")
    origin_mode = args.origin is not None
    if args.origin == CONFIGURED_ORIGIN:
        args.origin = None
    if origin_mode and args.orphans:
        raise ConfigError("--orphans and --origin are separate checks: run them one at a time")
    config = config_from_args(args)
    if origin_mode:
        return run_origin(config, sample=args.sample, repair=args.repair)
    if args.orphans:
        from cloudpypi.orphans import run_orphans

        return run_orphans(config, repair=args.repair)
    return _run_self_check(config, args.repair)


def _run_self_check(config, repair: bool) -> int:  # type: ignore[no-untyped-def]
    from cloudpypi.lock import TargetLock
    from cloudpypi.storage import open_target
    from cloudpypi.sync import SyncOptions, run_sync

    url, result = _verify(config)
    print(f"verified {result.projects} project(s), {result.files} file(s), {result.bytes} bytes in {url}")
    _print_problems(result)
    if not result.problems:
        print("OK: every link resolves to a stored file with the right hash")
        return 0
    if not repair:
        print(f"{len(result.problems)} problem(s); run with --repair to re-fetch")
        return 1
    storage = open_target(config)
    try:
        with TargetLock(storage, command="verify --repair"):
            for problem in result.problems:
                if is_file_key(problem.key):
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


# ------------------------------------------------------------------------------------------ --origin


def _verify_origin(config, sample: int | None = None, projects: list[str] | None = None):  # type: ignore[no-untyped-def]
    from cloudpypi.origin import OriginClient
    from cloudpypi.state import State
    from cloudpypi.storage import open_target
    from cloudpypi.verify_origin import verify_against_origin

    storage = open_target(config)
    origin = OriginClient.from_config(config)
    state = State.open(storage, config.state_dir or None, read_only=True)
    try:
        return storage.url, verify_against_origin(storage, state, origin, workers=config.workers, sample=sample,
                                                  projects=projects)
    finally:
        state.close()
        origin.close()
        storage.close()


def _print_findings(result, limit: int = 200) -> None:  # type: ignore[no-untyped-def]
    from cloudpypi.verify_origin import GONE, MISSING, TAMPERED, UNCHECKED

    failing = result.of(TAMPERED, MISSING, UNCHECKED)
    for finding in failing[:limit]:
        print(finding.line())
    if len(failing) > limit:
        print(f"  ... and {len(failing) - limit} more")
    gone = result.of(GONE)
    if gone:
        print(f"{len(gone)} file(s) the origin no longer lists (removed upstream, not tampering; the next sync "
              "removes them after the deletion grace period):")
        for finding in gone[:limit]:
            print(finding.line())
        if len(gone) > limit:
            print(f"  ... and {len(gone) - limit} more")


def _origin_summary(url: str, result) -> str:  # type: ignore[no-untyped-def]
    scope = (f"a random sample of {result.files} of {result.sampled_from} file(s)" if result.sampled_from is not None
             else f"{result.files} file(s)")
    seconds = max(result.seconds, 1e-6)
    return (f"checked {scope} ({result.metadata_files} .metadata, {result.bytes} bytes) in {result.projects} "
            f"project(s) of {url} against {result.origin} in {result.seconds:.1f}s "
            f"({result.files / seconds:.0f} files/s, {result.bytes / seconds / 1e6:.1f} MB/s)")


def run_origin(config, *, sample: int | None, repair: bool) -> int:  # type: ignore[no-untyped-def]
    """verify --origin: exit 0 when every checked file matches the origin (files gone upstream do not
    count), 1 on tampering, a missing file or a project the origin's page could not be read for."""
    from cloudpypi.lock import TargetLock
    from cloudpypi.storage import open_target
    from cloudpypi.sync import SyncOptions, run_sync

    url, result = _verify_origin(config, sample=sample)
    print(_origin_summary(url, result))
    _print_findings(result)
    if not result.failed:
        print("OK: every checked file has the bytes the origin publishes")
        return 0
    problems = len(result.findings) - len(result.of("gone"))
    if not repair:
        print(f"{problems} problem(s); run with --repair to restore the origin's files and pages")
        return 1
    projects = result.projects_to_repair
    if not projects:
        print("nothing --repair can fix: the origin could not be read for the projects above")
        return 1
    storage = open_target(config)
    try:
        with TargetLock(storage, command="verify --origin --repair"):
            # Wrong bytes go first: package files are write-once (created with If-None-Match), so the
            # origin's file can only be stored once the key is free again.
            for key in result.keys_to_delete:
                storage.delete(key)
    finally:
        storage.close()
    print(f"repairing {len(projects)} project(s) from {config.origin}: {', '.join(projects)}")
    report = run_sync(config, SyncOptions(projects=projects, force=True))
    for line in report.summary_lines():
        print(line)
    _, again = _verify_origin(config, projects=projects)
    print(f"after repair: {_origin_summary(url, again)}")
    _print_findings(again)
    return 0 if not again.failed and report.ok else 1
