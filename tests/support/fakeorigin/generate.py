"""Synthetic corpora with a realistic long-tail file-size mix (benchmarks, soak tests)."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from pathlib import Path

from .corpus import Corpus

# (weight, min bytes, max bytes): most files are small, a few are huge.  The last bucket's max is
# replaced by `max_size`.
DEFAULT_SIZE_MIX: tuple[tuple[float, int, int], ...] = (
    (0.75, 5_000, 200_000),
    (0.20, 200_000, 1_000_000),
    (0.045, 1_000_000, 20_000_000),
    (0.005, 20_000_000, 300_000_000),
)

PLATFORM_SETS: tuple[tuple[str, ...], ...] = (
    ("py3-none-any",),
    ("py3-none-any",),
    ("py3-none-any",),
    ("py2.py3-none-any",),
    (
        "cp312-cp312-manylinux_2_28_x86_64",
        "cp312-cp312-manylinux_2_28_aarch64",
        "cp312-cp312-win_amd64",
        "cp312-cp312-macosx_11_0_arm64",
    ),
    ("cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64", "cp312-cp312-manylinux_2_28_x86_64"),
)


def draw_size(rng: random.Random, size_mix: Sequence[tuple[float, int, int]], max_size: int) -> int:
    """Log-uniform within a bucket chosen by weight."""
    weights = [w for w, _lo, _hi in size_mix]
    index = rng.choices(range(len(size_mix)), weights=weights)[0]
    _w, lo, hi = size_mix[index]
    if index == len(size_mix) - 1:
        hi = max_size
    hi = min(hi, max_size)
    lo = min(lo, hi)
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def project_name(i: int) -> str:
    """Deterministic names in mixed spellings, so clients must normalize (synth-00007 vs Synth_00007)."""
    if i % 7 == 3:
        return f"Synth_{i:05d}"
    if i % 11 == 5:
        return f"synth.{i:05d}"
    return f"synth-{i:05d}"


def generate_corpus(
    n_projects: int = 50,
    seed: int = 0,
    size_mix: Sequence[tuple[float, int, int]] | None = None,
    max_size: int = 300_000_000,
    releases: tuple[int, int] = (1, 4),
    sdist_rate: float = 0.8,
    dependency_rate: float = 0.3,
    cache_dir: Path | str | None = None,
) -> Corpus:
    """N projects with `releases` (min, max) releases each, wheels of mixed platforms and sdists.

    Sizes follow `size_mix` [(weight, min, max), ...] (default: DEFAULT_SIZE_MIX, 5 KB .. max_size).
    Some releases depend on earlier projects (Requires-Dist, sometimes behind an extra and a marker).
    Same arguments -> same corpus -> same file bytes.
    """
    rng = random.Random(seed)
    mix = tuple(size_mix or DEFAULT_SIZE_MIX)
    corpus = Corpus(cache_dir)
    for i in range(n_projects):
        name = project_name(i)
        corpus.add_project(name)
        for r in range(rng.randint(*releases)):
            tags = list(rng.choice(PLATFORM_SETS))
            files: list[tuple[str, int | None]] = [(tag, draw_size(rng, mix, max_size)) for tag in tags]
            if rng.random() < sdist_rate:
                files.append(("sdist", draw_size(rng, mix, max_size)))
            requires: list[str] = []
            extras: list[str] = []
            if i and rng.random() < dependency_rate:
                requires.append(f"{project_name(rng.randrange(i))}>=1.0")
                if rng.random() < 0.3:
                    extras.append("extra")
                    requires.append(
                        f'{project_name(rng.randrange(i))}; extra == "extra" and python_version >= "3.9"'
                    )
            corpus.add_release(
                name,
                f"1.{r}.0",
                files=files,
                requires_python=">=3.8",
                requires_dist=requires,
                provides_extra=extras,
            )
    return corpus
