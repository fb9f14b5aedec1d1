"""`make bench`: the sync engine against the raw transfer limit, the verifying limit and bandersnatch 8.2.0.

    python -m bench.run [--scale default|small|tiny] [--corpus small-files,large-files] [--fs ext4|tmpfs]
                        [--out docs/BENCHMARKS.md] [--work DIR]

Everything runs on loopback in one go: the fake origin (its own process, one per corpus), a moto
server, the raw copies, bandersnatch and cloudpypi, each as a measured child process.  Two corpora:
many small files, and PyPI's size mix by bytes (most bytes in 20-300 MB wheels).  Each folder run
writes to a freshly made ext4 file system (bench.fs).  Prints a table and writes the Markdown report
with the figures, the machine, the date and the commands.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import costs, report
from bench.corpus import CORPORA, Listing, Scale, list_origin, scale_by_name, tree_bytes, write_listing
from bench.engine import engine_python
from bench.fs import Places
from bench.origin import REPO, Origin, running_origin
from bench.peer import bandersnatch_config, ensure_bandersnatch, peer_env
from bench.procs import BenchError, Measured, cpu_seconds, run_measured
from bench.results import Run

WORKERS = 10  # the engine's default, and bandersnatch's maximum
BUCKET = "bench"


@dataclass
class Context:
    scale: Scale
    work: Path
    origin: Origin
    moto: Any
    listing: Listing
    env: dict[str, str]
    s3_env: dict[str, str]
    bandersnatch: Path | None
    targets: Path
    places: Places
    corpus: str = "small-files"
    runs_count: int = 3  # full-sync rounds of this corpus
    peer_s3_runs: int = 1
    bandersnatch_problem: str = ""
    project_names: list[str] = field(default_factory=list)
    engine: str = sys.executable  # the interpreter measured cloudpypi runs use (bench.engine)
    runs: list[Run] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    commands: dict[str, list[str]] = field(default_factory=dict)

    def log(self, name: str) -> Path:
        return self.work / "logs" / f"{name}.log"


def base_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "scripts"), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONUNBUFFERED"] = "1"
    # An installed engine runs from compiled bytecode (pip compiles it).  With PYTHONDONTWRITEBYTECODE set
    # (as in some shells and CI images), every measured process would compile the package from source
    # again: about 0.3 CPU s per process, more than a whole no-op sync.  compile_package() runs first.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(key, None)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def compile_package() -> None:
    """Byte-compile the engine and the bench once, so no measured run pays for compiling them."""
    import compileall

    for folder in ("cloudpypi", "bench"):
        compileall.compile_dir(str(REPO / "scripts" / folder), quiet=1)


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------------
# targets
# ---------------------------------------------------------------------------------------------------------
def fresh_bucket(ctx: Context) -> None:
    ctx.moto.reset()  # drops every object of the previous S3 run, so moto's memory stays flat
    ctx.moto.client("s3").create_bucket(Bucket=BUCKET)


def bucket_totals(ctx: Context, prefix: str) -> tuple[int, int]:
    paginator = ctx.moto.client("s3").get_paginator("list_objects_v2")
    count = total = 0
    for page in paginator.paginate(Bucket=BUCKET, Prefix=prefix):
        for item in page.get("Contents", ()):
            if not item["Key"].endswith(".s3keep"):
                count += 1
                total += item["Size"]
    return count, total


def flush_disk() -> None:
    """Write back the previous run's dirty pages so they do not slow the next run down."""
    os.sync()


def measured(ctx: Context, name: str, argv: list[str], env: dict[str, str], *, scenario: str, target: str,
             phase: str, repeat: int, ok_codes: tuple[int, ...] = (0,)) -> tuple[Run, Measured]:
    ctx.origin.reset_counters()
    flush_disk()
    origin_cpu, moto_cpu = cpu_seconds(ctx.origin.pid), cpu_seconds(ctx.moto.process.pid)
    result = run_measured(argv, log=ctx.log(name), env=env, timeout=ctx.scale.timeout_s)
    origin_cpu, moto_cpu = cpu_seconds(ctx.origin.pid) - origin_cpu, cpu_seconds(ctx.moto.process.pid) - moto_cpu
    requests = ctx.origin.counters()
    ok = not result.timed_out and result.returncode in ok_codes
    note = ""
    if not ok:
        note = (f"killed after {result.wall_s:.0f} s" if result.timed_out
                else f"exit {result.returncode}; see {result.log}")
        say(f"{name}: FAILED ({note})\n{result.tail(8)}")
    run = Run(scenario, target, phase, repeat, result.wall_s, result.cpu_s, result.max_rss_mb,
              requests=requests, ok=ok, note=note, origin_cpu_s=origin_cpu, moto_cpu_s=moto_cpu, corpus=ctx.corpus)
    ctx.runs.append(run)
    ctx.commands.setdefault(f"{scenario} {phase} {target}", argv)
    return run, result


