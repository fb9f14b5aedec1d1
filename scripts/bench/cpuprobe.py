"""CPU per GB of the large-file path, measured in a way the machine's load hardly moves.

    python -m bench.cpuprobe [--scale small] [--corpus large-files|small-files] [--targets folder,s3]
                             [--tools raw,rawsha,cloudpypi] [--rounds 2] [--fs ext4|tmpfs] [--strace DIR]
                             [--wrap PREFIX]
                             [-- EXTRA SYNC ARGS]

Starts the fake origin with the large-file corpus (or, with --corpus small-files, the small-file one) of the
chosen scale (and a moto server when S3 is
measured), then runs each tool once per round as a measured child process, alternating them, each
folder run on a fresh file system (bench.fs).  For every run it prints user and system CPU seconds
(the child and the processes it waited for), CPU seconds per GB stored, the origin's and moto's CPU
meanwhile, and peak RSS.  Wall time is printed too, but on a shared machine only the CPU figures
compare.  With --strace DIR, every run goes under `strace -c -f` and its syscall summary is kept in DIR
(strace slows the run and adds system time: compare syscall counts from such runs, CPU from plain ones).

Tools: `raw` and `rawsha` are bench.rawcopy (`http` mode into the folder, `s3` mode into the bucket;
rawsha is folder only), `cloudpypi` is `cloudpypi sync` with the benchmark's settings.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

from bench.corpus import CORPORA, list_origin, scale_by_name, tree_bytes, write_listing
from bench.engine import engine_python
from bench.fs import Places
from bench.origin import running_origin
from bench.procs import cpu_seconds, run_measured
from bench.run import BUCKET, WORKERS, base_env, bucket_totals, compile_package

TOOLS = ("raw", "rawsha", "cloudpypi")
IMAGE_BYTES = 16 * 2**30


def argv_for(tool: str, target: str, urls: Path, dest: str, origin_url: str, engine: str) -> list[str] | None:
    if tool in ("raw", "rawsha"):
        if target == "s3":
            return None if tool == "rawsha" else [sys.executable, "-m", "bench.rawcopy", "s3", "--list", str(urls),
                                                  "--bucket", BUCKET, "--workers", str(WORKERS)]
        return [sys.executable, "-m", "bench.rawcopy", "http", "--list", str(urls), "--dest", dest,
                "--workers", str(WORKERS), *(["--sha256"] if tool == "rawsha" else [])]
    return [engine, "-m", "cloudpypi", "sync", "--origin", origin_url, "--target", dest,
            "--workers", str(WORKERS), "--no-progress"]


def main(argv: list[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in args_in:
        extra = args_in[args_in.index("--") + 1:]
        args_in = args_in[:args_in.index("--")]
    parser = argparse.ArgumentParser(prog="cpuprobe", description="CPU s/GB of raw, raw+SHA-256 and cloudpypi.")
    parser.add_argument("--scale", default="small", help="the bench scale whose large-file corpus to use")
    parser.add_argument("--corpus", default="large-files", choices=CORPORA, help="which of the bench's corpora")
    parser.add_argument("--targets", default="folder,s3")
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--fs", default="ext4", choices=("ext4", "tmpfs"))
    parser.add_argument("--strace", type=Path, help="run every tool under strace -c -f; summaries in this folder")
    parser.add_argument("--wrap", help="a command prefix for every measured run, {name} replaced by the run's "
                                       "name, e.g. 'perf record -g -o /tmp/perf-{name}.data --'")
    parser.add_argument("--work", type=Path, default=Path("/tmp") / f"cpuprobe-{os.getpid()}")
    parser.add_argument("--json", type=Path, help="also write the runs as JSON lines here")
    args = parser.parse_args(args_in)
    scale = scale_by_name(args.scale)
    targets = [t for t in args.targets.split(",") if t]
    tools = [t for t in args.tools.split(",") if t]
    cache = Path(os.environ.get("CLOUDPYPI_CACHE", Path.home() / ".cache" / "cloudpypi"))
    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = base_env()
    compile_package()
    engine, engine_label = engine_python(cache)
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
    from support.motoserver import aws_env, moto_server

    places = Places(work, work / "targets", IMAGE_BYTES, args.fs)
    if args.strace:
        args.strace.mkdir(parents=True, exist_ok=True)
    results = []
    with contextlib.ExitStack() as stack:
        moto = stack.enter_context(moto_server(log_dir=work / "logs")) if "s3" in targets else None
        spec = scale.large_spec() if args.corpus == "large-files" else scale.spec()
        origin = stack.enter_context(running_origin(spec, work / "origin", cache / "bench" / "artifacts", env))
        listing = list_origin(origin.url)
        urls = write_listing(listing, work / "urls.txt")
        print(f"corpus: {listing.file_count} files + {listing.metadata_count} .metadata, "
              f"{listing.file_bytes / 1e9:.2f} GB, largest {listing.largest / 1e6:.0f} MB; places: "
              f"{places.place.label}; engine from {engine_label}", flush=True)
        print(f"{'run':<28} {'wall':>6} {'user':>6} {'sys':>6} {'CPU/GB':>7} {'origin':>7} {'moto':>6} "
              f"{'RSS MB':>7}", flush=True)
        for number in range(args.rounds):
            for target in targets:
                for tool in tools:
                    name = f"{tool}-{target}-{number}"
                    with contextlib.ExitStack() as run_stack:
                        run_env = dict(env)
                        if target == "s3":
                            assert moto is not None
                            moto.reset()
                            moto.client("s3").create_bucket(Bucket=BUCKET)
                            run_env = aws_env(moto.url, env)
                            run_env["CLOUDPYPI_STATE_DIR"] = str(work / f"state-{name}")
                            run_env["CLOUDPYPI_SPOOL_DIR"] = str(run_stack.enter_context(places.fresh(f"spool-{name}")))
                            dest = f"s3://{BUCKET}"
                        else:
                            dest = str(run_stack.enter_context(places.fresh(name)))
                        command = argv_for(tool, target, urls, dest, origin.url, engine)
                        if command is None:
                            continue
                        if tool == "cloudpypi":
                            command += extra
                        if args.wrap:
                            command = [*args.wrap.format(name=name).split(), *command]
                        if args.strace:
                            command = ["strace", "-c", "-f", "-o", str(args.strace / f"{name}.txt"), *command]
                        os.sync()
                        origin_cpu = cpu_seconds(origin.pid)
                        moto_cpu = cpu_seconds(moto.process.pid) if moto else 0.0
                        result = run_measured(command, log=work / "logs" / f"{name}.log", env=run_env,
                                              timeout=scale.timeout_s * 4)
                        origin_cpu = cpu_seconds(origin.pid) - origin_cpu
                        moto_cpu = (cpu_seconds(moto.process.pid) - moto_cpu) if moto else 0.0
                        if target == "s3":
                            _files, stored = bucket_totals(_Ctx(moto), "")
                        else:
                            _files, stored = tree_bytes(Path(dest))
                    gb = stored / 1e9
                    row = {"run": name, "ok": result.returncode == 0, "wall_s": round(result.wall_s, 2),
                           "user_s": round(result.user_s, 2), "sys_s": round(result.sys_s, 2),
                           "cpu_s_per_gb": round(result.cpu_s / gb, 3) if gb else None,
                           "origin_cpu_s": round(origin_cpu, 2), "moto_cpu_s": round(moto_cpu, 2),
                           "rss_mb": round(result.max_rss_mb), "bytes": stored, "load": os.getloadavg()[0]}
                    results.append(row)
                    flag = "" if row["ok"] else f"  FAILED (exit {result.returncode}, {result.log})"
                    print(f"{name:<28} {row['wall_s']:>6.1f} {row['user_s']:>6.2f} {row['sys_s']:>6.2f} "
                          f"{row['cpu_s_per_gb'] or 0:>7.2f} {row['origin_cpu_s']:>7.2f} {row['moto_cpu_s']:>6.2f} "
                          f"{row['rss_mb']:>7}{flag}  load {row['load']:.1f}", flush=True)
        places.close()
    if args.json:
        with open(args.json, "a") as out:
            for row in results:
                out.write(json.dumps({"at": time.strftime("%H:%M:%S"), **row}) + "\n")
    return 0


class _Ctx:
    """The one attribute bench.run.bucket_totals reads."""

    def __init__(self, moto: object) -> None:
        self.moto = moto


if __name__ == "__main__":
    sys.exit(main())
