"""The benchmark corpus: sizes and counts by scale, as a fake-origin spec; listing its files."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import urllib3

JSON_TYPE = "application/vnd.pypi.simple.v1+json"


@dataclass(frozen=True)
class Scale:
    name: str
    projects: int
    size_mix: tuple[tuple[float, int, int], ...]
    max_size: int
    seed: int
    runs: int  # repetitions of every full-sync measurement (the median is reported)
    peer_s3_runs: int  # bandersnatch on S3 costs ~0.15 s per file on moto: fewer rounds at large scales
    root_names: int  # projects in the synthetic root-index render
    timeout_s: float  # per child process
    # the large-file corpus (PYPI_SIZE_MIX): projects, top-size cap, seed; 0 projects skips it
    large_projects: int = 0
    large_max_size: int = 300_000_000
    large_seed: int = 1
    large_runs: int = 3
    large_peer_s3_runs: int = 1

    def spec(self) -> dict[str, object]:
        return {"generate": {"n_projects": self.projects, "seed": self.seed,
                             "size_mix": [list(b) for b in self.size_mix], "max_size": self.max_size}}

    def large_spec(self) -> dict[str, object]:
        return {"generate": {"n_projects": self.large_projects, "seed": self.large_seed,
                             "size_mix": [list(b) for b in PYPI_SIZE_MIX], "max_size": self.large_max_size}}


# (weight, min bytes, max bytes), log-uniform inside a bucket: three quarters of the files are under
# 200 KB, a few are tens to hundreds of MB.  The top bucket is thinner than the fake origin's own
# default mix so that three rounds of six full mirrors fit the time budget on a 2-core machine: with
# seed 8, 500 projects make 3,038 files (+ about 2,000 .metadata), 0.99 GB, the largest 183 MB.
BENCH_SIZE_MIX: tuple[tuple[float, int, int], ...] = (
    (0.785, 5_000, 200_000),
    (0.2, 200_000, 1_000_000),
    (0.0135, 1_000_000, 20_000_000),
    (0.0015, 20_000_000, 300_000_000),
)

# The large-file corpus: PyPI's mix by bytes, not by count.  (weight, min bytes, max bytes), log-uniform
# inside a bucket, so the bucket means are about 53 KB, 0.5 MB, 6.3 MB and 103 MB, the mean file about
# 3 MB, and about two thirds of the bytes are in the 20-300 MB bucket (docs/BENCHMARKS.md, "The
# large-file corpus", says where these figures come from).  Seed 1 with 150 projects makes 1,024
# files, 3.16 GB, 71% of the bytes in files of 20 MB or more, the largest 258 MB.
PYPI_SIZE_MIX: tuple[tuple[float, int, int], ...] = (
    (0.55, 5_000, 200_000),  # small sdists and pure-Python wheels
    (0.30, 200_000, 1_000_000),
    (0.13, 1_000_000, 20_000_000),  # compiled wheels of ordinary libraries
    (0.02, 20_000_000, 300_000_000),  # ML and scientific wheels, nightlies: most of the bytes
)

CORPORA = ("small-files", "large-files")

SCALES = {
    "default": Scale("default", projects=500, size_mix=BENCH_SIZE_MIX, max_size=300_000_000, seed=8, runs=3,
                     peer_s3_runs=1,
                     root_names=736_000, timeout_s=900.0,
                     large_projects=150, large_max_size=300_000_000, large_seed=1, large_runs=3,
                     large_peer_s3_runs=1),
    # large-file corpus: 30 projects, top bucket capped at 60 MB: 169 files, 0.47 GB, 56% in 7 files >= 20 MB
    "small": Scale("small", projects=60, size_mix=BENCH_SIZE_MIX[:3], max_size=20_000_000, seed=1, runs=3,
                   peer_s3_runs=3, root_names=736_000, timeout_s=300.0,
                   large_projects=30, large_max_size=60_000_000, large_seed=4, large_runs=3, large_peer_s3_runs=1),
    # large-file corpus: 6 projects, capped at 30 MB: 39 files, 57 MB, one 27 MB wheel
    "tiny": Scale("tiny", projects=8, size_mix=BENCH_SIZE_MIX[:2], max_size=1_000_000, seed=1, runs=1,
                  peer_s3_runs=1, root_names=20_000, timeout_s=120.0,
                  large_projects=6, large_max_size=30_000_000, large_seed=1, large_runs=1, large_peer_s3_runs=1),
}


def scale_by_name(name: str) -> Scale:
    try:
        return SCALES[name]
    except KeyError:
        raise SystemExit(f"BENCH_SCALE={name!r}: expected one of {', '.join(SCALES)}") from None


@dataclass(frozen=True)
class Listing:
    urls: list[str]  # every file and .metadata URL the mirror stores
    file_count: int
    metadata_count: int
    file_bytes: int
    largest: int


def list_origin(origin_url: str) -> Listing:
    """Every file URL (and its PEP 658 .metadata URL) the origin lists, through its JSON Simple API."""
    http = urllib3.PoolManager(maxsize=4)
    headers = {"Accept": JSON_TYPE}
    root = json.loads(http.request("GET", origin_url + "/simple/", headers=headers).data)
    urls: list[str] = []
    files = metadata = size = largest = 0
    for project in root["projects"]:
        page = json.loads(http.request("GET", f"{origin_url}/simple/{project['name']}/", headers=headers).data)
        for entry in page["files"]:
            urls.append(entry["url"])
            files += 1
            size += entry["size"]
            largest = max(largest, entry["size"])
            if entry.get("core-metadata"):
                urls.append(entry["url"] + ".metadata")
                metadata += 1
    return Listing(urls, files, metadata, size, largest)


def write_listing(listing: Listing, path: Path) -> Path:
    path.write_text("".join(url + "\n" for url in listing.urls))
    return path


def tree_bytes(root: Path) -> tuple[int, int]:
    """(files, bytes) under a folder."""
    count = total = 0
    for path in root.rglob("*"):
        if path.is_file():
            count += 1
            total += path.stat().st_size
    return count, total