def cloudpypi_sync(ctx: Context, target: str, url: str, *, phase: str, repeat: int, state_dir: Path,
                   spool: Path | None = None) -> Run:
    report_path = ctx.work / "reports" / f"cloudpypi-{ctx.corpus}-{target}-{phase}-{repeat}.json"
    report_path.parent.mkdir(parents=True, exist_ok=True)
    argv = [ctx.engine, "-m", "cloudpypi", "sync", "--origin", ctx.origin.url, "--target", url,
            "--workers", str(WORKERS), "--no-progress", "--report", str(report_path)]
    env = dict(ctx.s3_env if target == "s3" else ctx.env)
    env["CLOUDPYPI_STATE_DIR"] = str(state_dir)
    env["CLOUDPYPI_SPOOL_DIR"] = str(spool or ctx.targets / "spool")
    run, _ = measured(ctx, f"cloudpypi-{ctx.corpus}-{target}-{phase}-{repeat}", argv, env, scenario="cloudpypi",
                      target=target, phase=phase, repeat=repeat)
    if report_path.exists():
        data = json.loads(report_path.read_text())
        run.files, run.bytes = int(data.get("files_added", 0)), int(data.get("bytes_added", 0))
        if data.get("failures"):
            run.ok = False
            run.note = f"{len(data['failures'])} project(s) failed: {data['failures'][:2]}"
    return run


# ---------------------------------------------------------------------------------------------------------
# the full-sync round
# ---------------------------------------------------------------------------------------------------------
def full_round(ctx: Context, repeat: int, keep: bool) -> dict[str, Any]:
    """Every tool once on both targets.  Each folder run writes to a file system of its own that has
    seen no deletion (bench.fs); the kept round's cloudpypi mirror stays for the later phases."""
    kept: dict[str, Any] = {}
    urls = ctx.work / "urls.txt"
    tag = f"{ctx.corpus}-{repeat}"

    # -- folder ---------------------------------------------------------------------------------------
    for scenario, extra in (("raw", []), ("rawsha", ["--sha256"])):
        with ctx.places.fresh(f"{scenario}-{tag}") as dest:
            argv = [sys.executable, "-m", "bench.rawcopy", "http", "--list", str(urls), "--dest", str(dest),
                    "--workers", str(WORKERS), *extra]
            run, _ = measured(ctx, f"{scenario}-folder-{tag}", argv, ctx.env, scenario=scenario, target="folder",
                              phase="full", repeat=repeat)
            run.files, run.bytes = tree_bytes(dest)

    if keep:
        dest = ctx.places.hold(f"cloudpypi-{tag}")  # stays mounted for the later phases
        run = cloudpypi_sync(ctx, "folder", str(dest), phase="full", repeat=repeat, state_dir=ctx.work / "unused")
        if run.ok:
            run.files, run.bytes = tree_bytes(dest / "packages")
        kept["folder"] = dest
    else:
        with ctx.places.fresh(f"cloudpypi-{tag}") as dest:
            run = cloudpypi_sync(ctx, "folder", str(dest), phase="full", repeat=repeat,
                                 state_dir=ctx.work / "unused")
            if run.ok:
                run.files, run.bytes = tree_bytes(dest / "packages")

    if ctx.bandersnatch:
        with ctx.places.fresh(f"bandersnatch-{tag}") as dest:
            conf = ctx.work / f"bandersnatch-folder-{tag}.conf"
            conf.write_text(bandersnatch_config(ctx.origin.url, str(dest)))
            run, _ = measured(ctx, f"bandersnatch-folder-{tag}", [str(ctx.bandersnatch), "-c", str(conf), "mirror"],
                              peer_env(ctx.env), scenario="bandersnatch", target="folder", phase="full",
                              repeat=repeat)
            run.files, run.bytes = tree_bytes(dest / "web" / "packages")

    # -- S3 (moto) -----------------------------------------------------------------------------------
    fresh_bucket(ctx)
    argv = [sys.executable, "-m", "bench.rawcopy", "s3", "--list", str(urls), "--bucket", BUCKET,
            "--workers", str(WORKERS)]
    run, _ = measured(ctx, f"raw-s3-{tag}", argv, ctx.s3_env, scenario="raw", target="s3", phase="full",
                      repeat=repeat)
    run.files, run.bytes = bucket_totals(ctx, "")

    if ctx.bandersnatch and repeat < ctx.peer_s3_runs:
        fresh_bucket(ctx)
        conf = ctx.work / f"bandersnatch-s3-{tag}.conf"
        conf.write_text(bandersnatch_config(ctx.origin.url, f"/{BUCKET}", s3_endpoint=ctx.moto.url,
                                            credentials=(ctx.s3_env["AWS_ACCESS_KEY_ID"],
                                                         ctx.s3_env["AWS_SECRET_ACCESS_KEY"])))
        run, _ = measured(ctx, f"bandersnatch-s3-{tag}", [str(ctx.bandersnatch), "-c", str(conf), "mirror"],
                          peer_env(ctx.s3_env), scenario="bandersnatch", target="s3", phase="full", repeat=repeat)
        run.files, run.bytes = bucket_totals(ctx, "web/packages/")

    fresh_bucket(ctx)  # cloudpypi last: in the kept round its bucket stays for the later phases
    state_dir = ctx.work / f"state-s3-{tag}"
    with ctx.places.fresh(f"spool-{tag}") as spool:  # the upload spool on the same kind of disk
        run = cloudpypi_sync(ctx, "s3", f"s3://{BUCKET}", phase="full", repeat=repeat, state_dir=state_dir,
                             spool=spool)
    if run.ok:
        run.files, run.bytes = bucket_totals(ctx, "packages/")
    if keep:
        kept["s3"] = state_dir
    return kept


