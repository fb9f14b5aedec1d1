"""Pure parts of the engine: names, paths, parsing, rendering, filters, planning, config."""

from __future__ import annotations

import json

import pytest

from cloudpypi.config import Filters, parse_config, parse_size
from cloudpypi.errors import ConfigError, OriginError, UnsafeInput
from cloudpypi.filters import file_version, project_allowed, select_files
from cloudpypi.model import DistFile, ProjectPage, checked_project_name, normalize
from cloudpypi.pages import parse_mirror_json
from cloudpypi.parse import parse_html_page, parse_json_page
from cloudpypi.paths import absolute_file_url, key_for_file
from cloudpypi.plan import plan_project
from cloudpypi.render import render_project, render_project_html, render_project_json

SHA = "ab" * 32
HOSTS = frozenset({"origin.test", "files.pythonhosted.org"})


def dist(filename: str, size: int = 10, key: str | None = None, sha: str = SHA, **kw) -> DistFile:
    return DistFile(filename=filename, url=f"https://files.pythonhosted.org/packages/aa/bb/{filename}", sha256=sha,
                    size=size, key=key or f"packages/aa/bb/{filename}", **kw)


@pytest.mark.parametrize("raw,expected", [("Foo.Bar", "foo-bar"), ("foo__bar", "foo-bar"), ("A-._b", "a-b"),
                                          ("requests", "requests")])
def test_normalize_follows_pep_503(raw, expected):
    assert normalize(raw) == expected
    assert checked_project_name(raw) == expected


@pytest.mark.parametrize("bad", ["", "../x", "a/b", "-lead", "x" * 201, "a b", None, 3])
def test_invalid_project_names_are_refused(bad):
    with pytest.raises(UnsafeInput):
        checked_project_name(bad)


def test_file_url_maps_to_the_path_after_packages():
    url = "https://files.pythonhosted.org/packages/aa/bb/cccc/foo-1.0.tar.gz"
    assert key_for_file(url, "foo-1.0.tar.gz", SHA) == "packages/aa/bb/cccc/foo-1.0.tar.gz"


def test_file_url_without_packages_gets_a_sha256_derived_key():
    url = "https://origin.test/files/foo-1.0.tar.gz"
    assert key_for_file(url, "foo-1.0.tar.gz", SHA) == f"packages/ab/ab/{SHA[4:]}/foo-1.0.tar.gz"


@pytest.mark.parametrize("url,filename", [
    ("https://origin.test/packages/../../etc/foo.whl", "foo.whl"),
    ("https://origin.test/packages/%2e%2e/%2e%2e/foo.whl", "foo.whl"),
    ("https://origin.test/packages/%252e%252e/foo.whl", "foo.whl"),
    ("https://origin.test/packages/a%2fb/foo.whl", "foo.whl"),
    ("https://origin.test/packages/a%5c..%5cb/foo.whl", "foo.whl"),
    ("https://origin.test/packages/a%00/foo.whl", "foo.whl"),
    ("https://origin.test/packages/aa/other.whl", "foo.whl"),
    ("https://origin.test/packages/aa/..", ".."),
    ("https://origin.test/packages/aa/x.whl", "../x.whl"),
])
def test_traversal_in_file_urls_is_refused(url, filename):
    with pytest.raises(UnsafeInput):
        key_for_file(url, filename, SHA)


@pytest.mark.parametrize("href", ["file:///etc/passwd", "ftp://origin.test/x.whl", "https://evil.test/x.whl",
                                  "javascript:alert(1)", "https://origin.test\\@evil.test/x.whl"])
def test_file_urls_on_other_schemes_or_hosts_are_refused(href):
    with pytest.raises(UnsafeInput):
        absolute_file_url("https://origin.test/simple/foo/", href, HOSTS)


def test_allowlist_is_by_hostname_any_port():
    url = absolute_file_url("https://origin.test/simple/foo/", "https://files.pythonhosted.org:8443/packages/x.whl",
                            HOSTS)
    assert url == "https://files.pythonhosted.org:8443/packages/x.whl"


def _json_page(files, name="foo", serial=7):
    return json.dumps({"meta": {"api-version": "1.1", "_last-serial": serial}, "name": name, "files": files,
                       "versions": ["1.0"]}).encode()


def test_json_page_parses_every_pep_691_field():
    page = parse_json_page(_json_page([{
        "filename": "foo-1.0-py3-none-any.whl", "url": "https://files.pythonhosted.org/packages/aa/foo-1.0-py3-none-any.whl",
        "hashes": {"sha256": SHA}, "requires-python": ">=3.8", "yanked": "broken", "size": 12,
        "upload-time": "2024-01-01T00:00:00.000000Z", "core-metadata": {"sha256": "cd" * 32}}]),
        "https://origin.test/simple/foo/", "foo", HOSTS)
    (item,) = page.files
    assert (item.size, item.requires_python, item.yanked, item.metadata_sha256, page.last_serial) == (
        12, ">=3.8", "broken", "cd" * 32, 7)
    assert item.key == "packages/aa/foo-1.0-py3-none-any.whl"


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"files": 3}', _json_page([{"filename": 3}]),
                                  _json_page([{"filename": "a.whl", "url": "https://origin.test/a.whl",
                                               "hashes": {"md5": "x"}}]),
                                  _json_page([{"filename": "a.whl", "url": "https://origin.test/packages/a.whl",
                                               "hashes": {"sha256": SHA}, "size": "big"}]),
                                  _json_page([{"filename": "a.whl", "url": "https://origin.test/packages/a.whl",
                                               "hashes": {"sha256": SHA}, "size": 0}])])
