"""The sync fleet's fan-out: the same fresh sync with 1, 2 and 4 local workers, each network-bound.

Each worker stands for a host with a fixed link: the fake origin paces every file download at
``--bandwidth`` bytes/s and each worker opens ``--connections`` downloads at once, so a worker's rate is
capped as a host's would be, and the machine's own CPU (2 cores here) is not what is measured.  The
coordinator, the workers, the fake origin and the moto server (S3 and SQS) run on loopback.

Target: a speed-up of at least 0.8 x N with N workers, up to 4.

    python -m bench.fleet [--projects 64] [--file-size 393216] [--bandwidth 1000000] [--rounds 3]
                          [--out docs/BENCHMARKS.md]

The section it writes into BENCHMARKS.md sits between FLEET_BEGIN and FLEET_END markers; `make bench`
keeps it when it rewrites the rest of the file.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
for path in (REPO / "scripts", REPO / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from bench.report import replace_section  # noqa: E402
from support.fakeorigin import Corpus, running_origin  # noqa: E402 (the path is set just above)
from support.motoserver import moto_server  # noqa: E402

FLEET_BEGIN = "<!-- fleet fan-out: written by `python -m bench.fleet` -->"
FLEET_END = "<!-- end of fleet fan-out -->"
TARGET_EFFICIENCY = 0.8
READY = "ready; waiting for work"  # what a worker logs once it polls the work queue


def corpus(projects: int, file_size: int) -> Corpus:
    result = Corpus()
    for index in range(projects):
        result.add_project(f"fanout-{index:03d}", [
            {"version": "1.0",
             "files": [{"tag": "py3-none-any", "size": file_size}, {"tag": "sdist", "size": file_size}]},
        ])
    return result


def run_once(moto, origin, workers: int, connections: int, work: Path) -> float:
    """Seconds for a fresh fleet sync with ``workers`` workers, from the coordinator's start to its exit."""
    from cloudpypi.fleet.queues import FleetQueues

    fleet = f"b{uuid.uuid4().hex[:10]}"
    bucket = moto.make_bucket(f"fanout-{uuid.uuid4().hex[:8]}").removeprefix("s3://")
    FleetQueues.init(fleet, client=moto.client("sqs"), visibility_timeout=300)
    target = f"s3://{bucket}/m"
    env = moto.env({**os.environ, "PYTHONPATH": str(REPO / "scripts"), "CLOUDPYPI_STATE_DIR": str(work / fleet)})
    cli = [sys.executable, "-m", "cloudpypi"]
    logs = [work / f"{fleet}-worker-{index}.log" for index in range(workers)]
    procs = []
    for log_path in logs:
        with log_path.open("wb") as log_file:
            procs.append(subprocess.Popen(
                [*cli, "--verbose", "worker", "--fleet", fleet, "--origin", origin.url, "--target", target,
                 "--workers", str(connections), "--exit-when-idle", "600"],
                env=env, stdout=subprocess.DEVNULL, stderr=log_file, start_new_session=True))
    try:
        # A scaled-up group's workers are running and polling before `sync --fleet` starts; their start-up
        # (an instance boot, then the interpreter) is not part of the sync, so the clock starts when all
        # have said they are ready.
        wait_until_ready(procs, logs)
        started = time.monotonic()
        run = subprocess.run([*cli, "sync", "--fleet", fleet, "--origin", origin.url, "--target", target,
                              "--no-progress"], env=env, capture_output=True, text=True, timeout=3600, check=False)
        elapsed = time.monotonic() - started
        if run.returncode != 0:
            raise SystemExit(f"fleet sync with {workers} worker(s) failed (exit {run.returncode}):\n"
                             f"{run.stderr[-2000:]}")
        return elapsed
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=60)


