"""The Simple API 1.4 fields (PEP 740 provenance, PEP 792 status, PEP 708 tracks and alternate locations)
and the static JSON API, as pure functions: parsing both page forms, planning, rendering, reading back."""

from __future__ import annotations

import io
import json

import pytest

from cloudpypi.config import Filters, parse_config
from cloudpypi.errors import ConfigError, OriginError, UnsafeInput
from cloudpypi.jsonapi import json_api_document, latest_version
from cloudpypi.model import DistFile, ProjectPage
from cloudpypi.pages import parse_mirror_json
from cloudpypi.parse import WHOLE_JSON_PAGE, parse_html_page, parse_json_page
from cloudpypi.plan import file_keys, plan_project
from cloudpypi.render import render_project
from cloudpypi.storage.content import cache_control_for, content_type_for

SHA = "ab" * 32
META = "cd" * 32
HOSTS = frozenset({"origin.test", "files.pythonhosted.org"})
PAGE_URL = "https://origin.test/simple/foo/"
FILE_URL = "https://files.pythonhosted.org/packages/aa/bb/foo-1.0-py3-none-any.whl"
PROVENANCE = "https://origin.test/integrity/foo/1.0/foo-1.0-py3-none-any.whl/provenance"
TRACKS = ["https://upstream.test/simple/foo/"]
ALTERNATES = ["https://upstream.test/simple/foo/", "https://other.test/simple/foo/"]


def json_page(files=None, **extra) -> bytes:
    document = {"meta": {"api-version": "1.4", "_last-serial": 7, **extra.pop("meta", {})}, "name": "foo",
                "versions": ["1.0"], "files": files if files is not None else [file_entry()], **extra}
    return json.dumps(document).encode()


def file_entry(**extra) -> dict:
    return {"filename": "foo-1.0-py3-none-any.whl", "url": FILE_URL, "hashes": {"sha256": SHA},
            "core-metadata": {"sha256": META}, **extra}


def html_page(metas: str = "", attrs: str = "") -> bytes:
    return (f'<html><head><meta name="pypi:repository-version" content="1.4">{metas}</head><body>'
            f'<a href="{FILE_URL}#sha256={SHA}" {attrs}>foo-1.0-py3-none-any.whl</a></body></html>').encode()


def test_json_page_carries_status_tracks_alternates_and_provenance():
    page = parse_json_page(json_page([file_entry(provenance=PROVENANCE)], meta={"tracks": TRACKS},
                                     **{"alternate-locations": ALTERNATES,
                                        "project-status": {"status": "archived", "reason": "done"}}),
                           PAGE_URL, "foo", HOSTS)
    assert (page.status, page.status_reason) == ("archived", "done"), "PEP 792 status and reason"
    assert page.tracks == tuple(TRACKS) and page.alternate_locations == tuple(ALTERNATES), "PEP 708 fields"
    assert page.files[0].provenance_url == PROVENANCE, "PEP 740 provenance URL kept (absolute, origin host)"


def test_html_page_carries_the_same_fields_from_meta_tags_and_data_provenance():
    metas = ('<meta name="pypi:project-status" content="deprecated">'
             '<meta name="pypi:project-status-reason" content="use bar">'
             + "".join(f'<meta name="pypi:tracks" content="{u}">' for u in TRACKS)
             + "".join(f'<meta name="pypi:alternate-locations" content="{u}">' for u in ALTERNATES))
    page = parse_html_page(html_page(metas, 'data-provenance="/integrity/foo/1.0/x/provenance"'), PAGE_URL, "foo",
                           HOSTS)
    assert (page.status, page.status_reason) == ("deprecated", "use bar")
    assert page.tracks == tuple(TRACKS) and page.alternate_locations == tuple(ALTERNATES)
    assert page.files[0].provenance_url == "https://origin.test/integrity/foo/1.0/x/provenance", \
        "a relative provenance URL is resolved against the page"


