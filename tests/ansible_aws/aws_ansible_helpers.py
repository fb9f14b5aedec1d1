"""Helpers of the AWS-side Ansible tests: ansible-playbook runs against a moto server with the
tests' own inventory (tests/ansible_aws/inventory), and their PLAY RECAP."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from support.motoserver import MotoServer

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
INVENTORY = HERE / "inventory"
BUCKET = "cloudpypi-test-mirror"  # as in inventory/group_vars/aws_resources.yml
REGION = "eu-west-1"


@dataclass(frozen=True)
class PlaybookRun:
    """One finished ansible-playbook run."""

    args: Sequence[str]
    returncode: int
    output: str
    seconds: float

    @property
    def recap(self) -> dict[str, int]:
        """The PLAY RECAP counters of localhost (ok, changed, failed, ...)."""
        match = re.search(r"^localhost\s+:\s+(.*)$", self.output, re.MULTILINE)
        if not match:
            raise AssertionError(f"no PLAY RECAP for localhost in the output of {self.args}:\n{self.output[-3000:]}")
        return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", match.group(1))}

    def changed_tasks(self) -> list[str]:
        """Names of the tasks that reported changed (for failure messages)."""
        tasks = []
        current = ""
        for line in self.output.splitlines():
            if line.startswith("TASK ["):
                current = line.split("[", 1)[1].rsplit("]", 1)[0]
            elif line.startswith("changed:"):
                tasks.append(current)
        return tasks


def ansible_env(moto: MotoServer) -> dict[str, str]:
    env = moto.env(os.environ)
    env.update(
        {
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    return env


def run_playbook(moto: MotoServer, playbook: str, *extra: str, timeout: float = 600) -> PlaybookRun:
    args = ["ansible-playbook", "-i", str(INVENTORY), playbook, *extra]
    started = time.monotonic()
    proc = subprocess.run(
        args, cwd=ROOT, env=ansible_env(moto), capture_output=True, text=True, timeout=timeout, check=False
    )
    return PlaybookRun(args, proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started)


def require_ok(run: PlaybookRun) -> PlaybookRun:
    assert run.returncode == 0, (
        f"expected {' '.join(run.args)} to succeed, got exit {run.returncode}:\n{run.output[-5000:]}"
    )
    return run
