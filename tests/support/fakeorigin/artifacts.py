"""Real, installable wheels and sdists, built deterministically into an on-disk cache.

The same ArtifactSpec always yields the same bytes (fixed timestamps, fixed ordering, stored zip entries),
so the same corpus spec gives the same sha256 in every run and every process.  Padding to a requested size
is an uncompressed data file filled with a cheap repeating pattern, so a 300 MB wheel builds in about a
second and is still a valid zip.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import logging
import os
import random
import tarfile
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .model import dist_name, sdist_filename, wheel_filename

log = logging.getLogger(__name__)

FORMAT_VERSION = 1  # bump when the bytes of built files change
PAD_BLOCK = 1 << 20
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
TAR_MTIME = 1_600_000_000


def default_cache_dir() -> Path:
    base = os.environ.get("CLOUDPYPI_CACHE") or os.path.expanduser("~/.cache/cloudpypi")
    return Path(base) / "fakeorigin-artifacts"


@dataclass(frozen=True)
class ArtifactSpec:
    """Everything that determines a built file's bytes."""

    project: str  # display name
    version: str
    tag: str  # wheel tag triple, or "sdist"
    size: int | None
    metadata: str  # core metadata text

    @property
    def is_sdist(self) -> bool:
        return self.tag == "sdist"

    @property
    def filename(self) -> str:
        if self.is_sdist:
            return sdist_filename(self.project, self.version)
        return wheel_filename(self.project, self.version, self.tag)

    @property
    def key(self) -> str:
        doc = [FORMAT_VERSION, self.project, self.version, self.tag, self.size, self.metadata]
        return hashlib.sha256(json.dumps(doc).encode()).hexdigest()

    @property
    def url_path(self) -> str:
        """files.pythonhosted.org-style path: /packages/aa/bb/<rest>/<filename>."""
        digest = hashlib.blake2b(self.key.encode(), digest_size=32).hexdigest()
        return f"/packages/{digest[:2]}/{digest[2:4]}/{digest[4:]}/{self.filename}"


@dataclass(frozen=True)
class Artifact:
    spec: ArtifactSpec
    path: Path
    size: int
    sha256: str
    metadata_path: Path | None  # PEP 658 file (wheels only)
    metadata_sha256: str | None
    metadata_size: int | None


