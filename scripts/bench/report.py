"""The benchmark's table (terminal) and docs/BENCHMARKS.md (Markdown): pure rendering of the results."""

from __future__ import annotations

import json
import os
import platform
import shlex
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from bench.corpus import PYPI_SIZE_MIX, Listing, Scale
from bench.costs import Forecast
from bench.origin import REPO, Origin
from bench.results import Run, fmt, median, paired_ratio, pct, select

NOTES = Path(__file__).with_name("notes.md")
TOOLS = ("raw", "rawsha", "cloudpypi", "bandersnatch")
TARGETS = ("folder", "s3")
LABEL = {"raw": "raw limit", "rawsha": "raw + SHA-256 (verifying limit)", "cloudpypi": "cloudpypi sync",
         "bandersnatch": "bandersnatch 8.2.0"}
CORPUS_TITLE = {"small-files": "small-file corpus", "large-files": "large-file corpus (PyPI's size mix)"}


def human(size: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if size >= scale:
            return f"{size / scale:,.0f} {unit}"
    return f"{size:,.0f} B"


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def machine_facts() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        mem_kb = 0
    import boto3
    import urllib3

    try:
        from importlib.metadata import version

        moto_version = version("moto")
    except Exception:
        moto_version = "unknown"
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(mem_kb / 2**20, 1),
        "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
        "boto3": boto3.__version__, "urllib3": urllib3.__version__, "moto": moto_version,
        "load_before": loadavg(),
    }


@dataclass
class Document:
    scale: Scale
    listing: Listing
    origin: Origin
    runs: list[Run]
    roots: list[dict[str, Any]]
    forecasts: list[Forecast]
    cost_problem: str
    machine: dict[str, Any]
    started: float
    finished: float
    commands: dict[str, list[str]]
    bandersnatch_problem: str
    workers: int
    corpora: list[str] = field(default_factory=lambda: ["small-files"])
    listings: dict[str, Listing] = field(default_factory=dict)  # by corpus; `listing` is the first one's
    origins: dict[str, Origin] = field(default_factory=dict)


def save(doc: Document, path: Path) -> None:
    """Everything the report needs, as JSON, so `--render-only` can rewrite the Markdown without a rerun."""
    data = {f.name: getattr(doc, f.name) for f in fields(doc)}
    data["scale"] = asdict(doc.scale)
    data["listing"] = asdict(doc.listing) | {"urls": []}
    data["origin"] = asdict(doc.origin)
    data["listings"] = {name: asdict(listing) | {"urls": []} for name, listing in doc.listings.items()}
    data["origins"] = {name: asdict(origin) for name, origin in doc.origins.items()}
    data["runs"] = [asdict(r) for r in doc.runs]
    data["forecasts"] = [asdict(f) for f in doc.forecasts]
    path.write_text(json.dumps(data, indent=1))


def load(path: Path) -> Document:
    data = json.loads(path.read_text())
    scale = data["scale"]
    scale["size_mix"] = tuple(tuple(b) for b in scale["size_mix"])
    data["scale"] = Scale(**scale)
    data["listing"] = Listing(**data["listing"])
    data["origin"] = Origin(**data["origin"])
    data["listings"] = {name: Listing(**value) for name, value in data.get("listings", {}).items()}
    data["origins"] = {name: Origin(**value) for name, value in data.get("origins", {}).items()}
    data["runs"] = [Run(**r) for r in data["runs"]]
    data["forecasts"] = [Forecast(**f) for f in data["forecasts"]]
    return Document(**data)


def _med(runs: list[Run], attr: str) -> float | None:
    return median(getattr(r, attr) for r in runs)


