"""The Python code stays ruff-clean (config in pyproject.toml), like the YAML stays yamllint-clean."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_python_code_passes_ruff():
    ruff = Path(sys.executable).parent / "ruff"
    paths = [p for p in ("scripts", "tests", "fabfile.py") if (ROOT / p).exists()]
    proc = subprocess.run([str(ruff), "check", "--no-cache", *paths], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "NO_COLOR": "1"})
    assert proc.returncode == 0, f"expected ruff to pass, got:\n{proc.stdout}{proc.stderr}"
