"""The fake origin (tests/support/fakeorigin) as its own process, and its control endpoint."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.procs import BenchError

REPO = Path(__file__).resolve().parents[2]
BUILD_TIMEOUT_S = 1800.0


@dataclass
class Origin:
    url: str
    files_url: str
    control_url: str
    pid: int
    projects: int
    files: int
    bytes: int
    build_s: float

    def _call(self, action: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.control_url + action, data=data,
                                         method="POST" if data is not None else "GET")
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def counters(self) -> dict[str, int]:
        """Requests served since the last reset, by kind (root, project, file, metadata, xmlrpc, ...)."""
        return dict(self._call("counters")["by_kind"])

    def reset_counters(self) -> None:
        self._call("reset_counters", {})

    def mutate(self, op: str, *args: Any, **kwargs: Any) -> Any:
        return self._call("mutate", {"op": op, "args": list(args), "kwargs": kwargs})

    def state(self) -> dict[str, int]:
        return dict(self._call("state"))


@contextmanager
def running_origin(spec: dict[str, Any], work: Path, cache_dir: Path,
                   env: dict[str, str] | None = None) -> Iterator[Origin]:
    """Start the fake origin on loopback in its own process; wait for its ready line; always stop it."""
    work.mkdir(parents=True, exist_ok=True)
    spec_path = work / "corpus-spec.json"
    spec_path.write_text(json.dumps(spec))
    log_path = work / "origin.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.originproc", "--corpus-spec", str(spec_path),
             "--state-dir", str(work / "origin"), "--cache-dir", str(cache_dir)],
            stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, env=env)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # the origin prints one JSON line once it is serving
        if not line:
            process.wait(timeout=10)
            raise BenchError(f"the fake origin exited with {process.returncode} before it was ready; "
                             f"log: {log_path}\n{log_path.read_text(errors='replace')[-2000:]}")
        ready = json.loads(line)
        yield Origin(ready["url"], ready["files_url"], ready["control_url"], ready["pid"], ready["projects"],
                     ready["files"], ready["bytes"], ready["build_s"])
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)