class ArtifactStore:
    """Builds artifacts on first use and serves their paths; thread- and process-safe (atomic renames)."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root else default_cache_dir()
        self.root.mkdir(parents=True, exist_ok=True)
        self._known: dict[str, Artifact] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def peek(self, spec: ArtifactSpec) -> Artifact | None:
        return self._known.get(spec.key) or self._load(spec)

    def get(self, spec: ArtifactSpec) -> Artifact:
        key = spec.key
        known = self._known.get(key)
        if known:
            return known
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            artifact = self._known.get(key) or self._load(spec) or self._build(spec)
            self._known[key] = artifact
            return artifact

    def _dir(self, spec: ArtifactSpec) -> Path:
        key = spec.key
        return self.root / key[:2] / key

    def _load(self, spec: ArtifactSpec) -> Artifact | None:
        folder = self._dir(spec)
        info_path = folder / "info.json"
        try:
            info = json.loads(info_path.read_text())
        except (OSError, ValueError):
            return None
        path = folder / spec.filename
        meta = folder / (spec.filename + ".metadata")
        if not path.is_file() or path.stat().st_size != info["size"]:
            return None
        artifact = Artifact(
            spec=spec,
            path=path,
            size=info["size"],
            sha256=info["sha256"],
            metadata_path=meta if info.get("metadata_sha256") else None,
            metadata_sha256=info.get("metadata_sha256"),
            metadata_size=info.get("metadata_size"),
        )
        self._known[spec.key] = artifact
        return artifact

    def _build(self, spec: ArtifactSpec) -> Artifact:
        folder = self._dir(spec)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=folder))
        try:
            target = tmp / spec.filename
            if spec.is_sdist:
                build_sdist(spec, target)
            else:
                build_wheel(spec, target)
            info: dict[str, object] = {"size": target.stat().st_size, "sha256": sha256_file(target)}
            if not spec.is_sdist:
                meta_bytes = spec.metadata.encode()
                (tmp / (spec.filename + ".metadata")).write_bytes(meta_bytes)
                info["metadata_sha256"] = hashlib.sha256(meta_bytes).hexdigest()
                info["metadata_size"] = len(meta_bytes)
            (tmp / "info.json").write_text(json.dumps(info))
            # Publish file(s) first, info.json last: its presence means the folder is complete.
            for name in (spec.filename, spec.filename + ".metadata", "info.json"):
                if (tmp / name).exists():
                    os.replace(tmp / name, folder / name)
        finally:
            for leftover in tmp.iterdir():
                leftover.unlink()
            tmp.rmdir()
        log.debug("built %s (%s bytes)", spec.filename, info["size"])
        loaded = self._load(spec)
        if loaded is None:
            raise RuntimeError(f"artifact {spec.filename} vanished from {folder} right after it was built")
        return loaded


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(PAD_BLOCK):
            digest.update(chunk)
    return digest.hexdigest()


def pattern_block(seed: str) -> bytes:
    """A 1 MiB pseudo-random block; padding repeats it (cheap, deterministic, incompressible enough)."""
    return random.Random(seed).randbytes(PAD_BLOCK)


def write_pattern(out: io.RawIOBase | io.BufferedIOBase, count: int, seed: str) -> str:
    """Write `count` pattern bytes to `out`; returns their sha256 as RECORD wants it (urlsafe b64)."""
    block = pattern_block(seed)
    digest = hashlib.sha256()
    view = memoryview(block)
    remaining = count
    while remaining > 0:
        chunk = view[: min(remaining, PAD_BLOCK)]
        digest.update(chunk)
        out.write(chunk)
        remaining -= len(chunk)
    return record_hash(digest)


def record_hash(digest: hashlib._Hash) -> str:
    return "sha256=" + base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


def module_source(spec: ArtifactSpec) -> bytes:
    return (
        f'"""Synthetic module of {spec.project} {spec.version}, built by the tests\' fake origin."""\n'
        f"PROJECT = {spec.project!r}\n"
        f"__version__ = {spec.version!r}\n"
    ).encode()


def _wheel_text(tag: str) -> bytes:
    pure = tag.endswith("-none-any")
    lines = ["Wheel-Version: 1.0", "Generator: cloudpypi-fakeorigin", f"Root-Is-Purelib: {str(pure).lower()}"]
    python, abi, platform = tag.split("-")
    for p in python.split("."):
        for a in abi.split("."):
            lines.extend(f"Tag: {p}-{a}-{plat}" for plat in platform.split("."))
    return ("\n".join(lines) + "\n").encode()


def _zipinfo(name: str, size: int = 0) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    info.create_system = 3
    info.file_size = size
    return info


def _write_wheel(spec: ArtifactSpec, out: io.BufferedIOBase, pad: int | None) -> None:
    dist = dist_name(spec.project)
    distinfo = f"{dist}-{spec.version}.dist-info"
    entries = [
        (f"{dist}/__init__.py", module_source(spec)),
        (f"{distinfo}/METADATA", spec.metadata.encode()),
        (f"{distinfo}/WHEEL", _wheel_text(spec.tag)),
    ]
    record: list[str] = []
    with zipfile.ZipFile(out, "w", allowZip64=True) as zf:
        for name, data in entries[:1]:
            zf.writestr(_zipinfo(name, len(data)), data)
            record.append(f"{name},{record_hash(hashlib.sha256(data))},{len(data)}")
        if pad is not None:
            name = f"{dist}/_padding.bin"
            with zf.open(_zipinfo(name, pad), "w") as member:
                pad_hash = write_pattern(member, pad, spec.key)
            record.append(f"{name},{pad_hash},{pad}")
        for name, data in entries[1:]:
            zf.writestr(_zipinfo(name, len(data)), data)
            record.append(f"{name},{record_hash(hashlib.sha256(data))},{len(data)}")
        record.append(f"{distinfo}/RECORD,,")
        zf.writestr(_zipinfo(f"{distinfo}/RECORD"), ("\n".join(record) + "\n").encode())


