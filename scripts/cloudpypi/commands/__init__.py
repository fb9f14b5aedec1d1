"""One module per `cloudpypi` subcommand: add_parser(subparsers) and run(args) -> exit code."""

from __future__ import annotations

import argparse

from cloudpypi.config import Config, load_config


def add_target_options(parser: argparse.ArgumentParser, *, origin: bool = True) -> None:
    parser.add_argument("--config", metavar="FILE", help="mirror config (TOML); flags override it")
    parser.add_argument("--target", metavar="DIR|s3://BUCKET[/PREFIX]",
                        help="where the mirror lives (default from the config, else ./mirror)")
    if origin:
        parser.add_argument("--origin", metavar="URL", help="the index to mirror (default https://pypi.org)")


def config_from_args(args: argparse.Namespace) -> Config:
    config = load_config(args.config)
    return config.with_overrides(
        target=getattr(args, "target", None),
        origin=getattr(args, "origin", None),
        workers=getattr(args, "workers", None),
        processes=getattr(args, "processes", None),
        stall_timeout=getattr(args, "stall_timeout", None),
    )
