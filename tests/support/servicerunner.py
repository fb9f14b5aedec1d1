"""roles/sync_service's runner (templates/cloudpypi-service.j2) rendered into a folder and run for real.

The rendered runner's venv is a stand-in whose `bin/cloudpypi` prints its environment's endpoint and
one `arg=` line per argument, so a test sees exactly what the runner would hand the engine.  The
service user is the account running the tests (the runner refuses any other).
"""

from __future__ import annotations

import getpass
import json
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import jinja2

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "roles" / "sync_service" / "templates" / "cloudpypi-service.j2"
ORIGIN = "https://origin.example/"
FAKE_CLI = '#!/bin/sh\necho "endpoint=$AWS_ENDPOINT_URL"; for a in "$@"; do echo "arg=$a"; done\n'


@dataclass(frozen=True)
class Runner:
    path: Path
    config_dir: Path
    report_dir: Path
    origin: str

    @property
    def config(self) -> str:
        return str(self.config_dir / "mirror.toml")

    def run(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        """The runner run by this Python (the role's shebang names the venv's) with ARGS."""
        return subprocess.run([sys.executable, "-I", str(self.path), *args], capture_output=True, text=True,
                              check=check, timeout=60)


def render_runner(folder: Path, *, service_user: str | None = None) -> Runner:
    """Render the runner under ``folder`` (paths with a space, as a hostile-path check) with a stand-in
    cloudpypi, the way the role renders it."""
    config_dir = folder / "etc cloudpypi"
    config_dir.mkdir(parents=True)
    report_dir = folder / "state" / "reports"
    report_dir.mkdir(parents=True)
    venv_bin = folder / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "cloudpypi").write_text(FAKE_CLI)
    (venv_bin / "cloudpypi").chmod(0o755)
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701 - a script
    environment.filters["quote"] = shlex.quote
    environment.filters["to_json"] = json.dumps
    runner = folder / "cloudpypi-service"
    runner.write_text(environment.from_string(TEMPLATE.read_text()).render(
        ansible_managed="test", sync_service_user=service_user or getpass.getuser(),
        sync_service_config_dir=str(config_dir), sync_service_venv=str(folder / "venv"),
        sync_service_report_dir=str(report_dir), sync_service_origin=ORIGIN))
    runner.chmod(0o755)
    return Runner(path=runner, config_dir=config_dir, report_dir=report_dir, origin=ORIGIN)
