"""`cloudpypi` command line: argument parsing only.  Each subcommand lives in cloudpypi.commands.<name>."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from cloudpypi import __version__
from cloudpypi.errors import CloudPyPIError

COMMANDS: tuple[str, ...] = ("sync", "verify", "status", "costs", "serve", "invalidate", "why", "closure",
                             "report", "export", "import_", "forecast", "fleet", "worker", "token", "upload",
                             "remove")


def chosen_command(argv: Sequence[str]) -> str | None:
    """The subcommand argv names (its first word that is not an option), when it is a known one."""
    first = next((arg for arg in argv if not arg.startswith("-")), None)
    return first if first in COMMANDS else None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full parser, or with `only` the parser of one subcommand: importing every command module
    (verify, costs, closure and what they import) cost more CPU than a whole no-op sync."""
    parser = argparse.ArgumentParser(
        prog="cloudpypi",
        description="Mirror PyPI (or any PEP 503/691 index) into a folder or an S3 bucket.",
    )
    parser.add_argument("--version", action="version", version=f"cloudpypi {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in (only,) if only else COMMANDS:
        importlib.import_module(f"cloudpypi.commands.{name}").add_parser(subparsers)
    return parser


def configure_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose > 1 else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    # botocore and urllib3 are chatty at INFO; keep them for -vv
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose > 2 else logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(chosen_command(argv))
    args = parser.parse_args(argv)
    configure_logging(args.verbose, args.quiet)
    try:
        return int(args.run(args))
    except CloudPyPIError as exc:
        print(f"cloudpypi {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"cloudpypi {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # stdout closed early (e.g. piped into `head`): not an error worth a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
