"""The interpreter the benchmark runs the engine with: a venv holding exactly the runtime lock.

The dev server installs the engine's dependencies from `requirements/runtime-py3.X.txt` and nothing
else.  The development venv holds more (moto, ansible, and awscrt, which botocore imports whenever it
is installed: about 0.1 CPU s per process, a quarter of a no-op sync), so an engine measured from it
would pay for modules a deployed engine never loads.  The measured `cloudpypi` processes therefore run
from a venv of their own, built once from the lock (hash-checked) and cached under the benchmark's
cache folder; the engine's code itself still comes from this checkout (PYTHONPATH).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def lock_file() -> Path:
    return REPO / "requirements" / f"runtime-py{sys.version_info.major}.{sys.version_info.minor}.txt"


def engine_python(cache: Path) -> tuple[str, str]:
    """(interpreter, label): the runtime-lock venv's python, built on first use; this interpreter
    when there is no lock for its Python version or the install fails (the label says which)."""
    lock = lock_file()
    if not lock.exists():
        return sys.executable, f"the development venv (no {lock.name} for this Python)"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()[:12]
    venv = cache / "bench" / f"engine-{lock.stem}-{digest}"
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    label = f"a venv of {lock.relative_to(REPO)} only, as on the dev server"
    if stamp.exists() and python.exists():
        return str(python), label
    print(f"installing the engine's runtime dependencies into {venv}", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    done = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--require-hashes",
            "--no-deps",
            "-r",
            str(lock),
        ],
        check=False,
    )
    if done.returncode != 0:
        print(
            f"could not install {lock.name} (pip exit {done.returncode}): measuring the engine from the "
            "development venv",
            file=sys.stderr,
            flush=True,
        )
        return sys.executable, "the development venv (installing the runtime lock failed)"
    stamp.touch()
    return str(python), label
