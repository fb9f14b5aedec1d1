"""The tests' fake PyPI origin behaves like pypi.org for a mirror client, and its faults do what they say."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import subprocess
import sys
import tarfile
import time
import xmlrpc.client
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

try:
    from support.fakeorigin import (
        HTML_V1,
        JSON_V1,
        ArtifactSpec,
        ArtifactStore,
        Corpus,
        OriginServer,
        core_metadata,
        generate_corpus,
        hostile_file_entries,
        hostile_pages,
        hostile_project_names,
        negotiate,
        running_origin,
    )
    from support.fakeorigin.model import Release
except ImportError:  # before the root conftest puts tests/ on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from support.fakeorigin import (
        HTML_V1,
        JSON_V1,
        ArtifactSpec,
        ArtifactStore,
        Corpus,
        OriginServer,
        core_metadata,
        generate_corpus,
        hostile_file_entries,
        hostile_pages,
        hostile_project_names,
        negotiate,
        running_origin,
    )
    from support.fakeorigin.model import Release

UV_ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
PIP_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.1, text/html;q=0.01"
)

pytestmark = pytest.mark.timeout(120)


# ---- helpers ------------------------------------------------------


class Reply:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)


def fetch(
    base: str, path: str, *, method: str = "GET", headers: dict[str, str] | None = None, timeout: float = 10
) -> Reply:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        conn.close()


def file_path(origin: OriginServer, url: str) -> str:
    assert url.startswith(origin.files_url + "/packages/"), (
        f"expected a file URL on {origin.files_url}, got {url}"
    )
    return url[len(origin.files_url) :]


def project_json(origin: OriginServer, name: str) -> dict[str, Any]:
    reply = fetch(origin.url, f"/simple/{name}/", headers={"Accept": JSON_V1})
    assert reply.status == 200, f"expected 200 for /simple/{name}/, got {reply.status}: {reply.body[:200]!r}"
    return reply.json()


def build_small_corpus(cache: Path) -> Corpus:
    corpus = Corpus(cache)
    corpus.add_project(
        "Demo.Lib",
        [
            {"version": "1.0", "files": ["py3-none-any", "sdist"], "requires_python": ">=3.8"},
            {
                "version": "1.1",
                "files": [("py3-none-any", 40_000), "cp312-cp312-manylinux_2_28_x86_64", "sdist"],
                "requires_python": ">=3.9",
                "requires_dist": ["helper-pkg>=1.0", 'extra-dep; extra == "fast"'],
                "provides_extra": ["fast"],
            },
        ],
    )
    corpus.add_project("helper_pkg", [{"version": "1.0", "files": ["py3-none-any"]}])
    return corpus


@pytest.fixture(scope="session")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fakeorigin-cache")


@pytest.fixture
def origin(cache: Path) -> Iterator[OriginServer]:
    with running_origin(build_small_corpus(cache)) as server:
        yield server


def changelog(origin: OriginServer, since: int) -> list[list[Any]]:
    return xmlrpc.client.ServerProxy(origin.xmlrpc_url).changelog_since_serial(since)  # type: ignore[return-value]


# ---- pages and negotiation ------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (UV_ACCEPT, JSON_V1),
        (PIP_ACCEPT, JSON_V1),
        (JSON_V1, JSON_V1),
        ("application/vnd.pypi.simple.latest+json", JSON_V1),
        (HTML_V1, HTML_V1),
        ("text/html", "text/html"),
        ("*/*", "text/html"),
        (None, "text/html"),
        ("application/vnd.pypi.simple.v1+json;q=0.1, text/html", "text/html"),
        ("application/xml", None),
    ],
)
def test_accept_negotiation_picks_the_highest_quality_supported_type(
    accept: str | None, expected: str | None
):
    got = negotiate(accept)
    assert got == expected, f"Accept {accept!r}: expected {expected}, got {got}"


def test_project_page_json_is_pep691_v1_1_with_absolute_file_urls_and_serial_header(origin: OriginServer):
    reply = fetch(origin.url, "/simple/demo-lib/", headers={"Accept": UV_ACCEPT})
    assert reply.headers["Content-Type"] == JSON_V1, f"got Content-Type {reply.headers['Content-Type']}"
    doc = reply.json()
    assert doc["meta"]["api-version"] == "1.4"
    assert reply.headers["X-PyPI-Last-Serial"] == str(doc["meta"]["_last-serial"])
    assert doc["name"] == "demo-lib" and doc["versions"] == ["1.0", "1.1"], (
        f"got {doc['name']} {doc['versions']}"
    )
    files = {f["filename"]: f for f in doc["files"]}
    assert set(files) == {
        "demo_lib-1.0-py3-none-any.whl",
        "demo_lib-1.0.tar.gz",
        "demo_lib-1.1-py3-none-any.whl",
        "demo_lib-1.1-cp312-cp312-manylinux_2_28_x86_64.whl",
        "demo_lib-1.1.tar.gz",
    }, f"got {sorted(files)}"
    wheel = files["demo_lib-1.1-py3-none-any.whl"]
    assert wheel["url"].startswith(origin.files_url + "/packages/"), f"file URL not absolute: {wheel['url']}"
    assert wheel["size"] == 40_000, f"padded wheel should be exactly 40000 bytes, got {wheel['size']}"
    assert wheel["requires-python"] == ">=3.9" and wheel["yanked"] is False
    assert (
        isinstance(wheel["core-metadata"], dict)
        and wheel["core-metadata"] == wheel["data-dist-info-metadata"]
    )
    assert files["demo_lib-1.1.tar.gz"]["core-metadata"] is False, "sdists carry no PEP 658 metadata"
    assert wheel["upload-time"].endswith("Z")


def test_project_page_html_escapes_requires_python_and_carries_metadata_attributes(origin: OriginServer):
    reply = fetch(origin.url, "/simple/demo-lib/", headers={"Accept": "text/html"})
    assert reply.headers["Content-Type"].startswith("text/html")
    page = reply.body.decode()
    assert 'data-requires-python="&gt;=3.9"' in page, "requires-python must be HTML-escaped"
    assert 'data-core-metadata="sha256=' in page and 'data-dist-info-metadata="sha256=' in page
    assert '<meta name="pypi:repository-version" content="1.4">' in page
    assert "#sha256=" in page
    v1 = fetch(origin.url, "/simple/demo-lib/", headers={"Accept": HTML_V1})
    assert v1.headers["Content-Type"] == HTML_V1, f"got {v1.headers['Content-Type']}"


def test_root_index_lists_projects_with_serials_in_json_and_html(origin: OriginServer):
    reply = fetch(origin.url, "/simple/", headers={"Accept": JSON_V1})
    doc = reply.json()
    serials = {p["name"]: p["_last-serial"] for p in doc["projects"]}
    assert set(serials) == {"Demo.Lib", "helper_pkg"}, f"got {serials}"
    assert doc["meta"]["_last-serial"] == origin.corpus.serial == int(reply.headers["X-PyPI-Last-Serial"])
    assert serials["helper_pkg"] == origin.corpus.serial, "the last-created project holds the last serial"
    html_page = fetch(origin.url, "/simple/").body.decode()
    assert '<a href="/simple/demo-lib/">Demo.Lib</a>' in html_page, html_page


def test_non_normalized_names_redirect_permanently_to_the_normalized_page(origin: OriginServer):
    for spelling in ("Demo.Lib", "DEMO_lib", "demo-lib"):
        reply = fetch(origin.url, f"/simple/{spelling}")
        assert reply.status == 301, f"/simple/{spelling}: expected 301, got {reply.status}"
    reply = fetch(origin.url, "/simple/Demo.Lib/")
    assert (reply.status, reply.headers["Location"]) == (301, "/simple/demo-lib/")
    assert fetch(origin.url, "/simple/no-such-project/").status == 404


def test_unacceptable_accept_gets_406_and_html_only_mode_ignores_json(origin: OriginServer):
    assert fetch(origin.url, "/simple/demo-lib/", headers={"Accept": "application/xml"}).status == 406
    origin.options.html_only = True
    reply = fetch(origin.url, "/simple/demo-lib/", headers={"Accept": JSON_V1})
    assert reply.headers["Content-Type"].startswith("text/html"), f"got {reply.headers['Content-Type']}"


def test_static_mode_serves_no_serial_header_and_no_xmlrpc(origin: OriginServer):
    origin.options.static = True
    reply = fetch(origin.url, "/simple/", headers={"Accept": JSON_V1})
    assert reply.status == 200 and "X-PyPI-Last-Serial" not in reply.headers
    assert fetch(origin.url, "/pypi", method="POST").status == 404


def test_keep_alive_serves_many_requests_on_one_connection(origin: OriginServer):
    conn = http.client.HTTPConnection("127.0.0.1", origin.port, timeout=5)
    for _ in range(5):
        conn.request("GET", "/simple/demo-lib/", headers={"Accept": JSON_V1})
        response = conn.getresponse()
        assert response.status == 200 and int(response.headers["Content-Length"]) == len(response.read())
    conn.close()
    assert origin.counters.total("project") == 5, origin.counters.summary()


# ---- files ------------------------------------------------------


def test_served_files_and_metadata_match_the_hashes_the_page_announces(origin: OriginServer):
    for entry in project_json(origin, "demo-lib")["files"]:
        reply = fetch(origin.files_url, file_path(origin, entry["url"]))
        assert reply.status == 200 and len(reply.body) == entry["size"]
        got = hashlib.sha256(reply.body).hexdigest()
        assert got == entry["hashes"]["sha256"], (
            f"{entry['filename']}: page says {entry['hashes']}, got {got}"
        )
        if entry["core-metadata"]:
            meta = fetch(origin.files_url, file_path(origin, entry["url"]) + ".metadata")
            assert hashlib.sha256(meta.body).hexdigest() == entry["core-metadata"]["sha256"]
            with zipfile.ZipFile(__import__("io").BytesIO(reply.body)) as wheel:
                inner = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
                assert wheel.read(inner) == meta.body, ".metadata must equal the wheel's METADATA"
        else:
            assert fetch(origin.files_url, file_path(origin, entry["url"]) + ".metadata").status == 404
    assert origin.counters.by_kind().get("metadata", 0) >= 3, origin.counters.summary()


def test_files_port_supports_head_and_single_ranges(origin: OriginServer):
    entry = next(f for f in project_json(origin, "demo-lib")["files"] if f["size"] == 40_000)
    path = file_path(origin, entry["url"])
    full = fetch(origin.files_url, path).body
    head = fetch(origin.files_url, path, method="HEAD")
    assert head.status == 200 and head.headers["Content-Length"] == "40000" and head.body == b""
    part = fetch(origin.files_url, path, headers={"Range": "bytes=100-199"})
    assert part.status == 206 and part.body == full[100:200]
    assert part.headers["Content-Range"] == "bytes 100-199/40000"
    tail = fetch(origin.files_url, path, headers={"Range": "bytes=-10"})
    assert tail.status == 206 and tail.body == full[-10:]
    rest = fetch(origin.files_url, path, headers={"Range": "bytes=39990-"})
    assert rest.body == full[39990:]
    assert fetch(origin.files_url, path, headers={"Range": "bytes=50000-"}).status == 416


def test_same_spec_builds_the_same_bytes_in_a_fresh_cache(tmp_path: Path):
    release = Release("2.0", requires_python=">=3.8", requires_dist=("idna",))
    spec = ArtifactSpec("Same", "2.0", "cp312-cp312-win_amd64", 123_456, core_metadata("Same", release))
    sdist = ArtifactSpec("Same", "2.0", "sdist", None, core_metadata("Same", release))
    first = [ArtifactStore(tmp_path / "a").get(s) for s in (spec, sdist)]
    second = [ArtifactStore(tmp_path / "b").get(s) for s in (spec, sdist)]
    assert [a.sha256 for a in first] == [b.sha256 for b in second], "builds are not deterministic"
    assert first[0].size == 123_456, f"padded wheel size: expected 123456, got {first[0].size}"
    with zipfile.ZipFile(first[0].path) as wheel:
        assert wheel.testzip() is None
        assert "Tag: cp312-cp312-win_amd64" in wheel.read("same-2.0.dist-info/WHEEL").decode()
    with tarfile.open(first[1].path) as sdist_tar:
        names = sdist_tar.getnames()
    assert {"same-2.0/PKG-INFO", "same-2.0/pyproject.toml", "same-2.0/same/__init__.py"} <= set(names), names


# ---- mutations, serials and the changelog ------------------------------------------------------


def test_mutations_bump_serials_and_append_warehouse_style_changelog(origin: OriginServer):
    corpus = origin.corpus
    proxy = xmlrpc.client.ServerProxy(origin.xmlrpc_url)
    start = proxy.changelog_last_serial()
    assert start == corpus.serial
    corpus.add_release("helper-pkg", "1.1", files=["py3-none-any", "sdist"])
    corpus.yank("helper-pkg", "1.1", "broken build")
    corpus.remove_file("demo-lib", "demo_lib-1.0.tar.gz")
    corpus.touch("demo-lib")
    entries = changelog(origin, start)
    actions = [(e[0], e[1], e[3]) for e in entries]
    assert actions == [
        ("helper_pkg", "1.1", "new release"),
        ("helper_pkg", "1.1", "add py3 file helper_pkg-1.1-py3-none-any.whl"),
        ("helper_pkg", "1.1", "add source file helper_pkg-1.1.tar.gz"),
        ("helper_pkg", "1.1", "yank release"),
        ("Demo.Lib", "1.0", "remove file demo_lib-1.0.tar.gz"),
        ("Demo.Lib", None, "touch"),
    ], f"got {actions}"
    assert [e[4] for e in entries] == list(range(start + 1, start + 7)), "serials must be consecutive"
    assert proxy.changelog_last_serial() == start + 6
    helper = project_json(origin, "helper-pkg")
    assert helper["meta"]["_last-serial"] == start + 4
    yanked = {f["filename"]: f["yanked"] for f in helper["files"]}
    assert yanked["helper_pkg-1.1-py3-none-any.whl"] == "broken build", f"got {yanked}"
    assert 'data-yanked="broken build"' in fetch(origin.url, "/simple/helper-pkg/").body.decode()
    demo = project_json(origin, "demo-lib")
    assert "demo_lib-1.0.tar.gz" not in {f["filename"] for f in demo["files"]}
    assert demo["meta"]["_last-serial"] == start + 6


def test_removed_file_release_and_project_disappear_from_pages_and_the_files_port(origin: OriginServer):
    corpus = origin.corpus
    urls = {f["filename"]: f["url"] for f in project_json(origin, "demo-lib")["files"]}
    corpus.remove_release("demo-lib", "1.1")
    assert project_json(origin, "demo-lib")["versions"] == ["1.0"]
    gone = fetch(origin.files_url, file_path(origin, urls["demo_lib-1.1.tar.gz"]))
    assert gone.status == 404, f"a removed file should 404, got {gone.status}"
    corpus.yank("demo-lib", "1.0", "")
    assert project_json(origin, "demo-lib")["files"][0]["yanked"] is True, "a yank without reason is true"
    corpus.unyank("demo-lib", "1.0")
    assert project_json(origin, "demo-lib")["files"][0]["yanked"] is False
    corpus.remove_project("helper-pkg")
    root = fetch(origin.url, "/simple/", headers={"Accept": JSON_V1}).json()
    assert [p["name"] for p in root["projects"]] == ["Demo.Lib"]
    assert fetch(origin.url, "/simple/helper-pkg/").status == 404
    assert changelog(origin, corpus.serial - 1)[0][3] == "remove project"


def test_changelog_limit_caps_each_call_so_clients_must_page(cache: Path):
    with running_origin(build_small_corpus(cache), changelog_limit=3) as origin:
        everything = origin.corpus.changelog_since(0)
        collected: list[list[Any]] = []
        since, calls = 0, 0
        while True:
            page = changelog(origin, since)
            calls += 1
            assert len(page) <= 3, f"limit 3 exceeded: {len(page)} entries"
            if not page:
                break
            collected.extend(page)
            since = page[-1][4]
        assert collected == [e.as_list() for e in everything], "paging lost or reordered entries"
        assert calls == -(-len(everything) // 3) + 1, (
            f"expected ceil({len(everything)}/3)+1 calls, got {calls}"
        )
        assert origin.counters.total("xmlrpc") == calls


def test_noop_client_pattern_is_counted_as_exactly_one_request(origin: OriginServer):
    origin.reset_counters()
    serial = xmlrpc.client.ServerProxy(origin.xmlrpc_url).changelog_last_serial()
    assert serial == origin.corpus.serial
    records = origin.counters.records()
    assert len(records) == 1 and records[0].kind == "xmlrpc", origin.counters.summary()
    assert records[0].xmlrpc_method == "changelog_last_serial"


# ---- hostile data ------------------------------------------------------


def test_hostile_page_overrides_and_file_entries_are_served_verbatim(origin: OriginServer):
    corpus = origin.corpus
    before = corpus.serial
    bad = hostile_pages("demo-lib")["malformed_json"]
    corpus.override_page("demo-lib", json=bad["json"], html=bad["html"])
    assert corpus.serial == before + 1, "an override journals a touch so incremental clients look"
    assert fetch(origin.url, "/simple/demo-lib/", headers={"Accept": JSON_V1}).body == bad["json"]
    assert fetch(origin.url, "/simple/demo-lib/").body == bad["html"]
    corpus.override_page("..%2f..%2fevil", json=b'{"x": 1}')
    assert fetch(origin.url, "/simple/..%2f..%2fevil/", headers={"Accept": JSON_V1}).body == b'{"x": 1}'

    valid = project_json(origin, "helper-pkg")["files"][0]
    variants = hostile_file_entries(valid, origin.files_url)
    corpus.patch_file_entry("helper-pkg", valid["filename"], {"url": "file:///etc/passwd", "size": 0})
    for name in ("dotdot_filename", "nul_filename", "string_size", "encoded_dotdot_url"):
        corpus.add_raw_file_entry("helper-pkg", variants[name])
    served = project_json(origin, "helper-pkg")["files"]
    assert served[0]["url"] == "file:///etc/passwd" and served[0]["size"] == 0, served[0]
    assert served[1:] == [
        variants[n] for n in ("dotdot_filename", "nul_filename", "string_size", "encoded_dotdot_url")
    ]
    assert 'href="file:///etc/passwd#sha256=' in fetch(origin.url, "/simple/helper-pkg/").body.decode()
    corpus.add_raw_file("/packages/../../evil.whl", b"EVIL")
    assert fetch(origin.files_url, "/packages/../../evil.whl").body == b"EVIL"


def test_hostile_root_names_are_listed_verbatim_and_journaled(origin: OriginServer):
    names = hostile_project_names()
    before = origin.corpus.serial
    origin.corpus.add_root_names(names, bump=False)
    listed = [
        p["name"] for p in fetch(origin.url, "/simple/", headers={"Accept": JSON_V1}).json()["projects"]
    ]
    assert listed[-len(names) :] == names, f"expected the hostile names verbatim, got {listed[-len(names) :]}"
    assert origin.corpus.serial == before, "bump=False must not journal"
    origin.corpus.add_root_names(["../escape", "a" * 300])
    journal = [e[0] for e in changelog(origin, before)]
    assert journal == ["../escape", "a" * 300], f"raw names must reach the changelog, got {journal}"


def test_files_host_option_changes_the_hostname_in_file_urls(cache: Path):
    with running_origin(build_small_corpus(cache), files_host="localhost") as origin:
        url = project_json(origin, "helper-pkg")["files"][0]["url"]
        assert url.startswith(f"http://localhost:{origin.files_port}/packages/"), url
        assert (
            fetch(f"http://127.0.0.1:{origin.files_port}", url.split(str(origin.files_port))[1]).status == 200
        )


def test_huge_synthetic_root_index_is_served_without_building_files(tmp_path: Path):
    corpus = Corpus(tmp_path / "cache")
    corpus.set_synthetic_root(100_000)
    with running_origin(corpus) as origin:
        started = time.monotonic()
        doc = fetch(origin.url, "/simple/", headers={"Accept": JSON_V1}, timeout=30).json()
        elapsed = time.monotonic() - started
    assert len(doc["projects"]) == 100_000 and elapsed < 10, f"{len(doc['projects'])} names in {elapsed:.1f}s"
    assert not any((tmp_path / "cache").iterdir()), "no file should be built for the synthetic root"


# ---- faults ------------------------------------------------------


@pytest.fixture
def big_file(origin: OriginServer) -> dict[str, Any]:
    return next(f for f in project_json(origin, "demo-lib")["files"] if f["size"] == 40_000)


def test_status_faults_fire_for_the_first_n_matching_requests_then_stop(origin: OriginServer, big_file):
    path = file_path(origin, big_file["url"])
    rule = origin.faults.add("http_503", first_n=2, on=("file",))
    statuses = [fetch(origin.files_url, path).status for _ in range(3)]
    assert statuses == [503, 503, 200], f"got {statuses}"
    assert rule.fired == 2
    assert fetch(origin.url, "/simple/demo-lib/").status == 200, "project pages are not in on=('file',)"
    assert [r.fault for r in origin.counters.records("file")] == ["http_503", "http_503", None]


def test_429_carries_retry_after(origin: OriginServer, big_file):
    origin.faults.add("http_429", retry_after=2, path=r"\.whl$")
    reply = fetch(origin.files_url, file_path(origin, big_file["url"]))
    assert (reply.status, reply.headers["Retry-After"]) == (429, "2")


def test_connection_reset_aborts_the_response(origin: OriginServer, big_file):
    origin.faults.add("reset", first_n=1)
    with pytest.raises(ConnectionError):
        fetch(origin.files_url, file_path(origin, big_file["url"]))
    origin.faults.add("reset", first_n=1, after_bytes=1000, on=("file",))
    with pytest.raises((ConnectionError, http.client.IncompleteRead)):
        fetch(origin.files_url, file_path(origin, big_file["url"]))
    assert fetch(origin.files_url, file_path(origin, big_file["url"])).status == 200


def test_stall_outlasts_the_client_timeout_and_stop_interrupts_it(cache: Path):
    with running_origin(build_small_corpus(cache)) as origin:
        origin.faults.add("timeout", stall_s=60, on=("root",))
        with pytest.raises(TimeoutError):
            fetch(origin.url, "/simple/", timeout=0.5)
        started = time.monotonic()
    assert time.monotonic() - started < 5, "stop() must interrupt a stalled response"


def test_truncated_and_wrong_length_bodies_are_incomplete(origin: OriginServer, big_file):
    path = file_path(origin, big_file["url"])
    for kind in ("truncate", "wrong_length"):
        origin.faults.clear()
        origin.faults.add(kind, first_n=1)
        with pytest.raises(http.client.IncompleteRead):
            fetch(origin.files_url, path)
    origin.faults.clear()
    origin.faults.add("wrong_length", first_n=1, length_delta=-100)
    short = fetch(origin.files_url, path)
    assert len(short.body) == 40_000 - 100, "a short Content-Length makes the client read fewer bytes"


def test_corrupted_bytes_keep_the_length_but_break_the_hash(origin: OriginServer, big_file):
    origin.faults.add("corrupt", first_n=1, corrupt_bytes=3)
    reply = fetch(origin.files_url, file_path(origin, big_file["url"]))
    assert reply.status == 200 and len(reply.body) == big_file["size"]
    assert hashlib.sha256(reply.body).hexdigest() != big_file["hashes"]["sha256"]


def test_bad_metadata_differs_from_its_announced_hash_but_stays_parseable(origin: OriginServer, big_file):
    origin.faults.add("bad_metadata")
    meta = fetch(origin.files_url, file_path(origin, big_file["url"]) + ".metadata")
    assert hashlib.sha256(meta.body).hexdigest() != big_file["core-metadata"]["sha256"]
    assert meta.body.startswith(b"Metadata-Version: 2.1") and b"(tampered)" in meta.body
    wheel = fetch(origin.files_url, file_path(origin, big_file["url"]))
    assert hashlib.sha256(wheel.body).hexdigest() == big_file["hashes"]["sha256"], (
        "bad_metadata hits .metadata only"
    )


def test_slow_origin_caps_bandwidth(origin: OriginServer, big_file):
    origin.faults.add("slow", bandwidth=100_000, on=("file",))
    started = time.monotonic()
    reply = fetch(origin.files_url, file_path(origin, big_file["url"]))
    elapsed = time.monotonic() - started
    assert len(reply.body) == 40_000 and elapsed >= 0.3, f"40 KB at 100 KB/s took {elapsed:.2f}s"


def test_fault_rates_are_seeded_and_deterministic_per_path(cache: Path):
    def outcomes(seed: int) -> list[int]:
        with running_origin(build_small_corpus(cache), seed=seed) as origin:
            origin.faults.add(("http_500", "http_502"), rate=0.3, on=("project", "root"))
            return [
                fetch(origin.url, p).status
                for p in ["/simple/", "/simple/demo-lib/", "/simple/helper-pkg/"] * 20
            ]

    first, again, other = outcomes(7), outcomes(7), outcomes(8)
    assert first == again, "the same seed must give the same faults"
    assert first != other, "a different seed should give different faults"
    failures = sum(s != 200 for s in first)
    assert 6 <= failures <= 36 and {500, 502} <= set(first), f"rate 0.3 of 60: got {failures} ({set(first)})"


def test_mixed_faults_under_concurrency_never_serve_bad_bytes_without_recording_a_fault(origin: OriginServer):
    from concurrent.futures import ThreadPoolExecutor

    files = project_json(origin, "demo-lib")["files"]
    origin.reset_counters()
    origin.faults.add(
        ("http_500", "http_503", "reset", "truncate", "wrong_length", "corrupt"), rate=0.3, on=("file",)
    )

    def attempt(entry: dict[str, Any]) -> bool:
        try:
            reply = fetch(origin.files_url, file_path(origin, entry["url"]), timeout=5)
        except (ConnectionError, http.client.IncompleteRead):
            return False
        return reply.status == 200 and hashlib.sha256(reply.body).hexdigest() == entry["hashes"]["sha256"]

    with ThreadPoolExecutor(max_workers=12) as pool:
        good = list(pool.map(attempt, files * 20))
    records = origin.counters.records("file")
    faulted = sum(r.fault is not None for r in records)
    assert len(records) == len(good) == 100, origin.counters.summary()
    assert good.count(False) == faulted, f"{good.count(False)} bad responses but {faulted} recorded faults"
    assert 10 <= faulted <= 50, f"rate 0.3 of 100 requests fired {faulted} times"


def test_unknown_fault_kind_is_rejected_with_the_valid_choices(origin: OriginServer):
    with pytest.raises(ValueError, match="unknown fault kind"):
        origin.faults.add("explode")


# ---- corpora, real installers, separate process ------------------------------------------------------


def test_generated_corpus_is_deterministic_with_a_long_tail_of_sizes(tmp_path: Path):
    first = generate_corpus(40, seed=3, max_size=5_000_000, cache_dir=tmp_path)
    second = generate_corpus(40, seed=3, max_size=5_000_000, cache_dir=tmp_path)
    assert first.to_spec() == second.to_spec()
    sizes = [s.size for s in first.all_specs() if s.size]
    assert len(first.projects) == 40 and len(sizes) >= 60, (
        f"{len(first.projects)} projects, {len(sizes)} files"
    )
    small = sum(5_000 <= s <= 1_000_000 for s in sizes)
    assert small / len(sizes) > 0.8 and max(sizes) <= 5_000_000, f"size mix off: {sorted(sizes)[-5:]}"
    assert any(r.requires_dist for p in first.projects.values() for r in p.releases.values())


def _isolated_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(PIP_CONFIG_FILE="/dev/null", PIP_DISABLE_PIP_VERSION_CHECK="1", HOME=str(tmp_path))
    return env


@pytest.mark.slow
def test_real_pip_installs_a_generated_wheel_and_sdist_offline(origin: OriginServer, tmp_path: Path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    wheel = origin.corpus.store.get(
        next(s for s in origin.corpus.all_specs() if s.filename == "helper_pkg-1.0-py3-none-any.whl")
    )
    links = tmp_path / "links"
    links.mkdir()
    (links / wheel.spec.filename).write_bytes(wheel.path.read_bytes())
    pip = [sys.executable, "-m", "pip", "--isolated", "--python", str(python), "install", "--no-cache-dir"]
    env = _isolated_env(tmp_path)
    done = subprocess.run(
        [*pip, "--no-index", "--find-links", str(links), "helper-pkg"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"pip install from --find-links failed:\n{done.stdout}\n{done.stderr}"
    # The sdist of demo-lib 1.0 builds with its in-tree stdlib backend, from the origin's index itself.
    done = subprocess.run(
        [*pip, "--index-url", origin.simple_url, "--no-binary", "demo-lib", "demo-lib==1.0"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, (
        f"pip install of the sdist from the origin failed:\n{done.stdout}\n{done.stderr}"
    )
    check = subprocess.run(
        [str(python), "-c", "import helper_pkg, demo_lib; print(demo_lib.__version__)"],
        capture_output=True,
        text=True,
    )
    assert check.stdout.strip() == "1.0", (
        f"expected demo_lib 1.0 importable, got {check.stdout}{check.stderr}"
    )


@pytest.mark.slow
def test_uv_installs_from_the_origin_with_dependencies_and_pep658_metadata(
    origin: OriginServer, tmp_path: Path
):
    uv = Path(sys.executable).parent / "uv"
    env = _isolated_env(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run(
        [str(uv), "venv", "--no-config", "--python", sys.executable, str(venv)],
        env=env,
        check=True,
        capture_output=True,
    )
    done = subprocess.run(
        [
            str(uv),
            "pip",
            "install",
            "--no-config",
            "--no-cache",
            "--python",
            str(venv / "bin" / "python"),
            "--index-url",
            origin.simple_url,
            "demo-lib==1.1",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"uv pip install failed:\n{done.stdout}\n{done.stderr}"
    assert origin.counters.total("metadata") >= 1, (
        f"uv should use PEP 658 metadata: {origin.counters.summary()}"
    )
    check = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import demo_lib, helper_pkg; print('ok')"],
        capture_output=True,
        text=True,
    )
    assert check.stdout.strip() == "ok", check.stderr


@pytest.mark.slow
def test_runs_as_a_separate_process_with_a_control_api(tmp_path: Path, cache: Path):
    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "generate": {"n_projects": 5, "seed": 1, "max_size": 200_000},
                "projects": [{"name": "extra", "releases": [{"version": "1.0"}]}],
            }
        )
    )
    script = Path(__file__).resolve().parent / "fakeorigin"
    process = subprocess.Popen(
        [
            sys.executable,
            str(script),
            "--corpus-spec",
            str(spec),
            "--port",
            "0",
            "--files-port",
            "0",
            "--state-dir",
            str(tmp_path / "state"),
            "--cache-dir",
            str(cache),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        assert ready["projects"] == 6 and ready["bytes"] > 0, ready
        root = fetch(ready["url"], "/simple/", headers={"Accept": JSON_V1}).json()
        assert len(root["projects"]) == 6
        mutate = json.dumps({"op": "touch", "args": ["extra"]}).encode()
        reply = _post(ready["url"], "/_fakeorigin/mutate", mutate)
        assert reply["serial"] == ready["serial"] + 1, reply
        counters = json.loads(fetch(ready["url"], "/_fakeorigin/counters").body)
        assert counters["by_kind"] == {"root": 1}, f"control requests must not be counted: {counters}"
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert process.returncode == 0


def _post(base: str, path: str, body: bytes) -> Any:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


# ---- the moto server helper ------------------------------------------------------


@pytest.mark.moto
def test_moto_server_starts_answers_resets_and_is_terminated_even_on_failure():
    try:
        from support.motoserver import SECRET_ACCESS_KEY, moto_server
    except ImportError:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from support.motoserver import SECRET_ACCESS_KEY, moto_server

    with pytest.raises(RuntimeError, match="boom"), moto_server() as moto:
        process = moto.process
        assert moto.make_bucket("cloudpypi-test") == "s3://cloudpypi-test"
        names = [b["Name"] for b in moto.client("s3").list_buckets()["Buckets"]]
        assert names == ["cloudpypi-test"], f"expected the new bucket, got {names}"
        moto.reset()
        assert moto.client("s3").list_buckets()["Buckets"] == [], "reset must drop every bucket"
        env = moto.env({"AWS_PROFILE": "prod"})
        assert env["AWS_ENDPOINT_URL"] == moto.url and "AWS_PROFILE" not in env
        assert len(env["AWS_SECRET_ACCESS_KEY"]) > 20 and env["AWS_SECRET_ACCESS_KEY"] == SECRET_ACCESS_KEY
        raise RuntimeError("boom")
    assert process.poll() is not None, "moto_server must be terminated when the block fails"
