"""The fake origin speaks the Simple API 1.4: PEP 740 provenance served from its index host, PEP 792 status
(a quarantined project lists no files), PEP 708 tracks and alternate locations, in both page forms."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from support.fakeorigin import Corpus, running_origin


def fetch(url: str, accept: str = "application/vnd.pypi.simple.v1+json") -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": accept}), timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_the_fake_origin_serves_the_14_fields_in_both_forms_and_the_provenance_objects() -> None:
    corpus = Corpus()
    corpus.add_project("signed", [{"version": "1.0", "files": ["py3-none-any", "sdist"]}])
    corpus.add_provenance("signed", "signed-1.0-py3-none-any.whl")
    corpus.set_tracks("signed", ["https://up.test/simple/signed/"], ["https://alt.test/simple/signed/"])
    corpus.add_project("bad", [{"version": "1.0", "files": ["py3-none-any"]}])
    corpus.set_status("bad", "quarantined", "malware")
    with running_origin(corpus) as origin:
        status, body = fetch(origin.simple_url + "signed/")
        page = json.loads(body)
        assert status == 200 and page["meta"]["api-version"] == "1.4"
        assert page["meta"]["tracks"] == ["https://up.test/simple/signed/"]
        assert page["alternate-locations"] == ["https://alt.test/simple/signed/"]
        provenance = {f["filename"]: f.get("provenance") for f in page["files"]}
        assert provenance["signed-1.0.tar.gz"] is None
        url = provenance["signed-1.0-py3-none-any.whl"]
        assert url.startswith(origin.url + "/integrity/"), f"provenance is on the index host, got {url}"
        status, body = fetch(url)
        assert status == 200 and body == corpus.provenance_at("signed", "signed-1.0-py3-none-any.whl")
        assert json.loads(body)["attestation_bundles"], "the stand-in has the real object's shape"
        assert fetch(url.replace("signed-1.0-py3", "signed-9.9-py3"))[0] == 404

        _, html = fetch(origin.simple_url + "signed/", "text/html")
        assert f'data-provenance="{url}"'.encode() in html
        assert b'<meta name="pypi:tracks" content="https://up.test/simple/signed/">' in html

        page = json.loads(fetch(origin.simple_url + "bad/")[1])
        assert page["project-status"] == {"status": "quarantined", "reason": "malware"}
        assert page["files"] == [] and page["versions"] == [], "a quarantined project lists no files"
        _, html = fetch(origin.simple_url + "bad/", "text/html")
        assert b'<meta name="pypi:project-status" content="quarantined">' in html and b"<a " not in html
