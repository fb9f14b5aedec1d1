"""`cloudpypi export`: the mirror's changes after a serial as one bundle (a tar) for an air-gapped mirror."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from cloudpypi.commands import add_target_options, config_from_args
from cloudpypi.errors import ConfigError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export", help="write the mirror's changes after a serial as a bundle (tar) for another mirror",
        description="Write the files, core metadata and pages the mirror changed after --since, plus a manifest "
                    "(every member's sha256 and size, the serial range, the projects removed), as one tar. "
                    "--since 0 writes a full bundle. `cloudpypi import` applies it elsewhere. Exit 2 when no "
                    "bundle can be made as asked, 1 when the mirror itself is damaged.")
    add_target_options(parser, origin=False)
    parser.add_argument("--since", type=int, required=True, metavar="SERIAL",
                        help="the serial of the mirror that will import the bundle (0: a full bundle)")
    parser.add_argument("--out", required=True, metavar="FILE|-",
                        help="the bundle to write ('-': standard output)")
    parser.add_argument("--lock-wait", type=float, default=0.0, metavar="SECONDS",
                        help="wait this long for a running sync to finish (default: refuse at once, exit 75)")
    parser.set_defaults(run=run)


@contextlib.contextmanager
def _output(out: str) -> Iterator[BinaryIO]:
    """Standard output, or FILE written as FILE.part and renamed once complete (never half a bundle)."""
    if out == "-":
        if sys.stdout.isatty():
            raise ConfigError("--out -: standard output is a terminal; redirect it to a file")
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    path = Path(out)
    partial = path.with_name(path.name + ".part")
    try:
        handle = open(partial, "wb")
    except OSError as exc:
        raise ConfigError(f"--out {out}: {exc.strerror}") from None
    try:
        with handle:
            yield handle
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def run(args: argparse.Namespace) -> int:
    from cloudpypi.bundle.export import export_bundle
    from cloudpypi.layout import is_file_key
    from cloudpypi.lock import TargetLock
    from cloudpypi.state import State
    from cloudpypi.storage import open_target

    if args.since < 0:
        raise ConfigError("--since must be 0 (a full bundle) or a serial")
    config = config_from_args(args)
    storage = open_target(config)
    try:
        with TargetLock(storage, wait=args.lock_wait, command="export"):
            state = State.open(storage, config.state_dir or None, read_only=True)
            try:
                with _output(args.out) as out:
                    manifest = export_bundle(storage, state, args.since, out)
            finally:
                state.close()
    finally:
        storage.close()
    files = sum(1 for m in manifest.members if is_file_key(m.key))
    size = sum(m.size for m in manifest.members)
    kind = "full bundle" if manifest.full else "bundle"
    print(f"{kind} of {storage.url}: serial {manifest.since} -> {manifest.to}, {len(manifest.projects)} project(s), "
          f"{files} file(s), {len(manifest.removed)} removal(s), {size} bytes of members"
          + ("" if args.out == "-" else f", written to {args.out}"), file=sys.stderr)
    return 0
