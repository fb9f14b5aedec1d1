"""Where a measured run writes its mirror: a freshly made ext4 file system per run, or a labelled fallback.

Users mirror to ext4 or XFS on a disk, so the folder targets are measured on ext4, not tmpfs.  Reusing
one ext4 tree across rounds measured the benchmark's own `rm -rf` instead: after thousands of deletions
ext4's inode allocator scans past the recently freed inodes for every new file (`perf`:
`find_inode_bit` / `recently_deleted`), more for whichever tool creates more files.  So each measured
run gets a file system that has never seen a deletion: `mkfs.ext4` on a new sparse image file, mounted
through a loop device, unmounted and deleted after the run (outside the measurement).

The image file lives on a tmpfs when one has room (BENCH_IMAGE_DIR overrides): ext4's own work
(allocation, journal, page cache, writeback) is all there, but the bytes do not wait on a disk other
engineers' tests share.  Needs root (mount); without it, or when mounting fails, a run gets a fresh
folder under the fallback directory and the report says which one was used.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Place:
    """How a run's folder target is provided, for the report."""

    kind: str  # "ext4-loop" | "tmpfs" | "folder"
    label: str


def _run(argv: list[str]) -> None:
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, timeout=120)


def image_dir(work: Path, need_bytes: int) -> Path:
    chosen = os.environ.get("BENCH_IMAGE_DIR")
    if chosen:
        return Path(chosen)
    shm = Path("/dev/shm")
    if shm.is_dir() and shutil.disk_usage(shm).free > need_bytes + 2 * 2**30:
        return shm
    return work


def can_mount() -> str:
    """'' when this process can make and loop-mount ext4 images, else why not."""
    if os.geteuid() != 0:
        return "not root (mount needs root)"
    for tool in ("mkfs.ext4", "mount", "umount"):
        if not shutil.which(tool):
            return f"{tool} is not installed"
    if not Path("/dev/loop-control").exists():
        return "no /dev/loop-control"
    return ""


class Places:
    """Hands out a fresh place per run: `with places.fresh("raw-folder-0") as path: ...`."""

    def __init__(self, work: Path, fallback: Path, size_bytes: int, mode: str = "ext4") -> None:
        self.work = work
        self.fallback = fallback
        self.size_bytes = size_bytes
        self.problem = can_mount() if mode == "ext4" else f"BENCH_FS={mode}"
        self.images = image_dir(work, size_bytes)
        self.mode = mode if not self.problem else "folder"
        self._held = contextlib.ExitStack()
        if self.mode == "ext4":
            backing = "tmpfs" if _is_tmpfs(self.images) else str(self.images)
            self.place = Place("ext4-loop", f"ext4, a new loop-mounted image per run (image file on {backing}, "
                                            f"{size_bytes / 2**30:.0f} GiB sparse); nothing deleted in it before "
                                            "the run")
        else:
            kind = "tmpfs" if _is_tmpfs(fallback) else "folder"
            why = f" ({self.problem})" if self.problem and mode == "ext4" else ""
            self.place = Place(kind, f"a new folder per run under {fallback}{why}")

    def hold(self, name: str) -> Path:
        """A fresh place that stays until close(): the mirror the later phases (no-op, incremental) reuse."""
        return self._held.enter_context(self.fresh(name))

    def close(self) -> None:
        self._held.close()

    @contextlib.contextmanager
    def fresh(self, name: str) -> Iterator[Path]:
        if self.mode != "ext4":
            path = self.fallback / name
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir(parents=True)
            try:
                yield path
            finally:
                shutil.rmtree(path, ignore_errors=True)
            return
        image = self.images / f"cloudpypi-bench-{os.getpid()}-{name}.img"
        mountpoint = self.work / "mnt" / name
        mountpoint.mkdir(parents=True, exist_ok=True)
        mounted = False
        try:
            with open(image, "wb") as handle:
                handle.truncate(self.size_bytes)
            # Inode tables and journal written now: no lazy-init kernel thread competing with the run.
            _run(["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", str(image)])
            _run(["mount", "-o", "loop", str(image), str(mountpoint)])
            mounted = True
            yield mountpoint
        finally:
            if mounted:
                with contextlib.suppress(subprocess.SubprocessError, OSError):
                    _run(["umount", str(mountpoint)])  # also detaches the auto-cleared loop device
            with contextlib.suppress(OSError):
                mountpoint.rmdir()
            with contextlib.suppress(FileNotFoundError):
                image.unlink()


def _is_tmpfs(path: Path) -> bool:
    try:
        best = ("", "")
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and str(path.resolve()).startswith(parts[1]) and len(parts[1]) >= len(best[0]):
                best = (parts[1], parts[2])
        return best[1] == "tmpfs"
    except OSError:
        return False