def full_rows(doc: Document, corpus: str = "small-files") -> list[dict[str, str]]:
    rows = []
    for target in TARGETS:
        for tool in TOOLS:
            runs = select(doc.runs, tool, target, corpus=corpus)
            failed = [r for r in doc.runs if r.scenario == tool and r.target == target and r.phase == "full"
                      and not r.ok and r.corpus == corpus]
            if not runs:
                if failed:
                    rows.append({"target": target, "tool": LABEL[tool], "wall": "failed", "note": failed[0].note})
                continue
            ratio = {}
            if tool != "raw":
                ratio = {
                    "vs_raw_mbs": pct(paired_ratio(doc.runs, tool, "raw", target, lambda r: r.mb_s, corpus=corpus)),
                    "vs_raw_wall": fmt(paired_ratio(doc.runs, tool, "raw", target, lambda r: r.wall_s,
                                                    corpus=corpus), ".2f", "x"),
                    "vs_raw_files": pct(paired_ratio(doc.runs, tool, "raw", target, lambda r: r.files_s,
                                                     corpus=corpus)),
                    "vs_raw_rss": fmt(paired_ratio(doc.runs, tool, "raw", target, lambda r: r.rss_mb,
                                                   corpus=corpus), ".2f", "x"),
                    "vs_raw_cpu": fmt(paired_ratio(doc.runs, tool, "raw", target, lambda r: r.cpu_s,
                                                   corpus=corpus), ".2f", "x"),
                }
            rows.append({
                "target": target, "tool": LABEL[tool],
                "wall": fmt(_med(runs, "wall_s"), ".1f"),
                "mbs": fmt(_med(runs, "mb_s"), ".1f"),
                "files_s": fmt(_med(runs, "files_s"), ".0f"),
                "rss": fmt(_med(runs, "rss_mb"), ".0f"),
                "cpu": fmt(_med(runs, "cpu_s"), ".1f"),
                "cpu_gb": fmt(_med(runs, "cpu_s_per_gb"), ".2f"),
                "server_cpu": fmt(median(r.origin_cpu_s + r.moto_cpu_s for r in runs), ".1f"),
                "files": f"{int(_med(runs, 'files') or 0):,}",
                "gb": fmt((_med(runs, "bytes") or 0) / 1e9, ".2f"),
                "requests": f"{int(median(r.total_requests for r in runs) or 0):,}",
                "n": str(len(runs)) + (f" (+{len(failed)} failed)" if failed else ""),
                **ratio,
            })
    return rows


def phase_rows(doc: Document, phase: str) -> list[dict[str, str]]:
    rows = []
    for target in TARGETS:
        runs = select(doc.runs, "cloudpypi", target, phase)
        if not runs:
            continue
        kinds: dict[str, list[int]] = {}
        for run in runs:
            for kind in {k for r in runs for k in r.requests}:
                kinds.setdefault(kind, []).append(run.requests.get(kind, 0))
        by_kind = ", ".join(f"{k} {int(median(v) or 0)}" for k, v in sorted(kinds.items()))
        rows.append({
            "target": target,
            "requests": f"{int(median(r.total_requests for r in runs) or 0)}",
            "by_kind": by_kind or "none",
            "wall": fmt(_med(runs, "wall_s"), ".2f"),
            "files": f"{int(_med(runs, 'files') or 0):,}",
            "files_s": fmt(_med(runs, "files_s"), ".0f"),
            "mbs": fmt(_med(runs, "mb_s"), ".1f"),
            "rss": fmt(_med(runs, "rss_mb"), ".0f"),
            "cpu": fmt(_med(runs, "cpu_s"), ".1f"),
            "n": str(len(runs)),
        })
    return rows


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "NOT met")


def _rss_max(doc: Document, target: str, corpus: str) -> float | None:
    return max((r.rss_mb for r in doc.runs if r.scenario == "cloudpypi" and r.target == target and r.ok
                and r.corpus == corpus and r.phase in ("full", "incremental", "noop")), default=None)


