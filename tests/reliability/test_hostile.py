"""Hostile input from the origin: traversal in filenames and URLs, other schemes, hosts outside the
allowlist, over-long names, malformed pages, wrong types, bad sizes, duplicates, a huge root index.

Outcome every time: nothing is written outside the target (the directory tree around it is
snapshotted before and after), the hostile project is reported failed, and the rest of the run goes
on and succeeds."""

from __future__ import annotations

import functools
import gzip
import json
import subprocess
import threading
import time
import urllib.error
import urllib.request
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from support.fakeorigin import Corpus, hostile_file_entries, hostile_pages, running_origin

from .checker import assert_mirror_consistent
from .harness import Cli, SyncResult, known_good, record
from .mirrorview import FolderView

GOOD = ("good-one", "good-two")
RSS_LIMIT_KB = 150 * 1024


class Sandbox:
    """A target nested inside a tree of sentinel files; `changes()` lists anything created outside it."""

    def __init__(self, tmp: Path) -> None:
        self.area = tmp / "area"
        self.target = self.area / "a" / "b" / "mirror"
        (self.area / "sentinel" / "deep").mkdir(parents=True)
        (self.area / "sentinel" / "deep" / "keep.txt").write_text("sentinel\n")
        self.target.mkdir(parents=True)  # created first, so its parent's mtime is part of the snapshot
        self.watched = [Path("/tmp/evil.whl"), Path("/etc/evil.whl"), Path("/evil.whl"), Path("/tmp/passwd")]
        assert not any(p.exists() for p in self.watched), "a leftover evil file exists before the test"
        self.before = self._snapshot()

    def _snapshot(self) -> dict[str, tuple[int, int]]:
        found = {}
        for path in self.area.rglob("*"):
            if path == self.target or self.target in path.parents:
                continue
            stat = path.lstat()
            found[str(path.relative_to(self.area))] = (stat.st_size, stat.st_mtime_ns)
        return found

    def assert_nothing_outside(self) -> None:
        after = self._snapshot()
        assert after == self.before, (
            f"expected nothing written outside the target; created {sorted(after.keys() - self.before.keys())}, "
            f"changed {sorted(k for k in after.keys() & self.before.keys() if after[k] != self.before[k])}")
        escaped = [p for p in self.watched if p.exists()]
        assert not escaped, f"expected no file written at well-known absolute paths, got {escaped}"
        evil = [k for k in FolderView(self.target).keys() if "evil" in k or "passwd" in k]
        assert not evil, f"expected no hostile file inside the target either, got {evil}"


def _base_corpus() -> Corpus:
    corpus = Corpus()
    for name in GOOD:
        corpus.add_project(name, [{"version": "1.0", "files": ["py3-none-any", "sdist"]}])
    return corpus


