"""`cloudpypi upload`: publish wheels and sdists of private projects beside the mirror."""

from __future__ import annotations

import argparse
from pathlib import Path

from cloudpypi.commands import add_target_options, config_from_args


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "upload", help="publish private wheels and sdists beside the mirror",
        description="Validate each distribution (filename, core metadata inside the archive matching it, "
                    "size, archive paths), then store it under packages/private/, publish its .metadata, "
                    "its project's pages and the root index. The project becomes private: a sync never "
                    "adds the origin's files to it. A filename that exists with other bytes is refused; "
                    "the same bytes again change nothing. Exit 2, with nothing written, on any refusal.")
    add_target_options(parser, origin=False)
    parser.add_argument("dists", nargs="+", metavar="DIST", help="a wheel (.whl) or an sdist (.tar.gz)")
    parser.add_argument("--lock-wait", type=float, default=0.0, metavar="SECONDS",
                        help="wait this long for a sync holding the target's lock (default: refuse at once, exit 75)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from cloudpypi.storage import open_target
    from cloudpypi.upload.store import upload

    config = config_from_args(args)
    storage = open_target(config)
    try:
        upload(config, storage, [Path(p) for p in args.dists], lock_wait=args.lock_wait)
    finally:
        storage.close()
    return 0
