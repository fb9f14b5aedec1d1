"""End to end on the Simple API 1.4: a fake origin with provenance (PEP 740), an archived and a quarantined
project (PEP 792) and tracks / alternate locations (PEP 708), synced by the real CLI into a folder and into
S3 (moto), then read through `cloudpypi serve` by pypi-simple (an independent parser of both page forms),
by plain HTTP for the legacy JSON API, and by real pip and uv."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pypi_simple import ACCEPT_HTML_ONLY, ACCEPT_JSON_ONLY, ProjectStatus, PyPISimple

from support.cli import run_cli, start_cli
from support.fakeorigin import Corpus, running_origin

from .test_end_to_end import Served, isolated_env

pytestmark = pytest.mark.slow

TRACKS = ("https://upstream.example/simple/signed-pkg/",)
ALTERNATES = ("https://upstream.example/simple/signed-pkg/", "https://other.example/simple/signed-pkg/")


@pytest.fixture(scope="module")
def origin() -> Iterator[Any]:
    corpus = Corpus()
    corpus.add_project("Signed_Pkg", [
        {"version": "1.0", "files": ["py3-none-any", "sdist"]},
        {"version": "2.0", "files": ["py3-none-any", "sdist"], "summary": "Signed and sealed",
         "requires_python": ">=3.8"},
    ])
    corpus.add_provenance("signed-pkg", "signed_pkg-2.0-py3-none-any.whl")
    corpus.add_provenance("signed-pkg", "signed_pkg-2.0.tar.gz")
    corpus.set_tracks("signed-pkg", TRACKS, ALTERNATES)
    corpus.add_project("old-tool", [{"version": "0.9", "files": ["py3-none-any"]}])
    corpus.set_status("old-tool", "archived", "no longer maintained")
    corpus.add_project("bad-pkg", [{"version": "6.6.6", "files": ["py3-none-any"]}])
    corpus.set_status("bad-pkg", "quarantined", "malware report under review")
    with running_origin(corpus) as server:
        server.test_corpus = corpus
        yield server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sync_and_serve(origin: Any, target: str, tmp: Path, env: dict[str, str]) -> Served:
    """Sync with public_url set to where serve will listen (PEP 740 asks for absolute provenance URLs)."""
    port = free_port()
    config = tmp / "mirror.toml"
    config.write_text(f'[mirror]\npublic_url = "http://127.0.0.1:{port}/"\n')
    synced = run_cli("sync", "--config", str(config), "--origin", origin.url, "--target", target, "--no-progress",
                     env=env, timeout=180)
    assert synced.returncode == 0, f"sync failed:\n{synced.stderr[-3000:]}"
    return ServedOn(target, env, port)


class ServedOn(Served):
    """`cloudpypi serve` on a chosen port (the one the mirror's public_url names)."""

    def __init__(self, target: str, env: dict[str, str], port: int) -> None:
        self.process = start_cli("serve", "--target", target, "--port", str(port), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env={**env, "PYTHONUNBUFFERED": "1"})
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # the server prints this line once it is listening
        if not line.startswith("Serving "):
            self.stop()
            raise AssertionError(f"serve did not start: {line!r}")
        self.index_url = line.strip().rsplit(" on ", 1)[1]


def get(url: str, accept: str | None = None) -> tuple[int, str, bytes, str]:
    """(status, content type, body, final URL) without following redirects."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=30) as answer:
            return answer.status, answer.headers.get("Content-Type", ""), answer.read(), answer.url
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read(), exc.headers.get("Location") or ""


def check_pages_with_pypi_simple(index_url: str, corpus: Corpus) -> None:
    with PyPISimple(endpoint=index_url) as client:
        pages = {form: client.get_project_page("signed-pkg", accept=accept)
                 for form, accept in (("json", ACCEPT_JSON_ONLY), ("html", ACCEPT_HTML_ONLY))}
        for form, page in pages.items():
            assert page.tracks == list(TRACKS), f"{form}: expected tracks {TRACKS}, got {page.tracks}"
            assert page.alternate_locations == list(ALTERNATES), \
                f"{form}: expected alternate locations {ALTERNATES}, got {page.alternate_locations}"
            assert page.status is None, f"{form}: the origin states no status for signed-pkg, got {page.status}"
        provenance = {form: {p.filename: p.provenance_url for p in page.packages} for form, page in pages.items()}
        assert provenance["json"] == provenance["html"], f"the two forms disagree: {provenance}"
        signed = {name for name, url in provenance["json"].items() if url}
        assert signed == {"signed_pkg-2.0-py3-none-any.whl", "signed_pkg-2.0.tar.gz"}, \
            f"expected provenance on the two 2.0 files only, got {signed}"
        for package in pages["json"].packages:
            if not package.provenance_url:
                continue
            assert package.provenance_url.startswith(index_url.removesuffix("simple/")), \
                f"{package.filename}: provenance must link the mirror's copy, got {package.provenance_url}"
            status, content_type, body, _ = get(package.provenance_url)
            expected = corpus.provenance_at("signed-pkg", package.filename)
            assert status == 200 and body == expected, \
                f"{package.filename}: expected the origin's provenance byte for byte, got {status} {body[:80]!r}"
            assert content_type.startswith("application/json"), f"provenance served as {content_type}"

        for name, status, reason in (("old-tool", ProjectStatus.ARCHIVED, "no longer maintained"),
                                     ("bad-pkg", ProjectStatus.QUARANTINED, "malware report under review")):
            for accept in (ACCEPT_JSON_ONLY, ACCEPT_HTML_ONLY):
                page = client.get_project_page(name, accept=accept)
                assert (page.status, page.status_reason) == (status, reason), \
                    f"{name} ({accept}): expected {status} / {reason!r}, got {page.status} / {page.status_reason!r}"
        for accept in (ACCEPT_JSON_ONLY, ACCEPT_HTML_ONLY):
            quarantined = client.get_project_page("bad-pkg", accept=accept)
            assert quarantined.packages == [], f"a quarantined project offers no files, got {quarantined.packages}"
            archived = client.get_project_page("old-tool", accept=accept)
            assert [p.filename for p in archived.packages] == ["old_tool-0.9-py3-none-any.whl"], \
                "an archived project keeps its files"
    for accept in ("application/vnd.pypi.simple.v1+json", "text/html"):
        _, _, body, _ = get(index_url + "signed-pkg/", accept)
        text = body.decode()
        assert '"api-version":"1.4"' in text or 'name="pypi:repository-version" content="1.4"' in text, \
            f"expected api-version 1.4 in the {accept} page"


def check_json_api(index_url: str) -> None:
    base = index_url.removesuffix("simple/")
    status, content_type, body, _ = get(base + "pypi/signed-pkg/json")
    assert status == 200 and content_type == "application/json", f"expected JSON, got {status} {content_type}"
    document = json.loads(body)
    info = document["info"]
    assert (info["name"], info["version"], info["summary"], info["requires_python"]) == \
        ("Signed_Pkg", "2.0", "Signed and sealed", ">=3.8"), f"info from the core metadata, got {info}"
    assert sorted(document["releases"]) == ["1.0", "2.0"], f"got releases {sorted(document['releases'])}"
    assert {f["filename"] for f in document["urls"]} == {"signed_pkg-2.0-py3-none-any.whl", "signed_pkg-2.0.tar.gz"}
    assert isinstance(document["last_serial"], int)
    for entry in document["releases"]["1.0"] + document["urls"]:
        status, _, data, _ = get(entry["url"] if "://" in entry["url"] else base + "pypi/signed-pkg/" + entry["url"])
        assert status == 200 and hashlib.sha256(data).hexdigest() == entry["digests"]["sha256"], \
            f"{entry['filename']}: the JSON API's link must serve the file with its digest"
    status, _, _, location = get(base + "pypi/Signed_Pkg/json")
    assert (status, location) == (301, "/pypi/signed-pkg/json"), f"expected a redirect, got {status} {location}"
    status, _, _, _ = get(base + "pypi/bad-pkg/json")
    assert status == 200, "every mirrored project has a JSON API document, a quarantined one too"
    status, _, _, _ = get(base + "pypi/no-such-project/json")
    assert status == 404, f"an unknown project's JSON API is 404, got {status}"


def check_clients(index_url: str, tmp: Path, env: dict[str, str]) -> None:
    client_env = isolated_env(env, tmp)
    downloads = tmp / "downloads"
    pip = subprocess.run([sys.executable, "-m", "pip", "download", "--isolated", "--no-cache-dir", "--no-deps",
                          "--index-url", index_url, "--dest", str(downloads), "signed-pkg==2.0"],
                         capture_output=True, text=True, env=client_env, timeout=180, check=False)
    assert pip.returncode == 0, f"pip download failed:\n{pip.stdout}\n{pip.stderr}"
    assert [p.name for p in downloads.iterdir()] == ["signed_pkg-2.0-py3-none-any.whl"], "pip picks the wheel"
    refused = subprocess.run([sys.executable, "-m", "pip", "download", "--isolated", "--no-cache-dir",
                              "--index-url", index_url, "--dest", str(tmp / "none"), "bad-pkg"],
                             capture_output=True, text=True, env=client_env, timeout=180, check=False)
    assert refused.returncode != 0, "a quarantined project must not be installable from the mirror"
    uv = shutil.which("uv")
    assert uv, "uv is in the dev extra and must be installed"
    venv = tmp / "venv"
    made = subprocess.run([uv, "venv", "--no-config", "--python", sys.executable, str(venv)],
                          capture_output=True, text=True, env=client_env, timeout=120, check=False)
    assert made.returncode == 0, made.stderr
    install = subprocess.run([uv, "pip", "install", "--no-config", "--no-cache", "--python", str(venv / "bin/python"),
                              "--index-url", index_url, "signed-pkg==2.0", "old-tool"],
                             capture_output=True, text=True, env=client_env, timeout=180, check=False)
    assert install.returncode == 0, f"uv pip install failed:\n{install.stdout}\n{install.stderr}"


def test_a_folder_mirror_carries_the_simple_api_14_and_the_json_api(origin: Any, tmp_path: Path) -> None:
    target = tmp_path / "mirror"
    served = sync_and_serve(origin, str(target), tmp_path, dict(os.environ))
    try:
        stored = sorted(p.relative_to(target).as_posix() for p in target.rglob("*.provenance"))
        assert len(stored) == 2 and all(key.startswith("packages/") for key in stored), \
            f"expected two provenance objects beside their files, got {stored}"
        check_pages_with_pypi_simple(served.index_url, origin.test_corpus)
        check_json_api(served.index_url)
        check_clients(served.index_url, tmp_path, dict(os.environ))
    finally:
        served.stop()


@pytest.mark.moto
def test_an_s3_mirror_carries_the_simple_api_14_and_the_json_api(origin: Any, moto: Any, tmp_path: Path) -> None:
    env = moto.env({**os.environ, "CLOUDPYPI_STATE_DIR": str(tmp_path / "state")})
    bucket = moto.make_bucket(f"api14-{uuid.uuid4().hex[:10]}")
    target = f"{bucket}/mirror"
    served = sync_and_serve(origin, target, tmp_path, env)
    try:
        s3 = moto.client("s3")
        keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket.removeprefix("s3://"),
                                                           Prefix="mirror/")["Contents"]]
        provenance = [k for k in keys if k.endswith(".provenance")]
        assert len(provenance) == 2, f"expected two provenance objects in the bucket, got {provenance}"
        head = s3.head_object(Bucket=bucket.removeprefix("s3://"), Key="mirror/pypi/signed-pkg/json")
        assert head["ContentType"] == "application/json", f"JSON API stored as {head['ContentType']}"
        check_pages_with_pypi_simple(served.index_url, origin.test_corpus)
        check_json_api(served.index_url)
        check_clients(served.index_url, tmp_path, env)
    finally:
        served.stop()