def large_goals(doc: Document) -> list[tuple[str, str, str]]:
    """The large-file corpus's targets: wall time within 1.5x of the raw copy, CPU per GB, vs bandersnatch."""
    corpus, out = "large-files", []
    for target, limit in (("folder", "raw download"), ("s3", "raw boto3 copy")):
        ratio = paired_ratio(doc.runs, "cloudpypi", "raw", target, lambda r: r.wall_s, corpus=corpus)
        out.append((f"large files, {target}: wall time <= 1.5x the {limit}", fmt(ratio, ".2f", "x"),
                    _verdict(None if ratio is None else ratio <= 1.5)))
    for target in TARGETS:
        cpu = median(r.cpu_s_per_gb for r in select(doc.runs, "cloudpypi", target, corpus=corpus))
        out.append((f"large files, {target}: client CPU <= 2.5 s per GB, hashing included",
                    fmt(cpu, ".2f", " s/GB"), _verdict(None if cpu is None else cpu <= 2.5)))
    for target, times in (("folder", 2), ("s3", 4)):
        ratio = paired_ratio(doc.runs, "cloudpypi", "bandersnatch", target, lambda r: r.mb_s, corpus=corpus)
        out.append((f"large files, {target}: at least {times}x bandersnatch's throughput", fmt(ratio, ".2f", "x"),
                    _verdict(None if ratio is None else ratio >= times)))
    for target in TARGETS:
        rss = _rss_max(doc, target, corpus)
        out.append((f"large files, {target}: peak RSS of the sync's processes < 150 MB", fmt(rss, ".0f", " MB"),
                    _verdict(None if rss is None else rss < 150)))
    return out


