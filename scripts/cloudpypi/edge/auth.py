"""HTTP Basic checks against stored token hashes, pure: the Python twin of the function's auth block.

The CloudFront function (roles/mirror_cdn/files/viewer-request.js) and `cloudpypi serve --auth-file`
apply the same rule, checked against one table (tests/edge/auth_cases.json):

* the request needs ``Authorization: Basic base64(NAME:TOKEN)`` (scheme case-insensitive);
* the base64 must be canonical-alphabet, padded, and decode to printable ASCII ``NAME:TOKEN``, NAME
  a token name (1 to 64 of ``A-Za-z0-9._-``, starting with a letter or digit), TOKEN not empty;
* the SHA-256 of TOKEN (lowercase hex) must equal the hash stored under NAME.

Anything else is refused the same way (401), whatever went wrong, so an answer reveals nothing
about which part failed.  Hashes are compared with :func:`hmac.compare_digest`; an unknown name is
compared against a dummy hash so that it costs the same work as a known one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable

REALM = "cloudpypi"
CHALLENGE = f'Basic realm="{REALM}", charset="UTF-8"'

_BASE64_RE = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_PRINTABLE_RE = re.compile(r"[\x20-\x7e]*")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HASH_RE = re.compile(r"[0-9a-f]{64}")
_DUMMY_HASH = "0" * 64

#: name -> stored hex digest, or None when the name has no token
Lookup = Callable[[str], "str | None"]


def hash_token(token: str) -> str:
    """The stored form of a token: SHA-256 of its UTF-8 bytes, lowercase hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """(name, token) from an Authorization header value, or None when it is not usable Basic credentials."""
    if header is None:
        return None
    scheme, _, rest = header.strip(" \t").partition(" ")
    if scheme.lower() != "basic":
        return None
    encoded = rest.strip(" \t")
    if not encoded or not _BASE64_RE.fullmatch(encoded):
        return None
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        return None
    if not _PRINTABLE_RE.fullmatch(decoded):
        return None
    name, sep, token = decoded.partition(":")
    if not sep or not name or not token or not _NAME_RE.fullmatch(name):
        return None
    return name, token


def authorized(header: str | None, lookup: Lookup) -> bool:
    """True when the header carries a name and a token whose hash is stored under that name."""
    credentials = parse_basic(header)
    if credentials is None:
        return False
    name, token = credentials
    stored = lookup(name)
    known = stored is not None and _HASH_RE.fullmatch(stored) is not None
    match = hmac.compare_digest(hash_token(token), stored if known and stored else _DUMMY_HASH)
    return match and known
