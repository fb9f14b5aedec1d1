#!/usr/bin/env python3
"""Build the cloudpypi wheel from a checkout, and fetch its locked dependencies as wheels for a target host.

Runs on the Ansible controller (roles/sync_service), prints one JSON object:
    {"wheel": "/abs/cloudpypi-X-py3-none-any.whl", "sha256": "...", "deps_dir": "/abs/dir", "deps": [...]}

Both steps are cached under --cache, so a second deploy builds nothing and downloads nothing:
- the project wheel is keyed by a hash of the source files, and built reproducibly
  (SOURCE_DATE_EPOCH), so the same source always gives the same bytes and the host only
  reinstalls when the code really changed;
- the dependency wheels are exactly the checkout's hash-pinned lock for the host's Python
  (requirements/runtime-pyX.Y.txt, written by `make lock`), fetched with
  `pip download --require-hashes --only-binary=:all:` for the host's platform (the controller's CPU
  and Python need not match the host's) and keyed by the lock's content.  The lock travels with the
  wheels, and the host installs from it with --require-hashes again.
The build happens in a temporary copy, so the checkout is left untouched.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

SOURCE_FILES = ("pyproject.toml", "README.md", "LICENSE", "setup.cfg")
PACKAGE_ROOT = "scripts"
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
REPRODUCIBLE_EPOCH = "315532800"  # 1980-01-01, the earliest time a zip entry can carry
MANYLINUX = ("manylinux_2_28", "manylinux_2_17", "manylinux2014")
LOCK_DIR = "requirements"
LOCK_NAME = "requirements.txt"  # the lock's name beside the wheels on the host


def source_files(source: Path) -> list[Path]:
    files = [source / name for name in SOURCE_FILES if (source / name).is_file()]
    for path in sorted((source / PACKAGE_ROOT).rglob("*")):
        parts = path.relative_to(source).parts
        if path.is_file() and not any(p == "__pycache__" or p.endswith((".egg-info", ".pyc")) for p in parts):
            files.append(path)
    return files


def source_hash(source: Path) -> str:
    digest = hashlib.sha256()
    for path in source_files(source):
        digest.update(str(path.relative_to(source)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"build_wheelhouse: {' '.join(cmd)} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")


def build_wheel(source: Path, cache: Path) -> Path:
    out = cache / "project" / source_hash(source)
    found = sorted(out.glob("cloudpypi-*.whl"))
    if found:
        return found[0]
    with tempfile.TemporaryDirectory(prefix="cloudpypi-build-") as tmp:
        copy = Path(tmp) / "src"
        copy.mkdir()
        for name in SOURCE_FILES:
            if (source / name).is_file():
                shutil.copy2(source / name, copy / name)
        shutil.copytree(source / PACKAGE_ROOT, copy / PACKAGE_ROOT, ignore=IGNORED)
        os.environ["SOURCE_DATE_EPOCH"] = REPRODUCIBLE_EPOCH
        pip("wheel", "--no-deps", "--wheel-dir", str(Path(tmp) / "dist"), str(copy))
        built = sorted((Path(tmp) / "dist").glob("cloudpypi-*.whl"))
        if not built:
            sys.exit("build_wheelhouse: pip wheel produced no cloudpypi wheel")
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy2(built[0], out / built[0].name)
    return out / built[0].name


def lock_file(source: Path, python_version: str) -> Path:
    """The checkout's hash-pinned lock for the host's Python; its absence is an error, never a fallback."""
    lock = source / LOCK_DIR / f"runtime-py{python_version}.txt"
    if not lock.is_file():
        known = sorted(p.name for p in (source / LOCK_DIR).glob("runtime-py*.txt"))
        sys.exit(f"build_wheelhouse: no lock for Python {python_version} ({lock} is missing; have {known}). "
                 f"Add {python_version} to LOCK_PYTHONS in mk/lock.mk and run `make lock`.")
    return lock


def fetch_deps(lock: Path, cache: Path, python_version: str, arch: str) -> Path:
    text = lock.read_bytes()
    key = hashlib.sha256(json.dumps([text.decode(), python_version, arch]).encode()).hexdigest()[:16]
    deps = cache / f"deps-py{python_version}-{arch}-{key}"
    stamp = deps / ".complete"
    if stamp.exists():
        return deps
    abi = "cp" + python_version.replace(".", "")
    platforms = [arg for tag in MANYLINUX for arg in ("--platform", f"{tag}_{arch}")]
    with tempfile.TemporaryDirectory(prefix="cloudpypi-deps-", dir=cache) as tmp:
        pip("download", "--require-hashes", "--only-binary=:all:", *platforms, "--python-version", python_version,
            "--implementation", "cp", "--abi", abi, "--abi", "abi3", "--abi", "none",
            "--dest", tmp, "--requirement", str(lock))
        Path(tmp, LOCK_NAME).write_bytes(text)
        Path(tmp, ".complete").write_text(lock.name + "\n")
        if deps.exists():
            shutil.rmtree(deps)
        Path(tmp).rename(deps)
        Path(tmp).mkdir()  # TemporaryDirectory wants to remove something
    return deps


def pack_deps(deps: Path) -> Path:
    """One reproducible tarball of the dependency wheels, so the host gets them in one copy.

    It carries a marker file named after the set (.deps-<key>) that the role unpacks with
    `creates:`, so a half-finished deploy is redone and a finished one is not.
    """
    tar = deps.parent / (deps.name + ".tar")
    if tar.exists():
        return tar
    marker = ".deps-" + deps.name.rsplit("-", 1)[-1]
    partial = deps.parent / (deps.name + ".tar.partial")
    with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as archive:
        for path in [*sorted(deps.glob("*.whl")), deps / LOCK_NAME, deps / ".complete"]:
            info = archive.gettarinfo(str(path), arcname=marker if path.name == ".complete" else path.name)
            info.mtime, info.uid, info.gid, info.uname, info.gname, info.mode = 0, 0, 0, "root", "root", 0o644
            with open(path, "rb") as handle:
                archive.addfile(info, handle)
    partial.rename(tar)
    return tar


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, required=True, help="the checkout's root")
    parser.add_argument("--cache", type=Path, required=True, help="the wheel cache directory")
    parser.add_argument("--python-version", required=True, help="the host's Python, e.g. 3.13")
    parser.add_argument("--arch", required=True, help="the host's CPU, e.g. x86_64 or aarch64")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    source = args.source.resolve()
    lock = lock_file(source, args.python_version)
    wheel = build_wheel(source, args.cache)
    deps = fetch_deps(lock, args.cache, args.python_version, args.arch)
    print(json.dumps({
        "wheel": str(wheel),
        "sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
        "deps_dir": str(deps),
        "deps_tar": str(pack_deps(deps)),
        "deps_marker": ".deps-" + deps.name.rsplit("-", 1)[-1],
        "lock": LOCK_NAME,
        "deps": sorted(p.name for p in deps.glob("*.whl")),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
