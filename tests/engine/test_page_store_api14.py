"""The page store with the Simple API 1.4 extras: provenance published as a file, the JSON API document
with the pages, both before the pages and removed (the document) before them."""

from __future__ import annotations

import json
from pathlib import Path

from cloudpypi.extras import ApiExtras
from cloudpypi.layout import json_api_key, page_keys
from cloudpypi.model import DistFile, ProjectPage
from cloudpypi.pages import PageStore
from cloudpypi.storage.content import FILE_CACHE_CONTROL, JSON_API_TYPE
from cloudpypi.storage.folder import FolderStorage

SHA = "cd" * 32
KEY = "packages/aa/bb/demo-1.0-py3-none-any.whl"


class RecordingStorage(FolderStorage):
    """A folder target that remembers the order in which objects appear in it."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.log: list[str] = []
        self.published: list[tuple[str, object]] = []  # write-once publications: (key, cache control)

    def write_bytes(self, key: str, data: bytes, **kwargs: object) -> None:  # type: ignore[override]
        self.log.append(key)
        super().write_bytes(key, data, **kwargs)  # type: ignore[arg-type]

    def publish(self, staging, key: str, **kwargs: object) -> None:  # type: ignore[override]
        self.log.append(key)
        self.published.append((key, kwargs.get("cache_control")))
        super().publish(staging, key, **kwargs)  # type: ignore[arg-type]


def demo_page() -> ProjectPage:
    wheel = DistFile(filename="demo-1.0-py3-none-any.whl", url="https://origin.test/demo.whl", sha256=SHA, size=3,
                     key=KEY, provenance_url="https://origin.test/demo.whl.provenance", has_provenance=True)
    return ProjectPage(name="demo", files=(wheel,), versions=("1.0",), last_serial=3)


def test_held_provenance_is_published_write_once_before_the_json_api_document_and_the_pages(tmp_path: Path) -> None:
    storage = RecordingStorage(tmp_path)
    extras = ApiExtras(storage, origin=None, public_url="")  # type: ignore[arg-type]  # nothing to fetch here
    extras._held[KEY + ".provenance"] = b'{"attestation_bundles": []}'
    store = PageStore(storage, 60, extra_objects=extras)

    assert store.publish_project(demo_page())

    assert storage.log == [KEY + ".provenance", json_api_key("demo"), *reversed(page_keys("demo").values())]
    info = storage.stat(KEY + ".provenance")
    assert info is not None and info.content_type == JSON_API_TYPE
    assert storage.read_bytes(KEY + ".provenance") == b'{"attestation_bundles": []}'
    assert storage.published == [(KEY + ".provenance", FILE_CACHE_CONTROL)], "expected it published as a file is"
    document = json.loads(storage.read_bytes(json_api_key("demo")) or b"null")
    assert document["releases"]["1.0"][0]["url"] == "../../" + KEY, document
    page_json = json.loads(storage.read_bytes(page_keys("demo")["index.v1_json"]) or b"null")
    assert page_json["files"][0]["provenance"] == "../../" + KEY + ".provenance", page_json
    assert not extras._held, "expected the held provenance to be handed over once"


def test_a_bundles_json_api_document_goes_before_the_pages_and_only_when_it_differs(tmp_path: Path) -> None:
    storage = RecordingStorage(tmp_path)
    store = PageStore(storage, 60)
    pages = {form: b"x" for form in page_keys("demo")}
    document = (json_api_key("demo"), b"{}", JSON_API_TYPE)

    assert store.publish_rendered("demo", pages, [document]) == 4
    assert storage.log == [json_api_key("demo"), *reversed(page_keys("demo").values())]
    storage.log.clear()
    assert store.publish_rendered("demo", pages, [document]) == 0 and storage.log == []