def wait_until_ready(procs: list[subprocess.Popen[bytes]], logs: list[Path], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    waiting = set(range(len(procs)))
    while waiting:
        for index in list(waiting):
            if READY in logs[index].read_text(errors="replace"):
                waiting.discard(index)
            elif procs[index].poll() is not None:
                raise SystemExit(f"fleet worker {index} exited before it was ready:\n{logs[index].read_text()[-2000:]}")
        if waiting and time.monotonic() > deadline:
            raise SystemExit(f"{len(waiting)} fleet worker(s) not ready after {timeout:.0f} s")
        if waiting:
            time.sleep(0.05)  # the interval between two looks at the logs, not a guess at readiness


def render(times: dict[int, list[float]], projects: int, file_size: int, bandwidth: int, connections: int,
           load_before: float = 0.0) -> str:
    """The section: per fleet size the median wall time and the median of the rounds' own speed-ups (each
    round's N-worker time against the same round's first size), so a noisy minute moves one round only."""
    sizes = list(times)
    base = times[sizes[0]]
    rounds = len(base)
    total_mb = projects * 2 * file_size / 1e6
    lines = [FLEET_BEGIN, "## Sync fleet: fan-out", "",
             f"A fresh sync of {projects} projects ({projects * 2} files, {total_mb:.0f} MB) into S3 on moto, by a "
             f"coordinator and N local workers. Each worker is network-bound like a host with a fixed link: "
             f"{connections} downloads at once, each paced by the origin at {bandwidth / 1e6:g} MB/s. "
             "The clock starts once every worker has said it is ready, as a scaled-up group's workers are "
             "already polling when `sync --fleet` starts, and stops when the coordinator exits. "
             f"Target: speed-up >= {TARGET_EFFICIENCY} x N.  {rounds} round(s), every size once per round, "
             "back to back; the table has the median wall time and the median of the rounds' speed-ups "
             f"(measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average before "
             f"{load_before:.2f}).", "",
             "| workers | wall time | speed-up | per round | target | met |", "|---|---|---|---|---|---|"]
    for workers in sizes:
        speedups = [first / seconds for first, seconds in zip(base, times[workers], strict=True)]
        speedup = statistics.median(speedups)
        target = TARGET_EFFICIENCY * workers
        lines.append(f"| {workers} | {statistics.median(times[workers]):.1f} s | {speedup:.2f}x | "
                     f"{', '.join(f'{value:.2f}' for value in speedups)} | {target:.1f}x | "
                     f"{'yes' if speedup >= target else 'NOT met'} |")
    lines += ["", FLEET_END]
    return "\n".join(lines) + "\n"


def write_section(out: Path, section: str) -> None:
    replace_section(out, FLEET_BEGIN, FLEET_END, section)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.fleet", description=__doc__.split("\n")[0])
    parser.add_argument("--projects", type=int, default=64)
    parser.add_argument("--file-size", type=int, default=384 * 1024)
    parser.add_argument("--bandwidth", type=int, default=1_000_000, help="bytes/s per download")
    parser.add_argument("--connections", type=int, default=2, help="downloads at once per worker")
    parser.add_argument("--workers", default="1,2,4", help="the fleet sizes to measure")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every fleet size, alternated")
    parser.add_argument("--out", type=Path, help="write the section into this markdown file")
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.workers.split(",")]
    times: dict[int, list[float]] = {workers: [] for workers in sizes}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp, moto_server() as moto, \
            running_origin(corpus(args.projects, args.file_size)) as origin:
        origin.faults.add("slow", on=("file",), bandwidth=args.bandwidth)
        for round_number in range(1, args.rounds + 1):
            for workers in sizes:
                seconds = run_once(moto, origin, workers, args.connections, Path(tmp))
                print(f"fleet fan-out, round {round_number}: {workers} worker(s): {seconds:.1f} s", flush=True)
                times[workers].append(seconds)
    section = render(times, args.projects, args.file_size, args.bandwidth, args.connections, load_before)
    print(section)
    if args.out:
        write_section(args.out, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
