"""Property-based tests (hypothesis) of the engine's pure safety functions: name normalization and the
mapping of origin URLs and filenames to storage keys.  Whatever the input, either UnsafeInput is
raised or the result is safe: a key that, joined to a root and normalized, stays under that root.

(The Accept parser's properties live with the edge rules in tests/edge/test_rules.py.)"""

from __future__ import annotations

import posixpath
import string
from urllib.parse import urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.utils import canonicalize_name

from cloudpypi.errors import UnsafeInput
from cloudpypi.model import MAX_NAME_LENGTH, checked_project_name, normalize
from cloudpypi.paths import absolute_file_url, key_for_file, relative_link
from cloudpypi.storage.base import check_key

ROOT = "/srv/mirror"
ALLOWED = frozenset({"127.0.0.1", "files.pythonhosted.org", "mirror.example"})
SHA = "ab" * 32
VALID_NAMES = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,60}[A-Za-z0-9])?", fullmatch=True)
NASTY = st.sampled_from(["..", ".", "%2e%2e", "%2E%2e", "%252e%252e", "%2f", "%5c", "\\", "\x00", "%00", "/", "//",
                         "~", "..%2f", "%2e", " ", "\n", "?", "#", ":", "@", "packages", "C:", "a" * 300])
SEGMENTS = st.one_of(NASTY, st.text(alphabet=string.ascii_letters + string.digits + "._-+~!%", min_size=1,
                                    max_size=12), st.text(max_size=8))
HOSTS = st.sampled_from(["127.0.0.1", "127.0.0.1:8080", "files.pythonhosted.org", "evil.example",
                         "127.0.0.1@evil.example", "evil.example#@127.0.0.1", "[::1]", "", "FILES.PYTHONHOSTED.ORG",
                         "mirror.example.evil.example", "localhost"])
SCHEMES = st.sampled_from(["http", "https", "file", "ftp", "javascript", "data", "HTTP", "", "s3"])


def _under_root(key: str) -> bool:
    resolved = posixpath.normpath(posixpath.join(ROOT, key))
    return resolved.startswith(ROOT + "/")


@given(st.text(max_size=80))
def test_normalize_equals_packaging_canonicalize_name_for_any_text(name: str) -> None:
    assert normalize(name) == canonicalize_name(name), f"{name!r}: expected {canonicalize_name(name)!r}"


@given(st.text(max_size=80))
def test_normalize_is_idempotent(name: str) -> None:
    once = normalize(name)
    assert normalize(once) == once, f"{name!r} -> {once!r} -> {normalize(once)!r}"


@given(VALID_NAMES)
def test_valid_names_are_accepted_as_their_canonical_form(name: str) -> None:
    assert checked_project_name(name) == canonicalize_name(name)


@given(st.one_of(st.text(max_size=250), st.builds(lambda a, b: a + b, VALID_NAMES, NASTY)))
def test_checked_project_name_is_unsafe_input_or_one_safe_path_segment(name: str) -> None:
    try:
        checked = checked_project_name(name)
    except UnsafeInput:
        return
    assert checked == canonicalize_name(name) and checked_project_name(checked) == checked
    assert 0 < len(checked) <= MAX_NAME_LENGTH, f"{name!r} -> {checked!r}"
    assert not set(checked) & set("/\\\x00%:?#") and checked not in (".", ".."), f"{name!r} -> {checked!r}"
    assert _under_root(f"simple/{checked}/index.html"), f"{name!r} -> {checked!r} escapes simple/"


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(SCHEMES, HOSTS, st.lists(SEGMENTS, max_size=8), st.one_of(SEGMENTS, st.just("pkg-1.0.tar.gz")))
def test_file_urls_map_to_a_key_under_the_root_or_raise_unsafe_input(
        scheme: str, host: str, segments: list[str], filename: str) -> None:
    href = f"{scheme}://{host}/" + "/".join([*segments, filename]) if scheme else "/".join([*segments, filename])
    try:
        url = absolute_file_url("http://127.0.0.1:8080/simple/project/", href, ALLOWED)
        key = key_for_file(url, filename, SHA)
    except UnsafeInput:
        return
    parts = urlsplit(url)
    assert parts.scheme in ("http", "https") and (parts.hostname or "") in ALLOWED, f"{href!r} -> {url!r}"
    assert key.startswith("packages/") and key.endswith("/" + filename), f"{href!r} -> {key!r}"
    assert check_key(key) == key and _under_root(key), f"{href!r} -> key {key!r} escapes the root"
    assert not set(key) & set("\\\x00") and ".." not in key.split("/"), f"{href!r} -> {key!r}"


@given(st.text(max_size=120), st.text(max_size=40))
def test_key_for_file_never_escapes_whatever_the_url_and_filename(url: str, filename: str) -> None:
    try:
        key = key_for_file(url, filename, SHA)
    except UnsafeInput:
        return
    assert check_key(key) == key and _under_root(key), f"{url!r}, {filename!r} -> {key!r}"


@given(st.text(max_size=60))
def test_storage_check_key_admits_only_keys_under_the_root(key: str) -> None:
    try:
        checked = check_key(key)
    except UnsafeInput:
        return
    assert _under_root(checked) and "\x00" not in checked, f"{key!r} was admitted but escapes"


@given(VALID_NAMES, st.lists(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._+~!-]{0,10}", fullmatch=True), min_size=1,
                             max_size=5))
def test_page_links_resolve_back_to_the_stored_key(name: str, segments: list[str]) -> None:
    key = "packages/" + "/".join(segments)
    page = f"simple/{canonicalize_name(name)}/index.html"
    link = relative_link(posixpath.dirname(page) + "/", key)
    assert posixpath.normpath(posixpath.join(posixpath.dirname(page), link)) == key, f"{link!r} does not reach {key}"