# ---------------------------------------------------------------------------------------------------------
# after the full syncs: no-op, incremental, verify, the root index
# ---------------------------------------------------------------------------------------------------------
def change_one_percent(ctx: Context, round_number: int) -> list[str]:
    """Add a release (a wheel and an sdist) to 1% of the projects, a different slice each round."""
    count = max(1, ctx.origin.projects // 100)
    names = ctx.project_names
    start = (round_number * count * 7) % max(1, len(names) - count)
    chosen = names[start:start + count]
    for name in chosen:
        ctx.origin.mutate("add_release", name, f"9.{round_number}.0",
                          files=[{"tag": "py3-none-any", "size": 150_000}, {"tag": "sdist", "size": 80_000}],
                          requires_python=">=3.8")
    return chosen


def later_phases(ctx: Context, kept: dict[str, Any]) -> None:
    folder, s3_state = kept.get("folder"), kept.get("s3")
    runs = ctx.scale.runs
    for repeat in range(runs):
        if folder:
            cloudpypi_sync(ctx, "folder", str(folder), phase="noop", repeat=repeat, state_dir=ctx.work / "unused")
        if s3_state:
            cloudpypi_sync(ctx, "s3", f"s3://{BUCKET}", phase="noop", repeat=repeat, state_dir=s3_state)
    for repeat in range(runs):
        change_one_percent(ctx, repeat)
        if folder:
            cloudpypi_sync(ctx, "folder", str(folder), phase="incremental", repeat=repeat,
                           state_dir=ctx.work / "unused")
        if s3_state:
            cloudpypi_sync(ctx, "s3", f"s3://{BUCKET}", phase="incremental", repeat=repeat, state_dir=s3_state)
    for repeat in range(runs):
        for target, url, env in (("folder", str(folder), ctx.env), ("s3", f"s3://{BUCKET}", ctx.s3_env)):
            if (target == "folder" and not folder) or (target == "s3" and not s3_state):
                continue
            env = dict(env)
            if target == "s3":
                env["CLOUDPYPI_STATE_DIR"] = str(s3_state)
            argv = [ctx.engine, "-m", "cloudpypi", "verify", "--target", url]
            run, _ = measured(ctx, f"verify-{target}-{repeat}", argv, env, scenario="cloudpypi", target=target,
                              phase="verify", repeat=repeat)
            if target == "folder":
                run.files, run.bytes = tree_bytes(Path(url) / "packages")
            else:
                run.files, run.bytes = bucket_totals(ctx, "packages/")


def root_index(ctx: Context) -> list[dict[str, Any]]:
    timings = []
    for repeat in range(ctx.scale.runs):
        with ctx.places.fresh(f"rootindex-{repeat}") as place:
            target = place / "mirror"
            argv = [sys.executable, "-m", "bench.rootindex", "--names", str(ctx.scale.root_names),
                    "--target", str(target)]
            result = run_measured(argv, log=ctx.log(f"rootindex-{repeat}"), env=ctx.env,
                                  timeout=ctx.scale.timeout_s)
        ctx.commands.setdefault("root index", argv)
        lines = [ln for ln in result.log.read_text().splitlines() if ln.startswith("{")]
        if result.returncode != 0 or not lines:
            say(f"root index run failed: {result.tail(8)}")
            continue
        data = json.loads(lines[-1])
        data["rss_mb"] = result.max_rss_mb
        data["process_cpu_s"] = round(result.cpu_s, 2)
        timings.append(data)
    return timings


# ---------------------------------------------------------------------------------------------------------
def targets_dir(work: Path) -> tuple[Path, str]:
    """Where the mirrors are written: a tmpfs when there is one with room, else the scratch folder.

    On ext4, each round's `rm -rf` of the previous trees left thousands of recently freed inodes, and
    creating the next tree's files then spent most of its kernel time in the inode allocator
    (`perf`: `find_inode_bit` / `recently_deleted`), more for whichever tool creates more files.  That
    measures the benchmark's own churn, not mirroring, so the trees live in RAM.
    """
    chosen = os.environ.get("BENCH_TARGETS")
    if chosen:
        return Path(chosen) / f"cloudpypi-bench-{os.getpid()}", f"{chosen} (BENCH_TARGETS)"
    shm = Path("/dev/shm")
    if shm.is_dir() and shutil.disk_usage(shm).free > 8 * 2**30:
        return shm / f"cloudpypi-bench-{os.getpid()}", "tmpfs (/dev/shm)"
    return work / "targets", f"{work / 'targets'} (no tmpfs with 8 GB free)"


HAND_MEASURED = "## Measured outside `make bench`"
FLEET_BEGIN = "<!-- fleet fan-out: written by `python -m bench.fleet` -->"  # as bench.fleet writes it
SCALE_BEGIN = "<!-- PyPI-scale state: written by `python -m bench.scale` -->"  # as bench.scale writes it


def write_report(out: Path, generated: str) -> None:
    """The generated report, followed by the sections other runs wrote into the file it replaces (the
    hand-measured one, the sync fleet's fan-out and the PyPI-scale state runs), kept as they were."""
    old = out.read_text(encoding="utf-8") if out.exists() else ""
    starts = [old.index(marker) for marker in (HAND_MEASURED, FLEET_BEGIN, SCALE_BEGIN) if marker in old]
    kept = old[min(starts):] if starts else ""
    out.write_text(generated.rstrip("\n") + "\n\n" + kept if kept else generated, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description="Benchmark cloudpypi sync (see docs/BENCHMARKS.md).")
    parser.add_argument("--scale", default=os.environ.get("BENCH_SCALE", "default"),
                        help="default (500 + 150 projects), small (60 + 30) or tiny (8 + 6, for the smoke test)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "BENCHMARKS.md", help="Markdown report to write")
    parser.add_argument("--work", type=Path, default=None,
                        help="scratch folder (default $CLOUDPYPI_CACHE/bench/work-<scale>; emptied first)")
    parser.add_argument("--no-peer", action="store_true", help="skip bandersnatch")
    parser.add_argument("--corpus", default=os.environ.get("BENCH_CORPUS", ",".join(CORPORA)),
                        help=f"comma-separated corpora to measure (default: {','.join(CORPORA)})")
    parser.add_argument("--fs", default=os.environ.get("BENCH_FS", "ext4"), choices=("ext4", "tmpfs"),
                        help="folder targets on a fresh loop-mounted ext4 per run (default; needs root) or in "
                             "fresh folders on the tmpfs/scratch folder")
    parser.add_argument("--render-only", type=Path, metavar="DOCUMENT_JSON",
                        help="rewrite the report from a previous run's document.json, without measuring")
    args = parser.parse_args(argv)
    if args.render_only:
        doc = report.load(args.render_only)
        print(report.table(doc))
        write_report(args.out, report.markdown(doc))
        return 0
    scale = scale_by_name(args.scale)
    corpora = [c.strip() for c in args.corpus.split(",") if c.strip()]
    if not corpora or set(corpora) - set(CORPORA):
        parser.error(f"--corpus: expected a comma-separated subset of {', '.join(CORPORA)}, got {args.corpus!r}")
    cache = Path(os.environ.get("CLOUDPYPI_CACHE", Path.home() / ".cache" / "cloudpypi"))
    work = args.work or cache / "bench" / f"work-{scale.name}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    started = time.time()
    machine = report.machine_facts()
    machine["cache"] = str(cache)

    sys.path.insert(0, str(REPO / "tests"))
    env = base_env()
    compile_package()
    machine["engine_python"], machine["engine"] = engine_python(cache)
    bandersnatch, problem = None, ""
    if not args.no_peer:
        try:
            bandersnatch = ensure_bandersnatch(cache)
        except (BenchError, OSError) as exc:
            problem = str(exc)
            say(f"bandersnatch unavailable: {problem}")

    targets, fallback_label = targets_dir(work)
    targets.mkdir(parents=True, exist_ok=True)
    places = Places(work, targets, IMAGE_BYTES, args.fs)
    machine["targets"] = places.place.label if places.mode == "ext4" else fallback_label
    if places.problem and args.fs == "ext4":
        say(f"no fresh ext4 per run ({places.problem}): mirrors in {targets}")
    say(f"scale {scale.name}: corpora {', '.join(corpora)}; mirrors: {machine['targets']}")
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, targets, True)
        return _measure(args, scale, corpora, work, started, machine, env, bandersnatch, problem, targets, places)


IMAGE_BYTES = 16 * 2**30  # sparse: only what a run writes takes room


def _measure(args: argparse.Namespace, scale: Scale, corpora: list[str], work: Path, started: float,
             machine: dict[str, Any], env: dict[str, str], bandersnatch: Path | None, problem: str, targets: Path,
             places: Places) -> int:
    from support.motoserver import aws_env, moto_server

    cache = Path(machine["cache"])
    runs: list[Run] = []
    commands: dict[str, list[str]] = {}
    listings: dict[str, Listing] = {}
    origins: dict[str, Origin] = {}
    roots: list[dict[str, Any]] = []
    with moto_server(log_dir=work / "logs") as moto:
        for corpus in corpora:
            small = corpus == "small-files"
            spec = scale.spec() if small else scale.large_spec()
            corpus_work = work / corpus
            with running_origin(spec, corpus_work, cache / "bench" / "artifacts", env) as origin:
                listing = list_origin(origin.url)
                write_listing(listing, corpus_work / "urls.txt")
                ctx = Context(scale, corpus_work, origin, moto, listing, env, aws_env(moto.url, env), bandersnatch,
                              targets, places, corpus=corpus, runs_count=scale.runs if small else scale.large_runs,
                              peer_s3_runs=scale.peer_s3_runs if small else scale.large_peer_s3_runs,
                              bandersnatch_problem=problem, runs=runs, commands=commands,
                              engine=machine["engine_python"])
                listings[corpus], origins[corpus] = listing, origin
                say(f"{corpus} corpus: {listing.file_count} files + {listing.metadata_count} .metadata, "
                    f"{listing.file_bytes / 1e9:.2f} GB, largest {listing.largest / 1e6:.0f} MB")
                try:
                    kept: dict[str, Any] = {}
                    for repeat in range(ctx.runs_count):
                        say(f"{corpus}: full-sync round {repeat + 1}/{ctx.runs_count}")
                        last = repeat == ctx.runs_count - 1
                        kept = full_round(ctx, repeat, keep=small and last)
                        say(report.round_summary(ctx.runs, repeat, corpus))
                    if small:
                        ctx.project_names = _project_names(origin.url)
                        say("no-op, incremental and verify runs")
                        later_phases(ctx, kept)
                        say(f"root index for {scale.root_names:,} names")
                        roots = root_index(ctx)
                finally:
                    places.close()
        first = corpora[0]
        forecasts, cost_problem = costs.all_forecasts(
            listings[first].file_bytes, listings[first].file_count + listings[first].metadata_count,
            origins[first].projects)
        finished = time.time()
        machine["load_after"] = report.loadavg()
        doc = report.Document(scale=scale, listing=listings[first], origin=origins[first], runs=runs, roots=roots,
                              forecasts=forecasts, cost_problem=cost_problem, machine=machine,
                              started=started, finished=finished, commands=commands,
                              bandersnatch_problem=problem, workers=WORKERS, corpora=corpora,
                              listings=listings, origins=origins)
    (work / "results.json").write_text(json.dumps([r.as_dict() for r in runs], indent=1))
    report.save(doc, work / "document.json")
    print(report.table(doc))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_report(args.out, report.markdown(doc))
    say(f"wrote {args.out} ({(finished - started) / 60:.1f} min); raw results in {work / 'results.json'}")
    return 0


def _project_names(origin_url: str) -> list[str]:
    import urllib3

    data = urllib3.PoolManager().request("GET", origin_url + "/simple/",
                                         headers={"Accept": "application/vnd.pypi.simple.v1+json"}).data
    return [p["name"] for p in json.loads(data)["projects"]]


if __name__ == "__main__":
    sys.exit(main())
