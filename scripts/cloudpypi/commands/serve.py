"""`cloudpypi serve`: the local edge (CloudFront distribution + function, on loopback or a LAN)."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from types import FrameType

from cloudpypi.commands import add_target_options, config_from_args
from cloudpypi.errors import CloudPyPIError

log = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve", help="serve a mirror over HTTP with the CloudFront edge's rules",
        description="Serve a folder or S3 mirror like the CloudFront distribution and its function do: "
                    "PEP 691 negotiation on /simple/, 301 to normalized names, 404 outside /simple/ and "
                    "/packages/, 406 when nothing acceptable, HEAD and Range on files. "
                    "Stops on SIGTERM/SIGINT.")
    add_target_options(parser, origin=False)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080,
                        help="port to bind; 0 picks a free one (default 8080)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from cloudpypi.edge.server import EdgeServer, run_until_stopped
    from cloudpypi.storage import open_target

    config = config_from_args(args)
    storage = open_target(config)
    try:
        server = EdgeServer(storage, args.host, args.port, page_max_age=config.index_max_age)
    except OSError as exc:
        storage.close()
        raise CloudPyPIError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: shutting down", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        print(f"Serving {storage.url} on {server.url}", flush=True)
        run_until_stopped(server, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        storage.close()
    log.info("stopped")
    return 0
