"""`cloudpypi why NAME`: the requirement chains that pulled a project into a closure mirror."""

from __future__ import annotations

import argparse
import logging

from cloudpypi.commands import add_target_options, config_from_args
from cloudpypi.errors import ConfigError

log = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "why", help="the requirement chains that pulled a project into a closure mirror",
        description="Show, per target environment, the chains of requirements from the [closure] config down "
                    "to NAME, from the closure the last sync stored (or, with --compute or when none is stored "
                    "for this config, computed now from the origin). Exit 1 when NAME is not in the closure.")
    parser.add_argument("name", metavar="NAME", help="a project name")
    add_target_options(parser)
    parser.add_argument("--compute", action="store_true",
                        help="resolve now from the origin instead of reading the mirror's stored closure")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from cloudpypi.closure import compute, parse_closure
    from cloudpypi.closure.store import load_record
    from cloudpypi.closure.why import explain
    from cloudpypi.origin import OriginClient
    from cloudpypi.state import State
    from cloudpypi.storage import open_target

    config = config_from_args(args)
    if not config.closure:
        raise ConfigError(f"{args.config or 'the config'} has no [closure] table")
    spec = parse_closure(config.closure)
    record = None
    if not args.compute:
        storage = open_target(config)
        try:
            state = State.open(storage, config.state_dir or None, read_only=True)
            try:
                record = load_record(state)
            finally:
                state.close()
        finally:
            storage.close()
        if record is not None and record.fingerprint != spec.fingerprint():
            log.warning("the mirror's stored closure was made from another [closure] config; computing it now")
            record = None
    if record is None:
        origin = OriginClient.from_config(config)
        try:
            record = compute(spec, origin, workers=config.workers).record
        finally:
            origin.close()
        source = f"computed now from {config.origin}"
    else:
        source = f"stored by the last sync of {config.target}"
    found, lines = explain(record, args.name)
    print(f"# closure {source}")
    for line in lines:
        print(line)
    return 0 if found else 1
