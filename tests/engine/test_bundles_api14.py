"""Bundles carry what the Simple API 1.4 added: provenance objects beside their files and the legacy JSON API
documents.  The real CLI exports from a mirror synced off the fake origin and imports into another folder;
the two mirrors are compared object by object, JSON API included."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.test_bundles import export, import_, manifest, members, state_serial, sync
from support.fakeorigin import Corpus, running_origin


@pytest.fixture
def origin() -> Iterator[Any]:
    corpus = Corpus()
    corpus.add_project("signed", [{"version": "1.0", "files": ["py3-none-any", "sdist"]}])
    corpus.add_provenance("signed", "signed-1.0-py3-none-any.whl")
    corpus.add_project("leaving", [{"version": "0.1", "files": ["py3-none-any"]}])
    corpus.add_project("old-tool", [{"version": "0.9", "files": ["py3-none-any"]}])
    corpus.set_status("old-tool", "archived", "done")
    with running_origin(corpus) as server:
        yield server


def objects(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for area in ("simple", "packages", "pypi")
            for p in sorted((root / area).rglob("*")) if p.is_file()}


def test_full_and_incremental_bundles_carry_provenance_and_the_json_api(origin: Any, tmp_path: Path) -> None:
    source, copy = tmp_path / "source", tmp_path / "copy"
    sync(origin, str(source), tmp_path)
    full = tmp_path / "full.tar"
    assert export(str(source), 0, full).returncode == 0
    carried = members(full)
    assert "pypi/signed/json" in carried and "pypi/old-tool/json" in carried, sorted(carried)
    assert [k for k in carried if k.endswith(".provenance")], "the provenance object travels with its file"
    names = list(carried)
    assert names.index("pypi/signed/json") < names.index("simple/signed/index.v1_json"), \
        "the JSON API document comes before the pages in the tar, as the sync publishes them"
    assert import_(full, str(copy), tmp_path).returncode == 0
    assert objects(copy) == objects(source), "the copy holds the same pages, files, provenance and JSON API"

    origin.corpus.add_release("signed", "2.0", files=["py3-none-any"])
    origin.corpus.add_provenance("signed", "signed-2.0-py3-none-any.whl")
    origin.corpus.remove_project("leaving")
    sync(origin, str(source), tmp_path)
    incremental = tmp_path / "incremental.tar"
    assert export(str(source), state_serial(copy), incremental).returncode == 0  # type: ignore[arg-type]
    provenance = sorted(k for k in members(incremental) if k.endswith(".provenance"))
    assert provenance and all("signed-2.0" in k for k in provenance), \
        f"only the new file's provenance travels again, got {provenance}"
    assert manifest(incremental)["removed"] == ["leaving"]
    assert import_(incremental, str(copy), tmp_path).returncode == 0
    assert objects(copy) == objects(source), "after the incremental bundle, the mirrors are identical again"
    assert not (copy / "pypi/leaving/json").exists(), "a removed project's JSON API document is removed too"


@pytest.mark.parametrize("name", ["pypi/../simple/x/json", "pypi/Not_Normal/json", "pypi/signed/1.0/json",
                                  "pypi/signed/index.html", "pypi/json"])
def test_a_json_api_member_outside_its_one_shape_is_refused(origin: Any, tmp_path: Path, name: str) -> None:
    source = tmp_path / "source"
    sync(origin, str(source), tmp_path)
    full = tmp_path / "full.tar"
    assert export(str(source), 0, full).returncode == 0
    hostile = tmp_path / "hostile.tar"
    with tarfile.open(full) as tar_in, tarfile.open(hostile, "w", format=tarfile.PAX_FORMAT) as tar_out:
        for member in tar_in.getmembers():
            data = tar_in.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "cloudpypi-bundle.json":
                document = json.loads(data)
                document["members"].append({"path": name, "sha256": hashlib.sha256(b"{}").hexdigest(), "size": 2})
                data = json.dumps(document).encode()
                extra = tarfile.TarInfo(name)
                extra.size = 2
                tar_out.addfile(extra, io.BytesIO(b"{}"))
                member.size = len(data)
            tar_out.addfile(member, io.BytesIO(data))
    copy = tmp_path / "copy"
    run = import_(hostile, str(copy), tmp_path)
    assert run.returncode == 2, f"expected a refusal (exit 2), got {run.returncode}: {run.stderr}"
    assert "outside packages/" in run.stderr + run.stdout, f"expected the member's shape refused, got {run.stderr}"
    assert not (copy / "pypi").exists() and not (copy / "simple").exists(), "nothing is written"