def goals(doc: Document) -> list[tuple[str, str, str]]:
    """(goal, measured, verdict) rows."""
    out = []
    verdict = _verdict
    if "large-files" in doc.corpora:
        out += large_goals(doc)
    if "small-files" not in doc.corpora:
        return out
    for target in TARGETS:
        ratio = paired_ratio(doc.runs, "cloudpypi", "raw", target, lambda r: r.mb_s)
        out.append((f"{target}: throughput >= 80% of the raw limit", pct(ratio),
                    verdict(None if ratio is None else ratio >= 0.8)))
    ratio = paired_ratio(doc.runs, "cloudpypi", "bandersnatch", "s3", lambda r: r.mb_s)
    out.append(("S3: more than 4x bandersnatch's throughput", fmt(ratio, ".2f", "x"),
                verdict(None if ratio is None else ratio > 4)))
    ratio = paired_ratio(doc.runs, "cloudpypi", "bandersnatch", "folder", lambda r: r.mb_s)
    out.append(("folder: throughput vs bandersnatch (no goal stated)", fmt(ratio, ".2f", "x"), "-"))
    for target in TARGETS:
        rss = _rss_max(doc, target, "small-files")
        out.append((f"{target}: peak RSS of any sync < 150 MB", fmt(rss, ".0f", " MB"),
                    verdict(None if rss is None else rss < 150)))
    for target in TARGETS:
        runs = select(doc.runs, "cloudpypi", target, "noop")
        reqs = median(r.total_requests for r in runs)
        wall = median(r.wall_s for r in runs)
        out.append((f"{target}: no-op sync makes 1 origin request", fmt(reqs, ".0f"),
                    verdict(None if reqs is None else reqs == 1)))
        out.append((f"{target}: no-op sync under 0.5 s", fmt(wall, ".2f", " s"),
                    verdict(None if wall is None else wall < 0.5)))
    for target in TARGETS:
        runs = select(doc.runs, "cloudpypi", target, "incremental")
        changed = max(1, doc.origin.projects // 100)
        reqs = median(r.total_requests for r in runs)
        # per changed project: its page, 2 files, 1 .metadata; plus the changelog calls
        bound = changed * 4 + 3
        out.append((f"{target}: incremental requests proportional to the change (<= {bound} for "
                    f"{changed} changed projects)", fmt(reqs, ".0f"), verdict(None if reqs is None else reqs <= bound)))
    secs = median(r["seconds"] for r in doc.roots)
    out.append((f"root index for {doc.scale.root_names:,} names under 3 s", fmt(secs, ".2f", " s"),
                verdict(None if secs is None else secs < 3)))
    return out


def round_summary(runs: list[Run], repeat: int, corpus: str = "small-files") -> str:
    parts = []
    for r in runs:
        if r.repeat == repeat and r.phase == "full" and r.corpus == corpus:
            parts.append(f"{r.scenario}/{r.target} {r.wall_s:.1f}s {r.mb_s:.0f}MB/s {r.cpu_s:.1f}cpu-s "
                         f"{r.cpu_s_per_gb:.2f}cpu-s/GB {r.rss_mb:.0f}MB"
                         + ("" if r.ok else " FAILED"))
    return "; ".join(parts)


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _full_table(doc: Document, corpus: str = "small-files") -> list[str]:
    headers = ["target", "tool", "wall s", "MB/s", "files/s", "peak RSS MB", "CPU s", "CPU s/GB", "wall vs raw",
               "MB/s vs raw", "files/s vs raw", "RSS vs raw", "CPU vs raw", "files", "GB", "origin requests",
               "origin+moto CPU s", "runs"]
    rows = []
    for row in full_rows(doc, corpus):
        if row.get("wall") == "failed":
            rows.append([row["target"], row["tool"], "failed: " + row["note"]] + [""] * (len(headers) - 3))
            continue
        rows.append([row["target"], row["tool"], row["wall"], row["mbs"], row["files_s"], row["rss"], row["cpu"],
                     row["cpu_gb"], row.get("vs_raw_wall", "(1.0)"), row.get("vs_raw_mbs", "(1.0)"),
                     row.get("vs_raw_files", "(1.0)"), row.get("vs_raw_rss", "(1.0)"),
                     row.get("vs_raw_cpu", "(1.0)"), row["files"], row["gb"], row["requests"], row["server_cpu"],
                     row["n"]])
    return _table(headers, rows)


def table(doc: Document) -> str:
    lines = []
    for corpus in doc.corpora:
        lines += [f"cloudpypi benchmark, scale {doc.scale.name}, {CORPUS_TITLE[corpus]}: full sync, medians"]
        lines += _full_table(doc, corpus)
    lines += ["", "goals:"]
    lines += [f"  {verdict:7s}  {goal}: {measured}" for goal, measured, verdict in goals(doc)]
    return "\n".join(lines)


def _cmd(argv: list[str], cache: str) -> str:
    """A command line as run, with the cache folder spelled $CLOUDPYPI_CACHE and the interpreter `python`."""
    shown = []
    for number, arg in enumerate(argv):
        if number == 0 and "python" in Path(arg).name:
            shown.append("python")
            continue
        for prefix, name in ((cache, "$CLOUDPYPI_CACHE"), (str(REPO), ".")):
            if arg == prefix or arg.startswith(prefix + "/"):
                arg = name + arg[len(prefix):]
                break
        safe = all(c.isalnum() or c in "@%+=:,./_-$" for c in arg)
        shown.append(arg if safe and arg else shlex.quote(arg))
    return " ".join(shown)


def _corpus_lines(doc: Document) -> list[str]:
    lines = []
    mixes = {"small-files": (doc.scale.size_mix, doc.scale.max_size, doc.scale.projects, doc.scale.seed),
             "large-files": (PYPI_SIZE_MIX, doc.scale.large_max_size, doc.scale.large_projects, doc.scale.large_seed)}
    for corpus in doc.corpora:
        lst = doc.listings.get(corpus, doc.listing if corpus == doc.corpora[0] else None)
        origin = doc.origins.get(corpus, doc.origin if corpus == doc.corpora[0] else None)
        if lst is None or origin is None:
            continue
        mix, max_size, projects, seed = mixes[corpus]
        mean = lst.file_bytes / lst.file_count / 1e6 if lst.file_count else 0.0
        lines += [
            f"- **{CORPUS_TITLE[corpus][0].upper()}{CORPUS_TITLE[corpus][1:]}**: {origin.projects} projects, "
            f"{lst.file_count:,} files (wheels of mixed platforms and sdists, 1-4 releases per project) plus "
            f"{lst.metadata_count:,} PEP 658 `.metadata` files: {lst.file_bytes / 1e9:.2f} GB, a mean file of "
            f"{mean:.2f} MB; the largest file is {lst.largest / 1e6:.0f} MB.  Size mix (weight, range; "
            "log-uniform inside a range): "
            + "; ".join(f"{w:.2%} {human(lo)} to {human(hi)}" for w, lo, hi in mix)
            + f" (the top range capped at {max_size / 1e6:,.0f} MB).  Generated by "
            f"`generate_corpus(n_projects={projects}, seed={seed}, ...)`; the same arguments give the same bytes."]
    return lines


def markdown(doc: Document) -> str:
    m, o = doc.machine, doc.origin
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(doc.started))
    out = [
        "# Benchmarks",
        "",
        f"Generated by `make bench` (`BENCH_SCALE={doc.scale.name}`) on {when}; the run took "
        f"{(doc.finished - doc.started) / 60:.1f} minutes.  Do not edit by hand: rerun `make bench`.",
        "",
        "Everything runs on one machine over loopback: the tests' fake PyPI origin in its own process (index "
        "and files on two ports), one moto server as the S3 endpoint, and each tool as a measured child "
        f"process.  Every tool uses {doc.workers} concurrent transfers.  Figures are medians of "
        f"{doc.scale.runs} rounds; each round measures every tool once, back to back, so each ratio "
        "compares runs made seconds apart, and the ratio's median is reported.",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores; memory {m['memory_gb']} GB; {m['os']}",
        f"- Python {m['python']}, boto3 {m['boto3']}, urllib3 {m['urllib3']}, moto {m['moto']}",
        f"- The measured `cloudpypi` processes run from {m.get('engine', 'the development venv')} "
        "(the raw copies and moto from the development venv): see scripts/bench/engine.py.",
        f"- Load average (1/5/15 min) before: {m['load_before']}, after: {m.get('load_after', 'n/a')}.  "
        "The machine is shared with other engineers' test runs, so absolute figures are noisy; the ratios, "
        "measured back to back, much less so.",
        f"- Mirrors (every tool's folder target, cloudpypi's S3 upload spool) are written to "
        f"{m.get('targets', 'the scratch folder')}: see \"Where the files go\" below.",
        "",
        "## Corpus",
        "",
        *_corpus_lines(doc),
        "",
        "## Full sync",
        "",
        "`MB/s` and `files/s` count what each tool stored under `packages/` (files and `.metadata`), over its "
        "wall time.  Ratios are to the raw limit of the same target in the same round.  `CPU s` is the tool's "
        "own CPU time; `origin+moto CPU s` is what the fake origin and moto used meanwhile on the same "
        f"{doc.machine.get('cores')} cores: when the sum of the two over the wall time nears the core count, "
        "the run is CPU-bound and every extra CPU-second of the client costs wall time.  `peak RSS` is the "
        "largest sum over the tool's processes (cloudpypi's transfer processes included), sampled every 20 ms; "
        "`CPU s` includes those processes too.  `CPU s/GB` is that CPU time per GB stored: it hardly depends "
        "on how busy the machine is, so it is the figure to compare across runs.  `raw + SHA-256` is the raw "
        "loop hashing every byte as it arrives: the least a mirror that verifies every byte can spend.",
        "",
    ]
    if doc.scale.peer_s3_runs < doc.scale.runs:
        out[-1:-1] = [
            f"bandersnatch on S3 runs in {doc.scale.peer_s3_runs} round(s) only: it spends tens of milliseconds "
            f"per file against moto, so {doc.scale.runs} rounds of it alone would blow the time budget.  Its "
            "ratios pair it with the raw and cloudpypi runs of the same round.", ""]
    for corpus in doc.corpora:
        out += [f"### {CORPUS_TITLE[corpus][0].upper()}{CORPUS_TITLE[corpus][1:]}", ""]
        out += _full_table(doc, corpus)
        out += [""]
    out += ["## Goals", ""]
    out += _table(["goal", "measured", "verdict"], [list(g) for g in goals(doc)])
    for phase, title, text in (
        ("noop", "No-op sync", "Nothing changed upstream since the previous run."),
        ("incremental", "Incremental sync",
         f"Before each run, {max(1, o.projects // 100)} projects (1%) get a new release with a 150 KB wheel "
         "and an 80 KB sdist.  The run reads the XML-RPC changelog, then only those projects."),
        ("verify", "Verify", "`cloudpypi verify` over the whole mirror: every page link checked against the "
         "stored file (a folder hashes every file; S3 reads the sha256 from object metadata)."),
    ):
        rows = phase_rows(doc, phase)
        out += ["", f"## {title}", "", text, ""]
        out += _table(["target", "origin requests", "by kind", "wall s", "files", "files/s", "MB/s",
                       "peak RSS MB", "CPU s", "runs"],
                      [[r["target"], r["requests"], r["by_kind"], r["wall"], r["files"], r["files_s"], r["mbs"],
                        r["rss"], r["cpu"], r["n"]] for r in rows])
    out += ["", "## Root index", "",
            f"`Syncer._write_root` (the engine's own path) for {doc.scale.root_names:,} synthetic projects held "
            "in the SQLite state, written to a folder target: `index.v1_json`, `index.v1_html`, `index.html`.", ""]
    out += _table(["run", "seconds", "CPU s of the write", "bytes written",
                   "peak RSS MB (process, incl. building the state)"],
                  [[str(i + 1), f"{r['seconds']:.2f}", fmt(r.get("cpu_s"), ".2f"), f"{r['bytes']:,}",
                    f"{r['rss_mb']:.0f}"] for i, r in enumerate(doc.roots)])
    out += ["", "## Cost forecast (USD per month)", ""]
    if doc.forecasts:
        out += ["From the project's cost model (`cloudpypi.costs.model.forecast_mirror_cost`, prices in "
                "`cloudpypi/data/prices.json`), with its stated defaults for activity (2% of files added and 10% "
                "of projects changed per month, a sync every 15 minutes, 90% CloudFront hit ratio).  The filter "
                "shares for the PyPI-sized cases are assumptions, not measurements.", ""]
        out += _table(["mirror", "stored", "files", "projects", "monthly USD", "one-time USD", "largest lines"],
                      [[f.label, f"{f.total_bytes / 1e12:,.3f} TB", f"{f.files:,}", f"{f.projects:,}",
                        f"{f.monthly_usd:,.2f}", f"{f.one_time_usd:,.2f}", f.top_lines] for f in doc.forecasts])
    else:
        out += [f"Missing: {doc.cost_problem}."]
    if NOTES.exists():
        out += ["", NOTES.read_text().rstrip()]
    if doc.bandersnatch_problem:
        out += ["", f"bandersnatch could not be run: {doc.bandersnatch_problem}"]
    out += ["", "## Commands", "", "```",
            "make bench                     # default scale: 500 + 150 projects (two corpora), 3 rounds",
            "BENCH_SCALE=small make bench   # 60 + 30 projects, a few minutes",
            "BENCH_CORPUS=large-files make bench   # one corpus only; BENCH_FS=tmpfs: no ext4 mounts",
            "python -m bench.run --out docs/BENCHMARKS.md   # what make bench runs, with PYTHONPATH=scripts",
            "```", "",
            "Each measured child process, as run (ports and scratch paths vary per run).  Every process gets "
            "`PYTHONPATH=scripts`; the S3 runs also get `AWS_ENDPOINT_URL` (the moto server), dummy credentials, "
            "`AWS_DEFAULT_REGION=us-east-1`, and for cloudpypi a fresh `CLOUDPYPI_STATE_DIR` and "
            "`CLOUDPYPI_SPOOL_DIR`.", "", "```"]
    cache = str(Path(doc.machine.get("cache", Path.home() / ".cache" / "cloudpypi")))
    out += [f"# {name}\n{_cmd(argv, cache)}" for name, argv in sorted(doc.commands.items())]
    out += ["```", "", "## Every run", ""]
    out += _table(["corpus", "phase", "tool", "target", "round", "wall s", "CPU s", "peak RSS MB", "files", "MB",
                   "requests", "ok"],
                  [[r.corpus, r.phase, r.scenario, r.target, str(r.repeat + 1), f"{r.wall_s:.2f}", f"{r.cpu_s:.1f}",
                    f"{r.rss_mb:.0f}", f"{r.files:,}", f"{r.bytes / 1e6:,.1f}", str(r.total_requests),
                    "yes" if r.ok else f"no: {r.note}"] for r in doc.runs])
    return "\n".join(out) + "\n"


def replace_section(out: Path, begin: str, end: str, section: str) -> None:
    """Put ``section`` (which starts with ``begin`` and ends with ``end``) into the markdown file ``out``:
    in place of the block between those markers when there is one, else at the end of the file."""
    text = out.read_text(encoding="utf-8") if out.exists() else ""
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        text = head + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + section
    out.write_text(text, encoding="utf-8")
