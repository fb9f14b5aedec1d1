"""The sync service's runner lets `fab publish` upload and remove private distributions, and nothing else:
files staged under /var/tmp by their real path, named as distributions; project and file names checked."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from support.servicerunner import Runner, render_runner


@pytest.fixture()
def runner(tmp_path: Path) -> Runner:
    return render_runner(tmp_path)


@pytest.fixture()
def staged():
    folder = Path(tempfile.mkdtemp(prefix="cloudpypi-publish-test.", dir="/var/tmp"))
    wheel = folder / "acme_utils-1.0-py3-none-any.whl"
    wheel.write_bytes(b"PK")
    sdist = folder / "acme_utils-1.0.tar.gz"
    sdist.write_bytes(b"gz")
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def forwarded(out: str) -> list[str]:
    return [line.removeprefix("arg=") for line in out.splitlines() if line.startswith("arg=")]


def test_upload_forwards_staged_distributions_with_the_deployed_config(runner, staged) -> None:
    wheel, sdist = str(staged / "acme_utils-1.0-py3-none-any.whl"), str(staged / "acme_utils-1.0.tar.gz")
    proc = runner.run("upload", "--lock-wait", "30", wheel, sdist)
    assert proc.returncode == 0, proc.stderr
    assert forwarded(proc.stdout) == ["upload", "--config", runner.config, "--lock-wait", "30", wheel, sdist]


def test_remove_forwards_a_project_and_its_filenames(runner) -> None:
    proc = runner.run("remove", "--lock-wait=5", "acme-utils", "acme_utils-1.0-py3-none-any.whl")
    assert proc.returncode == 0, proc.stderr
    assert forwarded(proc.stdout) == ["remove", "--config", runner.config, "--lock-wait", "5", "acme-utils",
                                      "acme_utils-1.0-py3-none-any.whl"]


def hostile(staged: Path, tmp_path: Path) -> list[list[str]]:
    outside = tmp_path / "acme_utils-1.0-py3-none-any.whl"
    outside.write_bytes(b"PK")
    link = staged / "acme_utils-2.0-py3-none-any.whl"
    link.symlink_to(outside)
    (staged / "folder.whl").mkdir()
    return [
        ["upload", str(outside)],  # not staged under /var/tmp
        ["upload", str(link)],  # a symbolic link out of the staging folder
        ["upload", "acme_utils-1.0-py3-none-any.whl"],  # relative
        ["upload", f"{staged}/../{staged.name}/acme_utils-1.0.tar.gz"],  # not its real path
        ["upload", str(staged / "notes.txt")],
        ["upload", str(staged / "folder.whl")],  # not a regular file
        ["upload", "--target", "/tmp/elsewhere", str(staged / "acme_utils-1.0.tar.gz")],
        ["upload", "--config", "/tmp/evil.toml", str(staged / "acme_utils-1.0.tar.gz")],
        ["upload", "--lock-wait", "forever", str(staged / "acme_utils-1.0.tar.gz")],
        ["remove", "../../etc"],
        ["remove", "acme-utils", "../../etc/passwd"],
        ["remove", "acme-utils", "notes.txt"],
        ["remove", "--target", "/tmp/elsewhere", "acme-utils"],
        ["remove", "it's; rm -rf /"],
    ]


@pytest.mark.parametrize("case", range(14))
def test_hostile_upload_and_remove_arguments_are_refused_before_anything_runs(runner, staged, tmp_path,
                                                                              case) -> None:
    args = hostile(staged, tmp_path)[case]
    before = sorted(os.listdir(staged))
    proc = runner.run(*args)
    assert proc.returncode == 77, f"expected {args} refused with exit 77, got {proc.returncode}: {proc.stdout}"
    assert proc.stdout == "", f"expected the engine never started, got {proc.stdout!r}"
    assert proc.stderr.startswith("cloudpypi-service: refused: "), proc.stderr
    assert sorted(os.listdir(staged)) == before
