"""Run the fake origin as its own process (benchmarks): builds the corpus, then prints one JSON line."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from .corpus import Corpus
from .server import OriginServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fakeorigin", description="Serve a fake PyPI origin on loopback.")
    parser.add_argument(
        "--corpus-spec", type=Path, required=True, help="JSON corpus spec (see the package doc)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="index port (0 = any free port)")
    parser.add_argument("--files-port", type=int, default=0, help="files port (0 = any free port)")
    parser.add_argument(
        "--state-dir",
        type=Path,
        required=True,
        help="writes origin.json (URLs, pid) here; built files go to <state-dir>/artifacts "
        "unless --cache-dir is given",
    )
    parser.add_argument("--cache-dir", type=Path, default=None, help="artifact cache shared across runs")
    parser.add_argument("--static", action="store_true", help="no serial header, no XML-RPC")
    parser.add_argument("--html-only", action="store_true", help="serve PEP 503 HTML only")
    parser.add_argument("--changelog-limit", type=int, default=50_000, help="entries per changelog call")
    parser.add_argument("--seed", type=int, default=0, help="fault-injection seed")
    parser.add_argument("--no-prebuild", action="store_true", help="build files lazily instead of up front")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="parallel file builds")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr)

    args.state_dir.mkdir(parents=True, exist_ok=True)
    spec = json.loads(args.corpus_spec.read_text())
    corpus = Corpus.from_spec(spec, cache_dir=args.cache_dir or args.state_dir / "artifacts")
    started = time.monotonic()
    total = 0 if args.no_prebuild else corpus.build_all(args.workers)
    origin = OriginServer(
        corpus,
        host=args.host,
        port=args.port,
        files_port=args.files_port,
        seed=args.seed,
        static=args.static,
        html_only=args.html_only,
        changelog_limit=args.changelog_limit,
    ).start()
    ready = {
        "url": origin.url,
        "simple_url": origin.simple_url,
        "files_url": origin.files_url,
        "control_url": f"{origin.url}/_fakeorigin/",
        "pid": os.getpid(),
        "serial": corpus.serial,
        "projects": len(corpus.projects),
        "files": len(corpus.all_specs()),
        "bytes": total,
        "build_s": round(time.monotonic() - started, 3),
    }
    (args.state_dir / "origin.json").write_text(json.dumps(ready, indent=2) + "\n")
    print(json.dumps(ready), flush=True)

    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    done.wait()
    origin.stop()
    return 0