def test_malformed_json_pages_fail_with_a_clear_error(body):
    with pytest.raises((OriginError, UnsafeInput)) as info:
        parse_json_page(body, "https://origin.test/simple/foo/", "foo", HOSTS)
    assert "foo" in str(info.value)


def test_duplicate_filenames_fail_the_page():
    entry = {"filename": "a.whl", "url": "https://origin.test/packages/a.whl", "hashes": {"sha256": SHA}}
    with pytest.raises(OriginError, match="twice"):
        parse_json_page(_json_page([entry, entry]), "https://origin.test/simple/foo/", "foo", HOSTS)


def test_page_claiming_another_project_is_refused():
    with pytest.raises(UnsafeInput):
        parse_json_page(_json_page([], name="bar"), "https://origin.test/simple/foo/", "foo", HOSTS)


def test_html_page_parses_anchors_hashes_and_data_attributes():
    body = (b'<html><body><a href="../../packages/aa/foo-1.0.tar.gz#sha256=' + SHA.encode()
            + b'" data-requires-python="&gt;=3.8" data-yanked="" data-core-metadata="sha256=' + b"cd" * 32
            + b'">foo-1.0.tar.gz</a></body></html>')
    page = parse_html_page(body, "https://origin.test/simple/foo/", "foo", HOSTS)
    (item,) = page.files
    assert item.requires_python == ">=3.8" and item.yanked is True and item.metadata_sha256 == "cd" * 32
    assert item.url == "https://origin.test/packages/aa/foo-1.0.tar.gz"


def test_rendered_pages_escape_and_carry_pep_691_and_503_data():
    page = ProjectPage("foo", (dist("foo-1.0.tar.gz", requires_python="<4,>=3.8", yanked="bad \"q\" <x>",
                                    has_metadata=True, metadata_sha256="cd" * 32),), ("1.0",), 42)
    html = render_project_html(page).decode()
    assert 'data-requires-python="&lt;4,&gt;=3.8"' in html
    assert 'data-yanked="bad &#34;q&#34; &lt;x&gt;"' in html
    assert f'data-core-metadata="sha256={"cd" * 32}"' in html and "data-dist-info-metadata" in html
    assert 'href="../../packages/aa/bb/foo-1.0.tar.gz#sha256=' in html
    assert '<meta name="pypi:repository-version" content="1.4">' in html
    data = json.loads(render_project_json(page))
    assert data["meta"] == {"api-version": "1.4", "_last-serial": 42}
    (entry,) = data["files"]
    assert entry["url"] == "../../packages/aa/bb/foo-1.0.tar.gz" and entry["size"] == 10
    assert entry["core-metadata"] == {"sha256": "cd" * 32} and entry["yanked"] == 'bad "q" <x>'
    assert parse_mirror_json(render_project(page)["index.v1_json"], "foo").files[0].key == page.files[0].key


def test_project_filters_allow_block_and_regex():
    filters = Filters(allow=frozenset({"requests"}), allow_regex=("django-.*",), block=frozenset({"django-evil"}))
    assert [n for n in ["requests", "django-rest", "django-evil", "flask"] if project_allowed(n, filters)] == [
        "requests", "django-rest"]
    assert project_allowed("anything", Filters())
    assert not project_allowed("numpy", Filters(block_regex=("num.*",)))


def test_file_filters_platforms_size_prereleases_and_latest():
    files = [dist("foo-1.0-py3-none-any.whl"), dist("foo-1.1-cp312-cp312-win_amd64.whl"),
             dist("foo-1.1-cp312-cp312-manylinux_2_28_x86_64.whl", size=10_000), dist("foo-1.1.tar.gz"),
             dist("foo-2.0rc1-py3-none-any.whl")]
    names = lambda fs: [f.filename for f in fs]  # noqa: E731
    assert "foo-1.1-cp312-cp312-win_amd64.whl" not in names(select_files(files, Filters(exclude_platforms=("win*",))))
    assert "foo-1.1-cp312-cp312-manylinux_2_28_x86_64.whl" not in names(select_files(files, Filters(max_file_size=100)))
    assert "foo-2.0rc1-py3-none-any.whl" not in names(select_files(files, Filters(prereleases=False)))
    assert names(select_files(files, Filters(latest_releases=1, prereleases=False))) == [
        "foo-1.1-cp312-cp312-win_amd64.whl", "foo-1.1-cp312-cp312-manylinux_2_28_x86_64.whl", "foo-1.1.tar.gz"]
    assert str(file_version("foo-1.0-py2.7.egg")) == "1.0"


