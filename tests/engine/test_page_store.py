"""The page store: the order it writes and removes a project's pages in, and its seam for extra objects."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cloudpypi.config import Config
from cloudpypi.layout import JSON_PAGE, PAGE_CONTENT_TYPES, page_keys, project_extra_keys
from cloudpypi.model import DistFile, ProjectPage
from cloudpypi.pages import PageStore
from cloudpypi.storage.folder import FolderStorage

SHA = "ab" * 32


class RecordingStorage(FolderStorage):
    """A folder target that remembers the order of its writes and deletions."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.log: list[tuple[str, str]] = []

    def write_bytes(self, key: str, data: bytes, **kwargs: object) -> None:  # type: ignore[override]
        self.log.append(("write", key))
        super().write_bytes(key, data, **kwargs)  # type: ignore[arg-type]

    def delete(self, key: str) -> None:
        self.log.append(("delete", key))
        super().delete(key)


def page(name: str = "demo", serial: int = 7) -> ProjectPage:
    wheel = DistFile(filename=f"{name}-1.0-py3-none-any.whl", url=f"https://files.pythonhosted.org/packages/aa/bb/{name}.whl",
                     sha256=SHA, size=10, key=f"packages/aa/bb/{name}-1.0-py3-none-any.whl")
    return ProjectPage(name=name, files=(wheel,), versions=("1.0",), last_serial=serial)


def test_extra_objects_are_written_before_the_pages_and_the_json_page_last(tmp_path: Path) -> None:
    storage = RecordingStorage(tmp_path)
    extra = ("provenance/demo.json", b"{}", "application/json")
    store = PageStore(storage, 60, extra_objects=lambda p: [extra] if p.name == "demo" else [])

    assert store.publish_project(page()), "expected a first publication to write the pages"

    keys = page_keys("demo")
    expected = [("write", "provenance/demo.json")] + [("write", key) for key in reversed(keys.values())]
    assert storage.log == expected, f"expected extras, then the pages with JSON last; got {storage.log}"
    info = storage.stat(keys[JSON_PAGE])
    assert info is not None and info.content_type == PAGE_CONTENT_TYPES[JSON_PAGE]
    back = store.read("demo")
    assert back is not None and [f.key for f in back.files] == [f.key for f in page().files], back


def test_an_unchanged_page_is_not_written_again_unless_rewrite(tmp_path: Path) -> None:
    storage = RecordingStorage(tmp_path)
    store = PageStore(storage, 60)
    store.publish_project(page())
    storage.log.clear()

    assert not store.publish_project(page()), "expected identical pages to be left alone"
    assert storage.log == [], f"expected no write, got {storage.log}"
    assert store.publish_project(page(), rewrite=True), "expected rewrite to write the pages"
    assert [key for _, key in storage.log] == list(reversed(page_keys("demo").values()))
    assert store.publish_project(page(serial=8)), "expected a changed page to be written"


def test_removing_a_project_deletes_its_extra_objects_then_its_json_page_last(tmp_path: Path) -> None:
    storage = RecordingStorage(tmp_path)
    store = PageStore(storage, 60)
    store.publish_project(page())
    storage.log.clear()

    store.remove_project("demo")

    expected = [*project_extra_keys("demo"), *reversed(page_keys("demo").values())]
    assert storage.log == [("delete", key) for key in expected], storage.log
    assert not store.has_pages("demo") and store.read("demo") is None


def test_an_unreadable_mirror_page_is_rebuilt_not_trusted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    storage = FolderStorage(tmp_path)
    storage.write_bytes(page_keys("demo")[JSON_PAGE], b"{not json", content_type="text/plain")
    store = PageStore(storage, 60)

    with caplog.at_level(logging.WARNING):
        assert store.mirror_page("demo") is None, "expected an unreadable page to count as none"
    assert "unreadable" in caplog.text, caplog.text
    with pytest.raises(ValueError):
        store.read("demo")


def test_collect_accounts_results_only_while_a_sync_runs(tmp_path: Path) -> None:
    from cloudpypi.model import ProjectResult
    from cloudpypi.origin import OriginClient
    from cloudpypi.sync import Syncer, SyncOptions

    config = Config(origin="http://127.0.0.1:9/", target=str(tmp_path))
    origin = OriginClient.from_config(config)
    syncer = Syncer(config, FolderStorage(tmp_path), origin, SyncOptions(progress=False))
    try:
        with pytest.raises(RuntimeError, match="running sync"):
            syncer.collect(ProjectResult(name="demo", serial=1))
    finally:
        syncer.shutdown(cancel=True)
        origin.close()
