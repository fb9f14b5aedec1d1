"""Benchmark results as plain values, and the pure arithmetic over them (medians, ratios)."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Run:
    """One measured child process."""

    scenario: str  # raw | rawsha (raw + SHA-256 of every byte) | cloudpypi | bandersnatch
    target: str  # folder | s3
    phase: str  # full | noop | incremental | verify | rootindex
    repeat: int
    wall_s: float
    cpu_s: float
    rss_mb: float
    files: int = 0  # objects stored under packages/ (full) or checked (verify)
    bytes: int = 0
    requests: dict[str, int] = field(default_factory=dict)  # origin requests by kind (fake origin's counters)
    ok: bool = True
    note: str = ""
    origin_cpu_s: float = 0.0  # CPU the fake origin used meanwhile (it shares the machine's cores)
    moto_cpu_s: float = 0.0  # CPU the moto server used meanwhile
    corpus: str = "small-files"  # small-files | large-files (bench.corpus.CORPORA)

    @property
    def mb_s(self) -> float:
        return self.bytes / 1e6 / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def files_s(self) -> float:
        return self.files / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def cpu_s_per_gb(self) -> float:
        """Client CPU seconds per GB stored: what one more byte costs, whatever the machine's load."""
        return self.cpu_s / (self.bytes / 1e9) if self.bytes else 0.0

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"mb_s": self.mb_s, "files_s": self.files_s}


def median(values: Iterable[float]) -> float | None:
    items = list(values)
    return statistics.median(items) if items else None


def select(runs: Iterable[Run], scenario: str, target: str, phase: str = "full",
           corpus: str = "small-files") -> list[Run]:
    return [r for r in runs if r.scenario == scenario and r.target == target and r.phase == phase and r.ok
            and r.corpus == corpus]


def paired_ratio(runs: list[Run], scenario: str, baseline: str, target: str,
                 metric: Callable[[Run], float], phase: str = "full", corpus: str = "small-files") -> float | None:
    """Median over repeats of metric(scenario) / metric(baseline), pairing runs of the same repeat."""
    ours = {r.repeat: r for r in select(runs, scenario, target, phase, corpus)}
    base = {r.repeat: r for r in select(runs, baseline, target, phase, corpus)}
    ratios = [metric(ours[k]) / metric(base[k]) for k in sorted(ours.keys() & base.keys()) if metric(base[k])]
    return median(ratios)


def fmt(value: float | None, spec: str = ".2f", suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{suffix}"


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.0f}%"
