"""`cloudpypi import`: apply a bundle from `cloudpypi export` to a mirror, checking all of it first."""

from __future__ import annotations

import argparse

from cloudpypi.commands import add_target_options, config_from_args


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import", help="apply a bundle made by `cloudpypi export` to this mirror",
        description="Check every member of the bundle (plain files only, paths inside the mirror, sizes and "
                    "sha256 as the manifest says), check that it follows the target's serial, then publish: "
                    "files, pages, removals (files deleted after the grace period), the root index, the state. "
                    "Exit 2 and nothing written when the bundle is refused; 75 when a sync holds the lock. "
                    "Importing the same bundle again changes nothing.")
    add_target_options(parser, origin=False)
    parser.add_argument("--bundle", required=True, metavar="FILE", help="the bundle (a tar from cloudpypi export)")
    parser.add_argument("--lock-wait", type=float, default=0.0, metavar="SECONDS",
                        help="wait this long for a running sync to finish (default: refuse at once, exit 75)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from cloudpypi.bundle.importer import Importer, open_bundle
    from cloudpypi.storage import open_target

    config = config_from_args(args)
    bundle = open_bundle(args.bundle)  # the whole bundle is checked before the target is even opened
    try:
        manifest = bundle.manifest
        storage = open_target(config)
        try:
            importer = Importer(bundle, storage, deletion_grace=config.deletion_grace,
                                index_max_age=config.index_max_age, state_dir=config.state_dir or None,
                                lock_wait=args.lock_wait)
            result = importer.run()
        finally:
            storage.close()
    finally:
        bundle.close()
    if not result.applied:
        print(f"{storage.url} is at serial {result.serial_before} already: nothing to import "
              f"(bundle {manifest.since} -> {manifest.to})")
        return 0
    print(f"imported {args.bundle} into {storage.url}: serial {result.serial_before} -> {result.serial_after}, "
          f"{result.projects} project(s), {result.files_written} file(s) written ({result.files_present} already "
          f"there), {result.pages_written} page(s) written, {result.removed} project(s) removed, "
          f"{len(result.dropped)} file(s) to delete after the grace period, {result.deleted} deleted now")
    return 0
