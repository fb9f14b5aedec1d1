"""Time the engine's own root-index write for N synthetic projects (run as a child process).

    python -m bench.rootindex --names 700000 --target DIR

Fills the target's SQLite state with N projects, then times `Syncer._write_root` (the path a real
sync takes: streamed from the state's cursor into simple/index.v1_json, index.v1_html and index.html
on a folder target).  Prints one JSON line: names, seconds, CPU seconds of the write (this process,
every thread), bytes written.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from cloudpypi.config import Config
from cloudpypi.origin import OriginClient
from cloudpypi.state import State
from cloudpypi.storage.folder import FolderStorage
from cloudpypi.sync import Syncer, SyncOptions


def synthetic_names(count: int) -> Iterator[tuple[str, int, int, int]]:
    # PyPI-like lengths: a word, a separator, a counter; already normalized.
    stems = ("py", "django-", "flask-", "azure-mgmt-", "types-", "pytest-", "odoo-addon-", "")
    for i in range(count):
        yield f"{stems[i % len(stems)]}project-{i:07d}", 1_000_000 + i, 3, 100_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rootindex", description="Time the root-index write.")
    parser.add_argument("--names", type=int, default=700_000, help="synthetic projects (default 700000)")
    parser.add_argument("--target", type=Path, required=True, help="an empty folder to write into")
    args = parser.parse_args(argv)
    storage = FolderStorage(args.target)
    state = State.open(storage)
    state.db.execute("BEGIN")  # the state connection is in autocommit mode: one transaction for all rows
    state.db.executemany("INSERT OR REPLACE INTO projects VALUES (?, ?, ?, ?)", synthetic_names(args.names))
    state.db.execute("COMMIT")
    config = Config(origin="http://127.0.0.1:9", target=str(args.target))
    origin = OriginClient.from_config(config)
    syncer = Syncer(config, storage, origin, SyncOptions(progress=False))
    try:
        started, cpu_started = time.perf_counter(), time.process_time()
        syncer._write_root(state, 2_000_000)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    finally:
        syncer._pool.shutdown()
        state.close()
    written = sum((args.target / "simple" / name).stat().st_size
                  for name in ("index.v1_json", "index.v1_html", "index.html"))
    print(json.dumps({"names": args.names, "seconds": round(seconds, 3), "cpu_s": round(cpu, 3), "bytes": written}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
