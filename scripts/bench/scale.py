"""The engine at PyPI's scale of state, built directly, without downloading: 736k projects, 12M files.

1. A fake origin with the projects a run will touch (500), mirrored once for real into a folder on a
   fresh file system, so the state, pages and root index are the engine's own.
2. The state then gets PyPI's other projects as rows (names, serials, file counts and sizes summing to
   about 12M files and 36 TB), written straight into the mirror's SQLite state: the run that follows
   reads it as it would after months of syncing.
3. Measured, each as a fresh `cloudpypi sync` process: a no-op run (the origin's serial has not moved),
   then an incremental run after 500 projects changed (a release without files each, so no transfers:
   what is timed is planning, 500 page fetches and writes, the 736k-name root index and the state).

Targets: no-op < 1 s, incremental < 30 s, peak RSS < 150 MB.

    python -m bench.scale [--projects 736000] [--files 12000000] [--changed 500] [--out docs/BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
for path in (REPO / "scripts", REPO / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from bench.engine import engine_python  # noqa: E402 (the path is set just above)
from bench.procs import Measured, run_measured  # noqa: E402
from bench.report import replace_section  # noqa: E402
from support.fakeorigin import Corpus, running_origin  # noqa: E402

SCALE_BEGIN = "<!-- PyPI-scale state: written by `python -m bench.scale` -->"
SCALE_END = "<!-- end of PyPI-scale state -->"
TARGETS = {"no-op": 1.0, "incremental": 30.0}
RSS_TARGET_MB = 150.0
TB = 36 * 10**12


def touched_names(projects: int, changed: int) -> list[str]:
    step = max(1, projects // changed)
    return [f"p{index:07d}" for index in range(0, step * changed, step)][:changed]


def grow_state(state_file: Path, projects: int, files: int, keep: set[str]) -> None:
    """Add the rest of PyPI to the state as project rows (the mirror's pages for them are not needed)."""
    per_project, extra = divmod(files, projects)
    size_per_file = TB // max(1, files)
    db = sqlite3.connect(state_file)
    try:
        serial = int(db.execute("SELECT value FROM meta WHERE key = 'serial'").fetchone()[0])
        rows = ((f"p{index:07d}", serial - 1 - index % 1000, per_project + (index < extra),
                 (per_project + (index < extra)) * size_per_file)
                for index in range(projects) if f"p{index:07d}" not in keep)
        with db:
            db.executemany("INSERT OR IGNORE INTO projects VALUES (?, ?, ?, ?)", rows)
        db.execute("VACUUM")
    finally:
        db.close()


def sync(origin_url: str, target: Path, work: Path, name: str, engine: str = sys.executable) -> Measured:
    env = {**os.environ, "PYTHONPATH": str(REPO / "scripts")}
    return run_measured([engine, "-m", "cloudpypi", "sync", "--origin", origin_url, "--target", str(target),
                         "--no-progress", "--processes", "1", "--report", str(work / f"{name}.json")],
                        log=work / f"{name}.log", env=env, timeout=1800)


def render(results: dict[str, Measured], projects: int, files: int, changed: int, state_mb: float) -> str:
    lines = [SCALE_BEGIN, "## PyPI-scale state", "",
             f"A mirror whose state holds {projects:,} projects and {files:,} files (built directly, without "
             f"downloading), on a folder target; each run is a fresh `cloudpypi sync` process. The incremental "
             f"run follows {changed} changed projects (no new files: planning, page fetches and writes, the "
             f"{projects:,}-name root index and the state are what is timed). State on disk: {state_mb:.0f} MB.", "",
             "| run | wall time | CPU | peak RSS | target | met |", "|---|---|---|---|---|---|"]
    for name, run in results.items():
        target = TARGETS[name]
        met = run.returncode == 0 and run.wall_s < target and run.max_rss_mb < RSS_TARGET_MB
        lines.append(f"| {name} | {run.wall_s:.2f} s | {run.cpu_s:.2f} s | {run.max_rss_mb:.0f} MB | "
                     f"< {target:g} s, < {RSS_TARGET_MB:.0f} MB | {'yes' if met else 'NOT met'} |")
    lines += ["", SCALE_END]
    return "\n".join(lines) + "\n"


def write_section(out: Path, section: str) -> None:
    replace_section(out, SCALE_BEGIN, SCALE_END, section)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.scale", description=__doc__.split("\n")[0])
    parser.add_argument("--projects", type=int, default=736_000)
    parser.add_argument("--files", type=int, default=12_000_000)
    parser.add_argument("--changed", type=int, default=500)
    parser.add_argument("--out", type=Path, help="write the section into this markdown file")
    args = parser.parse_args(argv)
    names = touched_names(args.projects, args.changed)
    corpus = Corpus()
    for name in names:
        corpus.add_project(name, [{"version": "1.0", "files": []}])
    results: dict[str, Measured] = {}
    engine, _label = engine_python(Path(os.environ.get("CLOUDPYPI_CACHE", Path.home() / ".cache" / "cloudpypi")))
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp, running_origin(corpus) as origin:
        work, target = Path(tmp), Path(tmp) / "mirror"
        first = sync(origin.url, target, work, "first", engine)
        if first.returncode != 0:
            raise SystemExit(f"the first sync failed:\n{first.tail()}")
        state_file = target / ".cloudpypi" / "state.sqlite"
        grow_state(state_file, args.projects, args.files, set(names))
        results["no-op"] = sync(origin.url, target, work, "noop", engine)
        for name in names:
            corpus.add_release(name, "2.0", files=[])
        results["incremental"] = sync(origin.url, target, work, "incremental", engine)
        state_mb = state_file.stat().st_size / 1e6
        incremental = json.loads((work / "incremental.json").read_text())
        noop = json.loads((work / "noop.json").read_text())
        if noop["mode"] != "no-op" or incremental["mode"] != "changelog" or \
                incremental["projects_synced"] != args.changed:
            raise SystemExit(f"the runs did not do what is measured: no-op mode {noop['mode']}, incremental mode "
                             f"{incremental['mode']} with {incremental['projects_synced']} project(s) synced")
        for name, run in results.items():
            if run.returncode != 0:
                raise SystemExit(f"the {name} run failed:\n{run.tail()}")
            print(f"{name}: {run.wall_s:.2f} s wall, {run.cpu_s:.2f} s CPU, {run.max_rss_mb:.0f} MB", flush=True)
    section = render(results, args.projects, args.files, args.changed, state_mb)
    print(section)
    if args.out:
        write_section(args.out, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
