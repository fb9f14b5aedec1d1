"""Where things go: origin file URLs mapped to storage keys (rejecting anything that could escape the
target; pure), and the local folder that holds working copies of the state.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from cloudpypi.errors import UnsafeInput
from cloudpypi.layout import FILES_PREFIX
from cloudpypi.model import MAX_FILENAME_LENGTH

# Characters PyPI uses in file paths; anything else is suspicious enough to refuse.
_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+~!-]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_KEY_LENGTH = 1024


def check_filename(filename: object) -> str:
    if not isinstance(filename, str) or not filename:
        raise UnsafeInput(f"filename {filename!r} is not a non-empty string")
    if len(filename) > MAX_FILENAME_LENGTH:
        raise UnsafeInput(f"filename of {len(filename)} characters is over the {MAX_FILENAME_LENGTH} limit")
    if filename in (".", "..") or not _SAFE_SEGMENT.match(filename):
        raise UnsafeInput(f"filename {filename!r} contains characters a distribution file never has")
    return filename


def check_sha256(value: object) -> str:
    if not isinstance(value, str) or not _SHA256.match(value.lower()):
        raise UnsafeInput(f"sha256 {value!r} is not 64 hex digits")
    return value.lower()


def absolute_file_url(page_url: str, href: str, allowed_hosts: frozenset[str]) -> str:
    """Resolve a page's file link and check its scheme and host."""
    if not isinstance(href, str) or not href or any(c in href for c in "\\\x00\r\n\t"):
        raise UnsafeInput(f"file URL {href!r} is malformed")
    url = urljoin(page_url, href)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeInput(f"file URL {url!r}: scheme {parts.scheme!r} is not http or https")
    host = (parts.hostname or "").lower()
    if host not in allowed_hosts:
        raise UnsafeInput(
            f"file URL {url!r}: host {host!r} is not allowed (allowed: {', '.join(sorted(allowed_hosts))}; "
            "extend [mirror] allowed_hosts to trust it)"
        )
    return parts._replace(fragment="").geturl()


def key_for_file(url: str, filename: str, sha256: str) -> str:
    """Where a file lives in the target.

    ``https://files.pythonhosted.org/packages/aa/bb/rest/name.whl`` -> ``packages/aa/bb/rest/name.whl``.
    A URL without ``/packages/`` gets a sha256-derived path, so two origins cannot collide.
    """
    check_filename(filename)
    sha256 = check_sha256(sha256)
    raw_path = urlsplit(url).path
    segments = [unquote(s) for s in raw_path.split("/")]
    # Decoding twice catches %252e%252e as well; any traversal after decoding is refused, not repaired.
    for segment in segments:
        decoded = unquote(segment)
        if decoded in (".", "..") or "/" in segment or "\\" in decoded or "\x00" in decoded:
            raise UnsafeInput(f"file URL {url!r} has a path segment that could escape the target")
    if segments and segments[-1] != filename:
        raise UnsafeInput(f"file URL {url!r} does not end in its filename {filename!r}")
    if "packages" in segments:
        rest = segments[segments.index("packages") + 1 :]
        if rest and all(_SAFE_SEGMENT.match(s) for s in rest):
            key = FILES_PREFIX + "/".join(rest)
            if len(key) > MAX_KEY_LENGTH:
                raise UnsafeInput(f"file URL {url!r} is too long to store")
            return key
        raise UnsafeInput(f"file URL {url!r} has path segments a distribution URL never has")
    return f"{FILES_PREFIX}{sha256[:2]}/{sha256[2:4]}/{sha256[4:]}/{filename}"


def relative_link(page_key_dir: str, key: str) -> str:
    """The link from a page in ``simple/<name>/`` to a stored file: ``../../packages/...``."""
    depth = page_key_dir.strip("/").count("/") + 1
    return "../" * depth + key


def default_state_dir() -> Path:
    """The local folder for state working copies and download spools: ``$CLOUDPYPI_STATE_DIR``, else
    ``$XDG_CACHE_HOME/cloudpypi/state`` (``~/.cache/cloudpypi/state``)."""
    base = os.environ.get("CLOUDPYPI_STATE_DIR") or os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    path = Path(base).expanduser()
    return path if os.environ.get("CLOUDPYPI_STATE_DIR") else path / "cloudpypi" / "state"
