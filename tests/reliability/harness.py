"""Running the real `cloudpypi` CLI as a subprocess against the fake origin, and reading its results."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support.cli import cli_argv, run_cli, start_cli
from support.fakeorigin import Corpus

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"
RUN_TIMEOUT_S = 120.0


def known_good(corpus: Corpus) -> dict[str, str]:
    """Every storage key the origin's files map to, with the sha256 of its correct bytes."""
    good: dict[str, str] = {}
    for spec in corpus.all_specs():
        artifact = corpus.store.get(spec)
        key = "packages/" + spec.url_path[len("/packages/"):]
        good[key] = artifact.sha256
        if artifact.metadata_sha256:
            good[key + ".metadata"] = artifact.metadata_sha256
    return good


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def write_config(path: Path, sections: Mapping[str, Mapping[str, Any]]) -> Path:
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {toml_value(value)}" for key, value in values.items())
        lines.append("")
    path.write_text("\n".join(lines))
    return path


@dataclass
class SyncResult:
    returncode: int
    stdout: str
    stderr: str
    report: dict[str, Any] | None
    duration: float

    @property
    def failed_projects(self) -> set[str]:
        return {f["project"] for f in (self.report or {}).get("failures", [])}

    def describe(self) -> str:
        return (f"exit {self.returncode} after {self.duration:.1f}s\n--- stdout\n{self.stdout[-3000:]}\n"
                f"--- stderr\n{self.stderr[-3000:]}")


class Cli:
    """Builds and runs `python -m cloudpypi sync ...` with an isolated environment under tmp."""

    def __init__(self, tmp: Path, env: Mapping[str, str] | None = None) -> None:
        self.tmp = tmp
        self.state_dir = tmp / "state-cache"
        self.spool_dir = tmp / "spool"
        self.env = dict(env if env is not None else os.environ)
        self.env.update({
            "PYTHONPATH": str(SCRIPTS),
            "CLOUDPYPI_STATE_DIR": str(self.state_dir),
            "CLOUDPYPI_SPOOL_DIR": str(self.spool_dir),
            "NO_PROXY": "*",
        })
        for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            self.env.pop(proxy, None)
        self._runs = 0

    def config(self, mirror: Mapping[str, Any] | None = None, **sections: Mapping[str, Any]) -> Path:
        self._runs += 1
        path = self.tmp / f"mirror-{self._runs}.toml"
        return write_config(path, {"mirror": {"timeout": 5, **(mirror or {})}, **sections})

    def sync_args(self, origin: str, target: str, config: Path | None, report: Path | None,
                  extra: Iterable[str] = ()) -> list[str]:
        """The arguments of `cloudpypi sync` for this origin, target, config and report."""
        args = ["sync", "--no-progress", "--origin", origin, "--target", target]
        if config is not None:
            args += ["--config", str(config)]
        if report is not None:
            args += ["--report", str(report)]
        return args + list(extra)

    def argv(self, origin: str, target: str, config: Path | None, report: Path | None,
             extra: Iterable[str] = ()) -> list[str]:
        return cli_argv(*self.sync_args(origin, target, config, report, extra))

    def sync(self, origin: str, target: str, *, config: Path | None = None, extra: Iterable[str] = (),
             env: Mapping[str, str] | None = None, timeout: float = RUN_TIMEOUT_S) -> SyncResult:
        self._runs += 1
        report = self.tmp / f"report-{self._runs}.json"
        started = time.monotonic()
        proc = start_cli(*self.sync_args(origin, target, config, report, extra), env={**self.env, **(env or {})},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            stdout, stderr = proc.communicate()
            raise AssertionError(f"cloudpypi sync did not finish within {timeout:.0f}s:\n{stdout}\n{stderr}") from None
        data = json.loads(report.read_text()) if report.exists() else None
        return SyncResult(proc.returncode, stdout, stderr, data, time.monotonic() - started)

    def verify(self, target: str, timeout: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        """`cloudpypi verify --target T`: the engine's own check, as a cross-check of the suite's."""
        return run_cli("verify", "--target", target, env=self.env, timeout=timeout)

    def start(self, origin: str, target: str, *, config: Path | None = None, extra: Iterable[str] = (),
              env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
        """Start a sync in its own process group (so a test can SIGKILL the whole group)."""
        return start_cli(*self.sync_args(origin, target, config, None, extra), env={**self.env, **(env or {})},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def kill_group(proc: subprocess.Popen[Any]) -> None:
    """SIGKILL the process group a test started (start_new_session=True makes pgid == pid)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def assert_outcome(result: SyncResult, expected_projects: set[str]) -> None:
    """The one acceptable shape of a run under faults: exit 0, or non-zero naming what failed."""
    if result.returncode == 0:
        assert result.report is not None and not result.report["failures"], (
            f"expected a clean report with exit 0, got {result.report and result.report['failures']}")
        return
    assert result.returncode == 1, f"expected exit 0 or 1 under faults, got {result.describe()}"
    if result.report is None:  # the run as a whole failed (root index or changelog): one clear error line
        assert "error:" in result.stderr, f"expected an error line on stderr, got {result.describe()}"
        return
    failed = result.failed_projects
    assert failed, f"expected the failed projects named in the report, got {result.describe()}"
    for name in failed:
        assert name in result.stdout, f"expected failed project {name} named in stdout, got {result.stdout}"
    # "(run)": a run-level failure (root index or changelog unreachable) reported as such
    assert failed <= expected_projects | {"(run)"}, f"expected failures among {expected_projects}, got {failed}"


def small_corpus(projects: int = 6, big: int = 0, big_size: int = 3_000_000) -> Corpus:
    """A deterministic corpus: `projects` projects of 1-3 releases (wheels, sdists, .metadata), plus
    `big` extra projects holding one file of big_size bytes each."""
    corpus = Corpus()
    spellings = ("Alpha", "beta_two", "Gamma.Three", "delta", "EPSILON-five", "zeta", "eta.seven", "theta_8")
    for i in range(projects):
        name = spellings[i] if i < len(spellings) else f"proj-{i:03d}"
        releases = []
        for r in range(1 + i % 3):
            files: list[Any] = [("py3-none-any", 20_000 + 37_000 * ((i + r) % 5)), "sdist"]
            if (i + r) % 2:
                files.append(("cp312-cp312-manylinux_2_28_x86_64", 150_000))
            releases.append({"version": f"1.{r}.0", "files": files, "requires_python": ">=3.8"})
        corpus.add_project(name, releases)
    for j in range(big):
        corpus.add_project(f"big-{j}", [{"version": "2.0", "files": [("py3-none-any", big_size)]}])
    corpus.build_all()
    return corpus


def project_names(corpus: Corpus) -> set[str]:
    return {p.normalized for p in corpus.projects.values()}


def record(kind: str, **data: Any) -> None:
    """Append a measured figure to $CLOUDPYPI_RELIABILITY_RECORD (JSON lines), when set: docs/RELIABILITY.md
    quotes these numbers."""
    path = os.environ.get("CLOUDPYPI_RELIABILITY_RECORD")
    if path:
        with open(path, "a") as handle:
            handle.write(json.dumps({"kind": kind, **data}) + "\n")
