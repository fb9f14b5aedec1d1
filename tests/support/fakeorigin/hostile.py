"""Ready-made hostile inputs for the security tests: file entries and raw pages an attacker could serve.

Use with Corpus.patch_file_entry / add_raw_file_entry / override_page.  Each value is served verbatim.
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urlsplit


def hostile_file_entries(valid: dict[str, Any], files_url: str) -> dict[str, dict[str, Any]]:
    """Variants of one valid PEP 691 file entry, keyed by what they try.

    `valid` is a real entry from the origin's JSON page; `files_url` the origin's files base URL.
    """
    base = files_url.rstrip("/")
    port = urlsplit(base).port
    name = valid["filename"]

    def variant(**fields: Any) -> dict[str, Any]:
        entry = copy.deepcopy(valid)
        for key, value in fields.items():
            entry[key.replace("_", "-") if key != "filename" else key] = value
        return entry

    return {
        "dotdot_filename": variant(filename="../../evil.whl", url=f"{base}/packages/../../evil.whl"),
        "absolute_filename": variant(filename="/etc/evil.whl"),
        "slash_in_filename": variant(filename=f"sub/{name}"),
        "encoded_dotdot_url": variant(url=f"{base}/packages/%2e%2e/%2e%2e/%2e%2e/evil.whl"),
        "encoded_slash_url": variant(url=f"{base}/packages/aa%2f..%2f..%2fevil.whl"),
        "backslash_filename": variant(filename="..\\..\\evil.whl", url=f"{base}/packages/..\\..\\evil.whl"),
        "nul_filename": variant(filename="evil\x00.whl"),
        "file_scheme_url": variant(url="file:///etc/passwd"),
        "ftp_scheme_url": variant(url="ftp://127.0.0.1/evil.whl"),
        "foreign_host_url": variant(url=f"http://evil.example.com/packages/aa/bb/cc/{name}"),
        "localhost_alias_url": variant(url=f"http://localhost:{port}/packages/aa/bb/cc/{name}"),
        "userinfo_host_url": variant(url=f"http://127.0.0.1@evil.example.com/packages/{name}"),
        "zero_size": variant(size=0),
        "huge_size": variant(size=50 * 1024**4),
        "negative_size": variant(size=-1),
        "string_size": variant(size="12345"),
        "missing_hashes": {k: v for k, v in valid.items() if k != "hashes"},
        "empty_hashes": variant(hashes={}),
        "bad_hash_type": variant(hashes={"sha256": 12345}),
        "short_hash": variant(hashes={"sha256": "abc"}),
        "wrong_hash": variant(hashes={"sha256": "0" * 64}),
        "url_wrong_type": variant(url=["http://127.0.0.1/x.whl"]),
        "filename_wrong_type": variant(filename=None),
        "yanked_wrong_type": variant(yanked=42),
        "requires_python_wrong_type": variant(requires_python={"x": 1}),
        "long_filename": variant(filename="a" * 5000 + ".whl"),
        "duplicate_filename": variant(hashes={"sha256": "f" * 64}),  # same filename as `valid`, other hash
    }


def hostile_pages(name: str = "evil") -> dict[str, dict[str, bytes]]:
    """Raw project pages keyed by what they try; each maps "json" and/or "html" to bytes."""
    return {
        "malformed_json": {"json": b'{"meta": {"api-version": "1.1"}, "files": [', "html": b"<html><a href="},
        "json_not_object": {"json": b"[1, 2, 3]"},
        "json_files_not_list": {
            "json": b'{"meta": {"api-version": "1.1", "_last-serial": 1}, "name": "'
            + name.encode()
            + b'", "files": {"a": 1}}'
        },
        "json_missing_meta": {"json": b'{"name": "' + name.encode() + b'", "files": []}'},
        "json_api_version_2": {
            "json": b'{"meta": {"api-version": "2.0"}, "name": "' + name.encode() + b'", "files": []}'
        },
        "json_name_mismatch": {
            "json": b'{"meta": {"api-version": "1.1", "_last-serial": 1}, '
            b'"name": "something-else", "files": []}'
        },
        "binary_garbage": {"json": bytes(range(256)) * 4, "html": bytes(range(256)) * 4},
        "html_unclosed": {"html": b'<!DOCTYPE html><html><body><a href="../../x.whl#sha256=00">x.whl'},
        "html_traversal_href": {
            "html": b'<html><body><a href="../../../../etc/passwd#sha256='
            + b"0" * 64
            + b'">passwd</a></body></html>'
        },
    }


def hostile_project_names() -> list[str]:
    """Root-index names that try to escape or overflow (use with Corpus.add_root_names / override_page)."""
    return [
        "../evil",
        "..",
        ".",
        "/etc",
        "..%2f..%2fevil",
        "%2e%2e",
        "back\\slash",
        "nul\x00name",
        "new\nline",
        "a" * 300,
        "-" * 3,
        "file:evil",
    ]
