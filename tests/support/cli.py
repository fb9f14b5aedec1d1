"""The one way tests run the `cloudpypi` command: `python -m cloudpypi` in a child process.

The child imports the package from this checkout (its `scripts/` comes first on PYTHONPATH, whatever
environment a test passes), reads nothing from the terminal unless a test gives it input, and never
raises on a non-zero exit unless asked to: the tests assert on the exit code themselves.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def cli_argv(*args: str) -> list[str]:
    """The command line that runs `cloudpypi ARGS...` with this interpreter."""
    return [sys.executable, "-m", "cloudpypi", *args]


def cli_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """ENV (default: this process's environment) with this checkout's package first on PYTHONPATH."""
    merged = dict(os.environ if env is None else env)
    rest = [p for p in merged.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(SCRIPTS)]
    merged["PYTHONPATH"] = os.pathsep.join([str(SCRIPTS), *rest])
    return merged


def run_cli(*args: str, env: Mapping[str, str] | None = None, input: str | bytes | None = None,
            timeout: float = 300, check: bool = False, text: bool = True) -> subprocess.CompletedProcess[Any]:
    """Run `cloudpypi ARGS...` to the end and capture its output; stdin is empty unless INPUT is given."""
    return subprocess.run(cli_argv(*args), env=cli_env(env), input=input, timeout=timeout, check=check, text=text,
                          capture_output=True, stdin=None if input is not None else subprocess.DEVNULL)


def start_cli(*args: str, env: Mapping[str, str] | None = None, **popen: Any) -> subprocess.Popen[Any]:
    """Start `cloudpypi ARGS...` in the background (a server, or a run to watch or kill); POPEN as for Popen."""
    popen.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.Popen(cli_argv(*args), env=cli_env(env), **popen)