def build_wheel(spec: ArtifactSpec, target: Path) -> None:
    """A valid, installable wheel; exactly spec.size bytes when that is above the natural size."""
    pad = None
    if spec.size is not None:
        probe = io.BytesIO()
        _write_wheel(spec, probe, 0)
        base = len(probe.getvalue())  # size with an empty padding entry whose RECORD size field is "0"
        for digits in range(1, 13):
            candidate = spec.size - base - (digits - 1)
            if candidate > 0 and len(str(candidate)) == digits:
                pad = candidate
                break
    with open(target, "wb") as out:
        _write_wheel(spec, out, pad)
    actual = target.stat().st_size
    if pad is not None and actual != spec.size:
        raise RuntimeError(f"wheel {spec.filename}: padded to {actual} bytes, expected {spec.size}")


BACKEND_SOURCE = '''\
"""Minimal stdlib-only PEP 517 backend so the fake origin's sdists build offline with no setuptools."""
import base64, hashlib, os, zipfile

def _meta():
    with open("PKG-INFO", encoding="utf-8") as f:
        text = f.read()
    fields = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
    return text, fields["Name"], fields["Version"]

def _dist(name):
    import re
    return re.sub(r"[-_.]+", "_", name).lower()

def get_requires_for_build_wheel(config_settings=None):
    return []

def get_requires_for_build_sdist(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    text, name, version = _meta()
    dist = _dist(name)
    info = f"{dist}-{version}.dist-info"
    filename = f"{dist}-{version}-py3-none-any.whl"
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as zf:
        def add(arcname, data):
            zf.writestr(arcname, data)
            h = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{arcname},sha256={h},{len(data)}")
        for root, _dirs, files in os.walk(dist):
            for fname in sorted(files):
                path = os.path.join(root, fname)
                with open(path, "rb") as f:
                    add(path.replace(os.sep, "/"), f.read())
        add(f"{info}/METADATA", text.encode())
        wheel = "Wheel-Version: 1.0\\nGenerator: fakeorigin-backend\\n"
        wheel += "Root-Is-Purelib: true\\nTag: py3-none-any\\n"
        add(f"{info}/WHEEL", wheel.encode())
        record.append(f"{info}/RECORD,,")
        zf.writestr(f"{info}/RECORD", "\\n".join(record) + "\\n")
    return filename
'''

PYPROJECT_TEMPLATE = """\
[build-system]
requires = []
build-backend = "_fakeorigin_backend"
backend-path = ["."]

[project]
name = "{name}"
version = "{version}"
"""


class _PatternReader(io.RawIOBase):
    def __init__(self, count: int, seed: str) -> None:
        self._block = pattern_block(seed)
        self._remaining = count
        self._offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self._remaining, PAD_BLOCK - self._offset)
        buffer[:n] = self._block[self._offset : self._offset + n]
        self._offset = (self._offset + n) % PAD_BLOCK
        self._remaining -= n
        return n


def _write_sdist(spec: ArtifactSpec, out: io.BufferedIOBase, pad: int | None) -> None:
    dist = dist_name(spec.project)
    top = f"{dist}-{spec.version}"
    members = [
        (f"{top}/PKG-INFO", spec.metadata.encode()),
        (
            f"{top}/pyproject.toml",
            PYPROJECT_TEMPLATE.format(name=spec.project, version=spec.version).encode(),
        ),
        (f"{top}/_fakeorigin_backend.py", BACKEND_SOURCE.encode()),
        (f"{top}/{dist}/__init__.py", module_source(spec)),
    ]
    level = 0 if pad else 9  # padding is stored: its size on disk is what the caller asked for
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=level, mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name, data in members:
                tar.addfile(_tarinfo(name, len(data)), io.BytesIO(data))
            if pad:
                tar.addfile(_tarinfo(f"{top}/{dist}/_padding.bin", pad), _PatternReader(pad, spec.key))


def _tarinfo(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = TAR_MTIME
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def build_sdist(spec: ArtifactSpec, target: Path) -> None:
    """A valid sdist with an in-tree stdlib backend; padded sizes are approximate (tar/gzip framing)."""
    pad = None
    if spec.size is not None:
        probe = io.BytesIO()
        _write_sdist(spec, probe, 0)
        guess = spec.size - len(probe.getvalue()) - 1024
        pad = max(0, guess - (guess // 65535) * 5 - 512) or None
    with open(target, "wb") as out:
        _write_sdist(spec, out, pad)