def test_a_streamed_large_json_page_carries_the_same_page_fields():
    padding = [file_entry(filename=f"foo-1.0.{i}-py3-none-any.whl",
                          url=f"https://files.pythonhosted.org/packages/aa/foo-1.0.{i}-py3-none-any.whl")
               for i in range(WHOLE_JSON_PAGE // 150)]
    body = json_page(padding, meta={"tracks": TRACKS}, **{"alternate-locations": ALTERNATES,
                                                          "project-status": {"status": "quarantined"}})
    assert len(body) > WHOLE_JSON_PAGE, "the page must be large enough to be streamed"
    page = parse_json_page(io.BytesIO(body), PAGE_URL, "foo", HOSTS)
    assert page.status == "quarantined" and page.tracks == tuple(TRACKS)
    assert page.alternate_locations == tuple(ALTERNATES)


@pytest.mark.parametrize("provenance", ["https://evil.test/p", "http://files.pythonhosted.org/p",
                                        "file:///etc/passwd", "javascript:alert(1)", 42])
def test_provenance_off_the_origin_host_is_refused(provenance):
    with pytest.raises(UnsafeInput):
        parse_json_page(json_page([file_entry(provenance=provenance)]), PAGE_URL, "foo", HOSTS)


@pytest.mark.parametrize("extra", [
    {"project-status": "archived"},
    {"project-status": {"status": 3}},
    {"project-status": {"status": "archived", "reason": 7}},
    {"alternate-locations": "https://x.test/"},
    {"alternate-locations": ["ftp://x.test/"]},
    {"alternate-locations": [f"https://x.test/{i}" for i in range(101)]},
    {"meta": {"tracks": [1]}},
])
def test_malformed_14_fields_fail_the_page_with_a_clear_error(extra):
    with pytest.raises(OriginError):
        parse_json_page(json_page(**extra), PAGE_URL, "foo", HOSTS)


def test_an_unknown_status_is_mirrored_as_no_status():
    page = parse_json_page(json_page(**{"project-status": {"status": "exploded", "reason": "?"}}), PAGE_URL,
                           "foo", HOSTS)
    assert (page.status, page.status_reason) == (None, None)


def test_a_quarantined_project_is_planned_with_no_files_whatever_its_page_lists():
    page = parse_json_page(json_page(**{"project-status": {"status": "quarantined", "reason": "malware"}}),
                           PAGE_URL, "foo", HOSTS)
    plan = plan_project(page, None, Filters())
    assert plan.desired.files == () and plan.desired.versions == () and plan.to_fetch == ()
    assert plan.desired.status == "quarantined" and plan.desired.status_reason == "malware"


def mirrored(**page_fields) -> ProjectPage:
    item = DistFile("foo-1.0-py3-none-any.whl", FILE_URL, SHA, size=10, has_metadata=True, metadata_sha256=META,
                    key="packages/aa/bb/foo-1.0-py3-none-any.whl", has_provenance=True,
                    upload_time="2024-01-01T00:00:00.000000Z")
    bare = DistFile("foo-1.0.tar.gz", FILE_URL, SHA, size=11, key="packages/aa/bb/foo-1.0.tar.gz")
    return ProjectPage("foo", (item, bare), ("1.0",), 9, "Foo", **page_fields)


def test_rendered_pages_link_the_mirrors_provenance_copy_relatively_and_read_back():
    page = mirrored(status="archived", status_reason="done", tracks=tuple(TRACKS),
                    alternate_locations=tuple(ALTERNATES))
    pages = render_project(page)
    document = json.loads(pages["index.v1_json"])
    assert document["meta"] == {"api-version": "1.4", "_last-serial": 9, "tracks": TRACKS}
    assert document["project-status"] == {"status": "archived", "reason": "done"}
    assert document["alternate-locations"] == ALTERNATES
    link = "../../packages/aa/bb/foo-1.0-py3-none-any.whl.provenance"
    assert document["files"][0]["provenance"] == link and "provenance" not in document["files"][1]
    html = pages["index.html"].decode()
    assert f'data-provenance="{link}"' in html and html.count("data-provenance") == 1
    assert '<meta name="pypi:project-status" content="archived">' in html
    assert '<meta name="pypi:project-status-reason" content="done">' in html
    assert html.count('name="pypi:alternate-locations"') == 2 and f'name="pypi:tracks" content="{TRACKS[0]}"' in html
    back = parse_mirror_json(pages["index.v1_json"], "foo")
    assert (back.status, back.status_reason, back.tracks, back.alternate_locations) == \
        ("archived", "done", tuple(TRACKS), tuple(ALTERNATES)), "the mirror reads its own page back"
    assert [(f.key, f.has_provenance) for f in back.files] == [(f.key, f.has_provenance) for f in page.files]


def test_with_a_public_url_provenance_links_are_absolute_and_file_links_stay_relative():
    pages = render_project(mirrored(), "https://pypi.example.com/")
    document = json.loads(pages["index.v1_json"])
    assert document["files"][0]["provenance"] == \
        "https://pypi.example.com/packages/aa/bb/foo-1.0-py3-none-any.whl.provenance"
    assert document["files"][0]["url"].startswith("../../packages/")


def test_a_status_reason_cannot_inject_markup():
    html = render_project(mirrored(status="deprecated", status_reason='"><script>x</script>'))["index.html"]
    assert b"<script>" not in html and b"&#34;&gt;&lt;script&gt;" in html


def test_the_provenance_copy_is_linked_kept_and_typed_like_a_file():
    page = mirrored()
    assert "packages/aa/bb/foo-1.0-py3-none-any.whl.provenance" in file_keys(page), "bundles and orphans see it"
    assert content_type_for("packages/aa/bb/foo-1.0-py3-none-any.whl.provenance") == "application/json"
    assert content_type_for("pypi/foo/json") == "application/json"
    assert cache_control_for("pypi/foo/json", 300) == "max-age=300"


def test_a_provenance_the_origin_still_offers_is_not_dropped_when_the_page_is_replanned():
    origin = parse_json_page(json_page([file_entry(provenance=PROVENANCE)]), PAGE_URL, "foo", HOSTS)
    mirror = ProjectPage("foo", (DistFile(**{**{s: getattr(origin.files[0], s) for s in origin.files[0].__slots__},
                                             "provenance_url": None, "has_provenance": True}),))
    plan = plan_project(origin, mirror, Filters())
    assert plan.to_drop == () and plan.to_fetch == (), f"nothing to drop or fetch, got {plan}"


def test_public_url_must_be_an_http_base_url():
    assert parse_config({"mirror": {"public_url": "https://pypi.example.com/"}}).public_url == \
        "https://pypi.example.com/"
    for bad in ("pypi.example.com", "ftp://x/", "https://x/?a=1"):
        with pytest.raises(ConfigError):
            parse_config({"mirror": {"public_url": bad}})


# -- the JSON API document --------------------------------------------------------------------------

def wheel(version: str, yanked: bool | str = False, metadata: bool = True) -> DistFile:
    name = f"foo-{version}-py3-none-any.whl"
    return DistFile(name, f"https://f.test/{name}", SHA, size=5, yanked=yanked, has_metadata=metadata,
                    metadata_sha256=META if metadata else None, key=f"packages/{name}",
                    requires_python=">=3.9", upload_time="2024-02-03T04:05:06.789000Z")


METADATA = (b"Metadata-Version: 2.1\nName: Foo\nVersion: 2.0\nSummary: The foo\nHome-page: https://foo.test/\n"
            b"Author: A. Person\nKeywords: a,b\nClassifier: Programming Language :: Python\n"
            b"Requires-Dist: bar>=1\nRequires-Python: >=3.9\nProject-URL: Source, https://src.test/\n\nLong text\n")


def test_json_api_info_comes_from_the_latest_releases_core_metadata():
    page = ProjectPage("foo", (wheel("1.0"), wheel("2.0"), wheel("3.0a1")), ("1.0", "2.0", "3.0a1"), 42, "Foo")
    read = []
    document = json.loads(json_api_document(page, lambda f: read.append(f.filename) or METADATA))
    assert read == ["foo-2.0-py3-none-any.whl"], f"only the latest final release's metadata is read, got {read}"
    info = document["info"]
    assert (info["name"], info["version"], info["summary"], info["home_page"], info["author"]) == \
        ("Foo", "2.0", "The foo", "https://foo.test/", "A. Person")
    assert info["requires_dist"] == ["bar>=1"] and info["classifiers"] == ["Programming Language :: Python"]
    assert info["project_urls"] == {"Source": "https://src.test/"} and info["description"] == "Long text\n"
    assert info["keywords"] == "a,b" and info["yanked"] is False
    assert sorted(document["releases"]) == ["1.0", "2.0", "3.0a1"] and document["last_serial"] == 42
    (url,) = document["urls"]
    assert url["filename"] == "foo-2.0-py3-none-any.whl" and url["digests"] == {"sha256": SHA}
    assert url["url"] == "../../packages/foo-2.0-py3-none-any.whl", "relative to /pypi/foo/json"
    assert (url["packagetype"], url["python_version"], url["upload_time"]) == \
        ("bdist_wheel", "py3", "2024-02-03T04:05:06")
    assert "vulnerabilities" not in document, "the mirror does not know them and must not claim there are none"


def test_json_api_without_metadata_still_names_the_release():
    page = ProjectPage("foo", (wheel("1.0", metadata=False),), ("1.0",), 1)
    info = json.loads(json_api_document(page, lambda f: pytest.fail("nothing to read")))["info"]
    assert (info["name"], info["version"], info["requires_python"], info["summary"]) == ("foo", "1.0", ">=3.9", None)


def test_json_api_latest_skips_yanked_and_prereleases_like_pypi():
    assert latest_version({"1.0": [wheel("1.0")], "2.0": [wheel("2.0", yanked="bad")]}) == "1.0"
    assert latest_version({"1.0a1": [wheel("1.0a1")]}) == "1.0a1"
    assert latest_version({"1.0": [wheel("1.0", yanked=True)]}) == "1.0"
    assert latest_version({}) is None


def test_json_api_of_a_project_with_no_files_has_no_info():
    document = json.loads(json_api_document(ProjectPage("foo", (), (), 5, status="quarantined"), lambda f: None))
    assert document == {"info": None, "last_serial": 5, "releases": {}, "urls": []}


def test_json_api_keeps_the_origins_version_spelling():
    page = ProjectPage("foo", (wheel("1.0"),), ("1.0.0",), 1)
    page = page.with_files((DistFile("foo-1.0.0-py3-none-any.whl", "u", SHA, key="packages/foo-1.0.0.whl"),))
    assert list(json.loads(json_api_document(page, lambda f: None))["releases"]) == ["1.0.0"]


def test_an_empty_data_provenance_attribute_states_no_provenance():
    page = parse_html_page(html_page(attrs='data-provenance=""'), PAGE_URL, "foo", HOSTS)
    assert page.files[0].provenance_url is None