def _json_entries(origin_url: str, project: str) -> list[dict[str, Any]]:
    request = urllib.request.Request(f"{origin_url}/simple/{project}/",
                                     headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["files"]


def _assert_rest_succeeds(result: SyncResult, sandbox: Sandbox, corpus: Corpus, hostile: set[str]) -> None:
    assert result.returncode == 1, f"expected exit 1 with the hostile projects failed, got {result.describe()}"
    assert result.failed_projects == hostile, (
        f"expected exactly the hostile projects failed: missing {sorted(hostile - result.failed_projects)}, "
        f"unexpected {sorted(result.failed_projects - hostile)}")
    for name in hostile:
        assert name in result.stdout, f"expected {name} named in the summary, got {result.stdout}"
    sandbox.assert_nothing_outside()
    summary = assert_mirror_consistent(FolderView(sandbox.target), known_good=known_good(corpus))
    assert set(GOOD) <= summary.projects, f"expected the good projects synced, got {summary.projects}"
    good_keys = {k for k in known_good(corpus) if any(g.replace("-", "_") in k for g in GOOD)}
    assert good_keys <= set(summary.files), "expected every good file stored"


def test_hostile_json_file_entries_fail_their_project_alone(cli: Cli, tmp_path: Path) -> None:
    sandbox = Sandbox(tmp_path)
    corpus = _base_corpus()
    corpus.add_project("template", [{"version": "1.0", "files": ["py3-none-any"]}])
    with running_origin(corpus) as origin:
        template = _json_entries(origin.url, "template")[0]
        variants = hostile_file_entries(template, origin.files_url)
        for variant, entry in variants.items():
            name = "h-" + variant.replace("_", "-")
            corpus.add_project(name, [{"version": "1.0", "files": ["py3-none-any"]}])
            corpus.add_raw_file_entry(name, entry)
        result = cli.sync(origin.url, str(sandbox.target), config=cli.config({"retries": 1}))
    record("hostile", case="json_file_entries", variants=sorted(variants), exit=result.returncode,
           failed=len(result.failed_projects))
    # a file announced at 50 TiB is over [mirror] max_file_size: skipped and reported, not a failure
    _assert_rest_succeeds(result, sandbox, corpus, {"h-" + v.replace("_", "-") for v in variants} - {"h-huge-size"})
    skipped = [(s["project"], s["size"]) for s in result.report["skipped"]]  # type: ignore[index]
    assert skipped == [("h-huge-size", 50 * 1024**4)], f"expected the 50 TiB entry skipped and reported, got {skipped}"


def test_hostile_html_links_fail_their_project_alone(cli: Cli, tmp_path: Path) -> None:
    sandbox = Sandbox(tmp_path)
    corpus = _base_corpus()
    with running_origin(corpus, html_only=True) as origin:
        files = origin.files_url
        patches: dict[str, dict[str, Any]] = {
            "dotdot-filename": {"filename": "../../evil.whl", "url": f"{files}/packages/../../evil.whl"},
            "absolute-filename": {"filename": "/tmp/evil.whl"},
            "encoded-dotdot-url": {"url": f"{files}/packages/%2e%2e/%2e%2e/%2e%2e/evil.whl"},
            "double-encoded-dotdot-url": {"url": f"{files}/packages/%252e%252e/%252e%252e/evil.whl"},
            "backslash-url": {"url": f"{files}/packages/..\\..\\evil.whl"},
            "nul-filename": {"filename": "evil\x00.whl"},
            "file-scheme": {"url": "file:///etc/passwd"},
            "javascript-scheme": {"url": "javascript:alert(1)"},
            "data-scheme": {"url": "data:application/zip;base64,UEsFBg=="},
            "foreign-host": {"url": "http://evil.example.com:8080/packages/aa/bb/cc/evil.whl"},
            "long-filename": {"filename": "e" * 300 + ".whl"},
        }
        for suffix, fields in patches.items():
            name = f"h-{suffix}"
            corpus.add_project(name, [{"version": "1.0", "files": ["py3-none-any"]}])
            filename = next(iter(next(iter(corpus.project(name).releases.values())).files))
            corpus.patch_file_entry(name, filename, fields)
        for page, body in hostile_pages().items():
            if "html" in body:
                name = "p-" + page.replace("_", "-")
                corpus.add_project(name)
                corpus.override_page(name, html=body["html"])
        hostile = {f"h-{s}" for s in patches} | {"p-malformed-json", "p-binary-garbage", "p-html-unclosed",
                                                "p-html-traversal-href"}  # the first and third are truncated
        result = cli.sync(origin.url, str(sandbox.target), config=cli.config({"retries": 1}))
    record("hostile", case="html_links", variants=sorted(hostile), exit=result.returncode)
    _assert_rest_succeeds(result, sandbox, corpus, hostile)


def test_malformed_json_pages_fail_their_project_with_a_clear_reason(cli: Cli, tmp_path: Path) -> None:
    sandbox = Sandbox(tmp_path)
    corpus = _base_corpus()
    expected_ok = {"json_missing_meta"}  # a valid page with no files: a project with nothing to mirror
    with running_origin(corpus) as origin:
        pages = {page: body for page, body in hostile_pages().items() if "json" in body}
        for page in pages:
            name = "p-" + page.replace("_", "-")
            corpus.add_project(name)
            corpus.override_page(name, json=hostile_pages(name)[page]["json"])
        corpus.add_project("p-wrong-types", [{"version": "1.0", "files": ["py3-none-any"]}])
        corpus.override_page("p-wrong-types", json=json.dumps({"meta": {"api-version": "1.1", "_last-serial": "x"},
                                                               "name": "p-wrong-types", "files": []}))
        result = cli.sync(origin.url, str(sandbox.target), config=cli.config({"retries": 1}))
    hostile = {"p-" + p.replace("_", "-") for p in pages if p not in expected_ok} | {"p-wrong-types"}
    _assert_rest_succeeds(result, sandbox, corpus, hostile)
    reasons = {f["project"]: f["reason"] for f in result.report["failures"]}  # type: ignore[index]
    assert "not valid JSON" in reasons["p-malformed-json"], reasons
    assert "something-else" in reasons["p-json-name-mismatch"], reasons
    assert "api-version" in reasons["p-json-api-version-2"], (
        f"expected a page of an unknown major API version refused, got {reasons.get('p-json-api-version-2')}")


def test_size_lies_and_duplicates_fail_their_project_alone_an_over_cap_file_is_skipped(
    cli: Cli, tmp_path: Path
) -> None:
    sandbox = Sandbox(tmp_path)
    corpus = _base_corpus()
    corpus.add_project("h-over-cap", [{"version": "1.0", "files": [("py3-none-any", 300_000)]}])
    corpus.add_project("h-size-lie", [{"version": "1.0", "files": [("py3-none-any", 60_000)]}])
    corpus.add_project("h-duplicate", [{"version": "1.0", "files": ["py3-none-any"]}])
    with running_origin(corpus) as origin:
        lie = _json_entries(origin.url, "h-size-lie")[0]
        corpus.patch_file_entry("h-size-lie", lie["filename"], {"size": lie["size"] - 10_000})
        corpus.add_raw_file_entry("h-duplicate", _json_entries(origin.url, "h-duplicate")[0])
        result = cli.sync(origin.url, str(sandbox.target), config=cli.config({"retries": 1, "max_file_size": "100KB"}))
    _assert_rest_succeeds(result, sandbox, corpus, {"h-size-lie", "h-duplicate"})
    reasons = {f["project"]: f["reason"] for f in result.report["failures"]}  # type: ignore[index]
    assert "twice" in reasons["h-duplicate"], reasons
    skipped = [(s["project"], s["size"]) for s in result.report["skipped"]]  # type: ignore[index]
    assert skipped == [("h-over-cap", 300_000)], f"expected the over-cap file skipped and reported, got {skipped}"
    page = json.loads((sandbox.target / "simple" / "h-over-cap" / "index.v1_json").read_text())
    assert page["files"] == [], f"expected the page to list only what is mirrored, got {page['files']}"
    stored = set(FolderView(sandbox.target).keys("packages/"))
    assert not any("h_over_cap" in k or "h_size_lie-" in k for k in stored), f"expected no rejected file, got {stored}"


def test_allowlist_is_by_hostname_any_port_and_config_extends_it(cli: Cli, tmp_path: Path) -> None:
    corpus = _base_corpus()
    with running_origin(corpus) as origin:
        entry = _json_entries(origin.url, "good-one")[0]
        aliased = entry["url"].replace("127.0.0.1", "localhost")
        corpus.patch_file_entry("good-one", entry["filename"], {"url": aliased})
        refused = cli.sync(origin.url, str(tmp_path / "refused"))
        allowed = cli.sync(origin.url, str(tmp_path / "allowed"), config=cli.config({"allowed_hosts": ["LocalHost"]}))
    assert refused.returncode == 1 and refused.failed_projects == {"good-one"}, refused.describe()
    assert "not allowed" in refused.stdout and "allowed_hosts" in refused.stdout, refused.stdout
    assert allowed.returncode == 0, f"expected [mirror] allowed_hosts to admit localhost, got {allowed.describe()}"
    assert_mirror_consistent(FolderView(tmp_path / "allowed"), known_good=known_good(corpus))


def test_hostile_project_names_in_root_changelog_and_cli_are_refused(cli: Cli, tmp_path: Path) -> None:
    sandbox = Sandbox(tmp_path)
    corpus = _base_corpus()
    names = ["../evil", "..", "%2e%2e", "a/b", "evil\\x", "x" * 300, ".hidden", "/etc", "-dash", "evil\x00"]
    with running_origin(corpus) as origin:
        first = cli.sync(origin.url, str(sandbox.target))
        assert first.returncode == 0, first.describe()
        corpus.add_root_names(names, bump=False)
        for name in names[:-1]:
            corpus.add_raw_changelog(name, "1.0", "new release")
        incremental = cli.sync(origin.url, str(sandbox.target))
        corpus.add_raw_changelog(names[-1], "1.0", "new release")  # NUL: not even valid XML
        broken_changelog = cli.sync(origin.url, str(sandbox.target))
        full = cli.sync(origin.url, str(sandbox.target), extra=["--full"])
        by_flag = cli.sync(origin.url, str(sandbox.target), extra=["--project", "../evil"])
    assert incremental.returncode == 0 and incremental.report["mode"] == "changelog", (  # type: ignore[index]
        f"expected invalid changelog names skipped and the run to go on, got {incremental.describe()}")
    assert full.returncode == 0 and full.report["mode"] == "root-index", (  # type: ignore[index]
        f"expected invalid root-index names skipped and the run to go on, got {full.describe()}")
    fell_back = broken_changelog.report and broken_changelog.report["mode"] == "root-index"
    assert broken_changelog.returncode == 0 and fell_back, (
        f"expected a malformed XML-RPC answer to make the run use the root index, got {broken_changelog.describe()}")
    assert "changelog is unusable" in broken_changelog.stderr and "XML-RPC" in broken_changelog.stderr, (
        f"expected a warning naming the unusable changelog, got {broken_changelog.describe()}")
    assert by_flag.returncode in (1, 2) and "../evil" in by_flag.stderr, by_flag.describe()  # refused as usage
    sandbox.assert_nothing_outside()
    summary = assert_mirror_consistent(FolderView(sandbox.target), known_good=known_good(corpus))
    assert summary.projects == set(GOOD), f"expected only the good projects, got {summary.projects}"


def test_symlink_planted_in_the_target_does_not_redirect_writes_outside(cli: Cli, tmp_path: Path) -> None:
    sandbox = Sandbox(tmp_path)
    corpus = _base_corpus()
    outside = sandbox.area / "sentinel" / "deep"
    (sandbox.target / "packages").symlink_to(outside, target_is_directory=True)
    sandbox.before = sandbox._snapshot()
    with running_origin(corpus) as origin:
        result = cli.sync(origin.url, str(sandbox.target))
    assert result.returncode != 0, f"expected the run to refuse writing through the symlink, got {result.describe()}"
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"], f"wrote outside: {list(outside.iterdir())}"
    sandbox.assert_nothing_outside()


def test_symlink_as_the_last_path_component_is_refused_for_reads_and_writes(cli: Cli, tmp_path: Path) -> None:
    from cloudpypi.errors import StorageError
    from cloudpypi.storage.folder import FolderStorage

    sandbox = Sandbox(tmp_path)
    corpus = _base_corpus()
    with running_origin(corpus) as origin:
        assert cli.sync(origin.url, str(sandbox.target)).returncode == 0
        secret = sandbox.area / "sentinel" / "deep" / "keep.txt"
        page = sandbox.target / "simple" / "good-one" / "index.html"
        page.unlink()
        page.symlink_to(secret)  # the page itself is a link to a file outside the mirror
        sandbox.before = sandbox._snapshot()
        storage = FolderStorage(sandbox.target)
        key = "simple/good-one/index.html"
        for name, attempt in {
            "read": lambda: storage.read_bytes(key),
            "stat": lambda: storage.stat(key),
            "write": lambda: storage.write_bytes(key, b"<html>overwritten</html>", content_type="text/html"),
        }.items():
            with pytest.raises(StorageError, match="symlink"):
                attempt()
                pytest.fail(f"expected {name} of a symlinked object refused")
        assert page.is_symlink() and secret.read_text() == "sentinel\n", "expected the link and its target untouched"
        corpus.touch("good-one")
        result = cli.sync(origin.url, str(sandbox.target), extra=["--project", "good-one"])
    assert result.returncode == 1 and "symlink" in result.stdout, (
        f"expected the sync to refuse writing over the planted link, got {result.describe()}")
    assert secret.read_text() == "sentinel\n", "expected the file outside the mirror unchanged"
    sandbox.assert_nothing_outside()


# ru_maxrss of a child is useless here: Linux carries the parent's high-water mark across fork and exec
# (and this test process holds the origin's 100,000-entry root).  The child reports its own VmHWM instead.
HWM_WRAPPER = """
import atexit, os, runpy, sys
def _report():
    with open("/proc/self/status") as status, open(os.environ["HWM_FILE"], "w") as out:
        out.write(next(line for line in status if line.startswith("VmHWM:")).split()[1])
atexit.register(_report)
sys.argv = ["cloudpypi", *sys.argv[1:]]
runpy.run_module("cloudpypi", run_name="__main__", alter_sys=True)
"""


def test_huge_root_index_of_100000_projects_keeps_memory_bounded(cli: Cli, tmp_path: Path) -> None:
    corpus = _base_corpus()
    corpus.set_synthetic_root(100_000)
    config = cli.config(filters={"block_regex": ["synthetic-project-.*"]})  # no 100,000 page fetches
    hwm = tmp_path / "vmhwm-kb"
    with running_origin(corpus) as origin:
        argv = cli.argv(origin.url, str(tmp_path / "mirror"), config, tmp_path / "huge.json")
        argv[1:3] = ["-c", HWM_WRAPPER]  # python -c WRAPPER sync ... instead of python -m cloudpypi sync ...
        started = time.monotonic()
        proc = subprocess.run(argv, env={**cli.env, "HWM_FILE": str(hwm)}, capture_output=True, text=True,
                              timeout=300)
        elapsed = time.monotonic() - started
        root_requests = origin.counters.total("root")
        walked = origin.counters.total("project")
    assert proc.returncode == 0, f"expected the huge root handled, got exit {proc.returncode}: {proc.stderr[-2000:]}"
    peak_kb = int(hwm.read_text())
    record("huge_root", projects=100_000, peak_rss_mb=round(peak_kb / 1024, 1), seconds=round(elapsed, 1))
    assert root_requests == 1 and walked == len(GOOD), (
        f"expected one root fetch and only the good projects' pages, got {root_requests} and {walked}")
    assert peak_kb < RSS_LIMIT_KB, f"expected peak RSS under 150 MB, got {peak_kb / 1024:.0f} MB"
    summary = assert_mirror_consistent(FolderView(tmp_path / "mirror"), known_good=known_good(corpus))
    assert summary.projects == set(GOOD), summary.projects


@pytest.mark.parametrize("body", [b'{"meta": {"_last-serial": 5}, "projects": [', b"\x00\xff" * 100])
def test_malformed_root_index_fails_the_run_with_a_clear_error(cli: Cli, tmp_path: Path, body: bytes) -> None:
    corpus = _base_corpus()
    corpus.override_root(json=body, html=body)
    with running_origin(corpus, static=True) as origin:
        result = cli.sync(origin.url, str(tmp_path / "mirror"))
    assert result.returncode == 1, f"expected exit 1 on a malformed root index, got {result.describe()}"
    assert "root index" in result.stderr + result.stdout, f"expected the root index named: {result.describe()}"
    assert not (tmp_path / "mirror" / "simple" / "index.html").exists(), "expected no root index written"


BOMB_DECODED = 100_000_000


@functools.cache
def _gzip_bomb() -> bytes:
    return gzip.compress(b'{"meta":{"api-version":"1.1"},"name":"bomb","files":[],"pad":"' + b"a" * BOMB_DECODED
                         + b'"}', 9)


class _BombHandler(BaseHTTPRequestHandler):
    """A one-project origin whose project page is a gzip bomb: ~100 KB on the wire, 100 MB decoded."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    def _send(self, status: int, body: bytes, **headers: str) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        page_type = "application/vnd.pypi.simple.v1+json"
        if self.path == "/simple/":
            root = {"meta": {"api-version": "1.1", "_last-serial": 1}, "projects": [{"name": "bomb"}]}
            self._send(200, json.dumps(root).encode(), Content_Type=page_type)
        elif self.path == "/simple/bomb/":
            self._send(200, _gzip_bomb(), Content_Type=page_type, Content_Encoding="gzip")
        else:
            self._send(404, b"")

    def do_POST(self) -> None:  # no XML-RPC: a static origin
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._send(404, b"")


def test_gzip_bomb_project_page_keeps_memory_under_150_mb(cli: Cli, tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BombHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    hwm = tmp_path / "vmhwm-kb"
    try:
        argv = cli.argv(f"http://127.0.0.1:{server.server_address[1]}", str(tmp_path / "mirror"), None, None)
        argv[1:3] = ["-c", HWM_WRAPPER]
        proc = subprocess.run(argv, env={**cli.env, "HWM_FILE": str(hwm)}, capture_output=True, text=True,
                              timeout=300)
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode in (0, 1), f"expected the bomb handled as a page or a failure, got {proc.stderr[-1000:]}"
    peak_kb = int(hwm.read_text())
    record("gzip_bomb", wire_bytes=len(_gzip_bomb()), decoded_bytes=BOMB_DECODED,
           peak_rss_mb=round(peak_kb / 1024, 1))
    assert peak_kb < RSS_LIMIT_KB, f"expected peak RSS under 150 MB, got {peak_kb / 1024:.0f} MB"


CHANGELOG_BOMB_DECODED = 2**30  # 1 GiB of XML-RPC string content, about 1 MB gzipped


@functools.cache
def _changelog_bomb() -> bytes:
    """A methodResponse whose one string is 1 GiB long, gzipped (built in pieces: never 1 GiB in memory)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: a gzip stream
    parts = [packer.compress(b"<?xml version='1.0'?>\n<methodResponse><params><param><value><string>")]
    block = b"A" * (16 * 2**20)
    parts += [packer.compress(block) for _ in range(CHANGELOG_BOMB_DECODED // len(block))]
    parts.append(packer.compress(b"</string></value></param></params></methodResponse>\n") + packer.flush())
    return b"".join(parts)


class _ChangelogBombProxy(BaseHTTPRequestHandler):
    """The fake origin's pages as they are, but every XML-RPC call answered with the gzip bomb."""

    protocol_version = "HTTP/1.1"
    upstream = ""

    def log_message(self, format: str, *args: object) -> None:
        return

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        request = urllib.request.Request(self.upstream + self.path, headers={"Accept": self.headers.get("Accept", "")})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                keep = {k: v for k, v in answer.headers.items() if k.lower() in ("content-type", "x-pypi-last-serial")}
                self._send(answer.status, answer.read(), keep)
        except urllib.error.HTTPError as error:
            self._send(error.code, b"", {})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._send(200, _changelog_bomb(), {"Content-Type": "text/xml", "Content-Encoding": "gzip"})


def test_gzip_bomb_on_the_changelog_is_capped_the_run_ends_and_the_mirror_stays_whole(cli: Cli, tmp_path: Path) -> None:
    bomb = _changelog_bomb()
    assert len(bomb) < 2 * 2**20, f"expected a bomb of about 1 MB on the wire, got {len(bomb)} bytes"
    corpus = _base_corpus()
    hwm = tmp_path / "vmhwm-kb"
    with running_origin(corpus) as origin:
        handler = type("Proxy", (_ChangelogBombProxy,), {"upstream": origin.url})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            bombing = f"http://127.0.0.1:{server.server_address[1]}"
            argv = cli.argv(bombing, str(tmp_path / "mirror"), cli.config({"allowed_hosts": ["127.0.0.1"]}), None)
            argv[1:3] = ["-c", HWM_WRAPPER]
            proc = subprocess.run(argv, env={**cli.env, "HWM_FILE": str(hwm)}, capture_output=True, text=True,
                                  timeout=300)
        finally:
            server.shutdown()
            server.server_close()
    peak_kb = int(hwm.read_text())
    record("changelog_gzip_bomb", wire_bytes=len(bomb), decoded_bytes=CHANGELOG_BOMB_DECODED,
           peak_rss_mb=round(peak_kb / 1024, 1))
    assert proc.returncode == 0, f"expected the run to fall back to the root index and succeed: {proc.stderr[-2000:]}"
    assert f"XML-RPC changelog_last_serial answer from {bombing}/pypi is larger than" in proc.stderr, proc.stderr
    assert "max_xmlrpc_size" in proc.stderr, f"expected the cap's setting named, got {proc.stderr[-1000:]}"
    assert peak_kb < RSS_LIMIT_KB, f"expected peak RSS under 150 MB, got {peak_kb / 1024:.0f} MB"
    summary = assert_mirror_consistent(FolderView(tmp_path / "mirror"), known_good=known_good(corpus))
    assert summary.projects == set(GOOD), f"expected every project mirrored, got {summary.projects}"
