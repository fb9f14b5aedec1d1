"""`cloudpypi remove`: unlist a private project's files, or the whole private project."""

from __future__ import annotations

import argparse

from cloudpypi.commands import add_target_options, config_from_args


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "remove", help="remove private files or a private project (after the deletion grace period)",
        description="With FILENAMEs, unlist those files of the private project NAME (the name stays private). "
                    "Without, remove the project: its pages go now and the name is no longer private. The "
                    "files' bytes are deleted by a sync once [mirror] deletion_grace has passed. A filename "
                    "never comes back with other bytes. Only uploaded projects are removed this way.")
    add_target_options(parser, origin=False)
    parser.add_argument("name", metavar="NAME", help="the private project")
    parser.add_argument("filenames", nargs="*", metavar="FILENAME", help="files to unlist (default: the project)")
    parser.add_argument("--lock-wait", type=float, default=0.0, metavar="SECONDS",
                        help="wait this long for a sync holding the target's lock (default: refuse at once, exit 75)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from cloudpypi.storage import open_target
    from cloudpypi.upload.store import remove

    config = config_from_args(args)
    storage = open_target(config)
    try:
        remove(config, storage, args.name, args.filenames, lock_wait=args.lock_wait)
    finally:
        storage.close()
    return 0
