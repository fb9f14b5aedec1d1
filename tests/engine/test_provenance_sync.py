"""The sync's side of the Simple API 1.4 and the JSON API, in process against the fake origin: the order of
writes, the provenance cap and checks, no refetching, and removal."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudpypi.provenance import MAX_PROVENANCE_BYTES
from cloudpypi.storage.folder import FolderStorage
from engine.conftest import run_syncer
from support.fakeorigin import Corpus, running_origin


class RecordingFolder(FolderStorage):
    """A folder target that remembers the order in which keys were published."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.written: list[str] = []
        self._record = threading.Lock()

    def write_bytes(self, key: str, data: bytes, **kwargs: Any) -> None:
        super().write_bytes(key, data, **kwargs)
        with self._record:
            self.written.append(key)

    def publish(self, staging: Any, key: str, **kwargs: Any) -> None:
        super().publish(staging, key, **kwargs)
        with self._record:
            self.written.append(key)


@pytest.fixture
def corpus() -> Corpus:
    corpus = Corpus()
    corpus.add_project("signed", [{"version": "1.0", "files": ["py3-none-any", "sdist"]}])
    corpus.add_provenance("signed", "signed-1.0-py3-none-any.whl")
    corpus.add_provenance("signed", "signed-1.0.tar.gz")
    corpus.add_project("plain", [{"version": "0.1", "files": ["py3-none-any"]}])
    return corpus


@pytest.fixture
def origin(corpus: Corpus) -> Iterator[Any]:
    with running_origin(corpus) as server:
        yield server


def test_provenance_and_json_api_are_published_after_the_files_and_before_the_pages(origin: Any, tmp_path: Path):
    storage = RecordingFolder(tmp_path / "mirror")
    report = run_syncer(origin, storage)
    assert report.ok, report.failures
    order = [k for k in storage.written if not k.startswith(".cloudpypi/")]
    pages = [i for i, k in enumerate(order) if k.startswith("simple/signed/")]
    for key in ("pypi/signed/json", *(k for k in order if k.endswith(".provenance"))):
        assert order.index(key) < min(pages), f"{key} must be published before the pages that link it: {order}"
    for key in (k for k in order if k.endswith(".provenance")):
        assert order.index(key.removesuffix(".provenance")) < order.index(key), "the file comes before its provenance"
    stored = {k: (tmp_path / "mirror" / k).read_bytes() for k in order if k.endswith(".provenance")}
    assert sorted(Path(k).name for k in stored) == ["signed-1.0-py3-none-any.whl.provenance",
                                                    "signed-1.0.tar.gz.provenance"]
    for key, data in stored.items():
        assert data == origin.corpus.provenance_at("signed", Path(key).name.removesuffix(".provenance")), \
            "stored byte for byte"


def test_a_second_run_fetches_no_provenance_again_and_a_new_one_arrives_with_its_file(origin: Any, tmp_path: Path):
    storage = FolderStorage(tmp_path / "mirror")
    assert run_syncer(origin, storage).ok
    origin.reset_counters()
    origin.corpus.touch("signed")
    origin.corpus.add_release("signed", "2.0", files=["py3-none-any"])
    origin.corpus.add_provenance("signed", "signed-2.0-py3-none-any.whl")
    report = run_syncer(origin, storage)
    assert report.ok, report.failures
    assert origin.counters.paths("provenance") == \
        ["/integrity/signed/2.0/signed-2.0-py3-none-any.whl/provenance"], "only the new file's provenance is fetched"
    page = json.loads((tmp_path / "mirror/simple/signed/index.v1_json").read_bytes())
    assert sum(1 for f in page["files"] if f.get("provenance")) == 3


@pytest.mark.parametrize("data, why", [
    (b"{" + b" " * MAX_PROVENANCE_BYTES + b"}", "more than"),
    (b"<html>not found</html>", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
])
def test_a_bad_provenance_is_not_carried_the_file_is_listed_without_it_and_the_project_retried(
        origin: Any, tmp_path: Path, data: bytes, why: str):
    origin.corpus.add_provenance("signed", "signed-1.0.tar.gz", data)
    storage = FolderStorage(tmp_path / "mirror")
    report = run_syncer(origin, storage)
    (failure,) = report.failures
    assert failure.project == "signed" and "provenance not carried" in failure.reason and why in failure.reason, \
        f"expected a clear reason naming the cause ({why}), got {failure.reason!r}"
    page = json.loads((tmp_path / "mirror/simple/signed/index.v1_json").read_bytes())
    linked = {f["filename"]: f.get("provenance") for f in page["files"]}
    assert linked["signed-1.0.tar.gz"] is None and linked["signed-1.0-py3-none-any.whl"], linked
    assert not (tmp_path / "mirror" / page["files"][1]["url"].removeprefix("../../")).with_suffix(
        ".gz.provenance").exists(), "nothing stored for the refused provenance"

    origin.corpus.add_provenance("signed", "signed-1.0.tar.gz")  # the origin fixes it: the retry carries it
    report = run_syncer(origin, storage)
    assert report.ok, report.failures
    page = json.loads((tmp_path / "mirror/simple/signed/index.v1_json").read_bytes())
    assert all(f.get("provenance") for f in page["files"]), "carried on the retry"


def test_removing_a_project_removes_its_json_api_document(origin: Any, tmp_path: Path):
    storage = FolderStorage(tmp_path / "mirror")
    assert run_syncer(origin, storage).ok
    assert (tmp_path / "mirror/pypi/plain/json").exists()
    origin.corpus.remove_project("plain")
    assert run_syncer(origin, storage).ok
    assert not (tmp_path / "mirror/pypi/plain/json").exists(), "the JSON API document goes with the pages"
    assert not (tmp_path / "mirror/simple/plain/index.v1_json").exists()