def test_plan_keeps_linked_files_fetches_new_ones_and_drops_removed_ones():
    old = ProjectPage("foo", (dist("foo-1.0.tar.gz"), dist("foo-0.9.tar.gz", has_metadata=True,
                                                            metadata_sha256="cd" * 32)), (), 1)
    new = ProjectPage("foo", (dist("foo-1.0.tar.gz"), dist("foo-1.1.tar.gz")), (), 2)
    plan = plan_project(new, old, Filters())
    assert plan.present == {"packages/aa/bb/foo-1.0.tar.gz"}
    assert [f.filename for f in plan.to_fetch] == ["foo-1.1.tar.gz"]
    assert plan.to_drop == ("packages/aa/bb/foo-0.9.tar.gz", "packages/aa/bb/foo-0.9.tar.gz.metadata")


def test_plan_restricted_to_a_closure_selection():
    new = ProjectPage("foo", (dist("foo-1.0.tar.gz"), dist("foo-1.1.tar.gz")), (), 2)
    plan = plan_project(new, None, Filters(), frozenset({"foo-1.1.tar.gz"}))
    assert [f.filename for f in plan.desired.files] == ["foo-1.1.tar.gz"]


def test_config_rejects_unknown_keys_bad_types_and_bad_regexes():
    with pytest.raises(ConfigError, match="unknown key"):
        parse_config({"mirror": {"wrokers": 3}})
    with pytest.raises(ConfigError, match="expected int"):
        parse_config({"mirror": {"workers": "3"}})
    with pytest.raises(ConfigError, match="regular expression"):
        parse_config({"filters": {"allow_regex": ["("]}})
    assert parse_size("200MiB", "x") == 200 * 2**20
    assert parse_config({"filters": {"allow": ["Foo_Bar"]}}).filters.allow == {"foo-bar"}


def test_pypi_string_serials_are_accepted():
    body = json.dumps({"meta": {"api-version": "1.1", "_last-serial": "41170495"}, "name": "foo",
                       "files": []}).encode()
    assert parse_json_page(body, "https://origin.test/simple/foo/", "foo", HOSTS).last_serial == 41170495


def test_engine_source_compiles_on_python_3_11(repo_root):
    """The dev host may run an older Python than the controller: keep the engine 3.11-compatible."""
    import shutil
    import subprocess

    python311 = next((p for p in ("python3.11", "python3") if shutil.which(p) and subprocess.run(
        [p, "-c", "import sys; sys.exit(sys.version_info[:2] != (3, 11))"]).returncode == 0), None)
    if python311 is None:
        pytest.skip("no Python 3.11 on this machine")
    package = str(repo_root / "scripts/cloudpypi")
    proc = subprocess.run([python311, "-m", "compileall", "-q", "-x", "__pycache__", package],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_closure_requirement_files_are_relative_to_the_config_file_and_bad_tables_are_usage_errors(tmp_path):
    from cloudpypi.config import load_config

    (tmp_path / "requirements.txt").write_text("idna>=3\n")
    config_file = tmp_path / "mirror.toml"
    config_file.write_text('[closure]\nrequirements_files = ["requirements.txt"]\npythons = ["3.12"]\n'
                           'platforms = ["manylinux_2_28_x86_64"]\n')
    config = load_config(config_file)
    assert config.closure["requirements_files"] == [str(tmp_path / "requirements.txt")]
    config_file.write_text('[closure]\nrequirements = ["idna"]\nreleases = "everything"\n')
    with pytest.raises(ConfigError):
        load_config(config_file)


@pytest.mark.parametrize("rows", [
    [],
    [("requests", 7)],
    [("a-b", 1), ("c.d_e", None), ('x<"y>&', 3), ("zz", 5)],
    [(f"project-{i:05d}", i) for i in range(9000)],
], ids=["empty", "one", "names-needing-escapes", "several-batches"])
def test_one_pass_root_render_gives_the_same_bytes_as_the_per_page_renderers(rows) -> None:
    from cloudpypi.model import RootEntry
    from cloudpypi.render import iter_root_html, iter_root_json, iter_root_parts

    batches = [rows[start:start + 4096] for start in range(0, len(rows), 4096)]
    parts = list(iter_root_parts(batches, 42))
    entries = [RootEntry(name, serial) for name, serial in rows]
    json_bytes, html_bytes = b"".join(p[0] for p in parts), b"".join(p[1] for p in parts)
    assert json_bytes == b"".join(iter_root_json(entries, 42)), "expected the one-pass JSON root to match"
    assert html_bytes == b"".join(iter_root_html(entries)), "expected the one-pass HTML root to match"
    assert [p["name"] for p in json.loads(json_bytes)["projects"]] == [name for name, _serial in rows], (
        "expected the JSON root to list every name, in order, unescaped after parsing")
