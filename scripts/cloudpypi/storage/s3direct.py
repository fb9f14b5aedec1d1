"""The busiest S3 calls sent over the engine's own urllib3 pool, signed with botocore's SigV4 signer.

A sync makes one S3 request per file and several per project (a GET of its JSON page, the page PUTs,
HEADs): on S3 a run is paid per request more than per byte.  Through a botocore client each call cost
about 3.5 ms of client CPU on the benchmark machine, against about 1 ms for the same request through
urllib3; the difference is botocore's pipeline (event hooks, parameter validation, endpoint rules,
response parsing), not the network (docs/DESIGN.md, "S3 requests without botocore's pipeline").

So PutObject, GetObject of a whole object, HeadObject and DeleteObject of one key go out here, with
the same headers botocore would send (the body's SHA-256 as ``x-amz-checksum-sha256``, the body itself
left out of the signature, conditional headers), signed by botocore's own ``S3SigV4Auth`` with the
credentials its session resolves (environment, profile, instance role, refreshed when they expire).

Only the first attempt goes this way, and only with the answers the caller expects: success, 404 where
the caller asks whether a key exists, 412/409 where it sends a condition.  Anything else (a 5xx, a
throttle, a redirect to another region, a refused signature, a broken connection) returns None, and the
caller repeats the call through the botocore client, whose retry policy, region redirects and error
messages then apply.  An answer that says the request itself was wrong for this endpoint (a redirect,
400, 403) also turns this path off for the rest of the run, so a misfit costs one request, not one per
call.  Set ``CLOUDPYPI_S3_DIRECT=0`` to send every call through botocore.

Only endpoints whose addressing is certain use it: an endpoint named in ``AWS_ENDPOINT_URL_S3`` or
``AWS_ENDPOINT_URL`` (MinIO, moto, a gateway: path-style URLs, which every S3-compatible store takes),
or AWS's own regional endpoint of a commercial region.  A profile with endpoint, FIPS, dual-stack or
addressing settings, or a proxy for the endpoint, leaves every call to botocore; an https endpoint is
checked against the CA bundle botocore would use (``AWS_CA_BUNDLE``, the profile's ``ca_bundle``, certifi).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import threading
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit
from urllib.request import getproxies, proxy_bypass

import urllib3
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest

log = logging.getLogger(__name__)

DIRECT_VARIABLE = "CLOUDPYPI_S3_DIRECT"
# The commercial AWS partition's regions (amazonaws.com); China, GovCloud and the isolated partitions
# have other DNS suffixes and stay with botocore's endpoint rules.
_COMMERCIAL_REGION = re.compile(r"^(us|eu|ap|sa|ca|me|af|il|mx)-[a-z]+-\d+$")
_BUCKET_FOR_HOST = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")  # no dots: the TLS wildcard covers it
# Profile settings that change where or how botocore sends S3 requests: with any of them set, botocore
# alone decides.
_ADDRESSING_SETTINGS = ("endpoint_url", "services", "s3", "use_fips_endpoint", "use_dualstack_endpoint",
                        "s3_use_arn_region", "s3_us_east_1_regional_endpoint")
_ADDRESSING_VARIABLES = ("AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT", "AWS_S3_US_EAST_1_REGIONAL_ENDPOINT")
_ERROR_CODE = re.compile(rb"<Code>([^<]{1,100})</Code>")
# Answers that say the request was wrong for this endpoint, not that this one call failed: after one,
# every call goes through botocore (region redirects, signature rules it knows and this path does not).
_WRONG_FOR_ENDPOINT = frozenset({"PermanentRedirect", "AuthorizationHeaderMalformed", "SignatureDoesNotMatch",
                                 "IncompleteSignature", "InvalidRequest", "RequestTimeTooSkewed"})
Expect = dict[int, tuple[str, ...] | None]  # status -> the error codes accepted with it (None: any)
_CONDITION_FAILED: Expect = {412: None, 409: ("ConditionalRequestConflict",)}
_KEY_GONE: Expect = {404: ("NoSuchKey",)}
_SEND_BLOCK = 1 << 20  # a file body goes out in 1 MiB writes (http.client's default is 8 KiB)


class _UnsignedBody(S3SigV4Auth):
    """SigV4 with ``UNSIGNED-PAYLOAD``: every body sent here carries its SHA-256 in a signed checksum header,
    which S3 checks against the bytes, so hashing the body a second time for the signature buys nothing
    (botocore does the same over HTTPS; the client is built with ``payload_signing_enabled=False``)."""

    def _should_sha256_sign_payload(self, request: AWSRequest) -> bool:
        return False


@dataclass(frozen=True)
class Endpoint:
    base: str  # scheme://host[:port], no trailing slash
    path_style: bool  # the bucket in the path (custom endpoints), else in the host name (AWS)
    ca_certs: str | None = None  # the CA bundle botocore would trust for an https endpoint


def endpoint_for(bucket: str, session: Any) -> Endpoint | None:
    """Where a direct request for bucket goes, or None when only botocore can tell."""
    if os.environ.get(DIRECT_VARIABLE, "").strip().lower() in ("0", "false", "no", "off"):
        return None
    if any(os.environ.get(name) for name in _ADDRESSING_VARIABLES):
        return None
    try:
        scoped = session.get_scoped_config()
    except Exception:  # a broken or missing profile: botocore reports it properly
        return None
    if any(setting in scoped for setting in _ADDRESSING_SETTINGS):
        return None
    configured = "" if os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() == "true" else (
        os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or "")
    if configured:
        parts = urlsplit(configured.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/") or parts.query:
            return None
        base, path_style = f"{parts.scheme}://{parts.netloc}", True
    else:
        region = session.get_config_variable("region")
        if not region or not _COMMERCIAL_REGION.match(region) or not _BUCKET_FOR_HOST.match(bucket):
            return None
        base, path_style = f"https://{bucket}.s3.{region}.amazonaws.com", False
    parts = urlsplit(base)
    if getproxies().get(parts.scheme) and not proxy_bypass(parts.hostname or ""):
        return None
    ca_certs = None
    if parts.scheme == "https":
        from botocore.httpsession import get_cert_path

        # botocore's own choice: AWS_CA_BUNDLE, else the profile's ca_bundle, else certifi's (or its bundled) one
        ca_certs = os.environ.get("AWS_CA_BUNDLE") or scoped.get("ca_bundle") or get_cert_path(True)
    return Endpoint(base, path_style, ca_certs)


class DirectS3:
    """Single-object requests to one bucket; see the module's docstring for what goes here and what not."""

    def __init__(self, bucket: str, endpoint: Endpoint, region: str, credentials: Any, *, max_connections: int,
                 connect_timeout: float, read_timeout: float) -> None:
        self.bucket = bucket
        self.endpoint = endpoint
        self.region = region
        self._credentials = credentials
        self._prefix = f"{endpoint.base}/{quote(bucket)}/" if endpoint.path_style else f"{endpoint.base}/"
        self._pool = urllib3.PoolManager(
            num_pools=2, maxsize=max_connections, retries=False,
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout), blocksize=_SEND_BLOCK,
            **({"ca_certs": endpoint.ca_certs} if endpoint.ca_certs else {}))
        self._off = threading.Event()
        self.sent = 0  # requests that got an answer used here (the tests read it)

    @property
    def enabled(self) -> bool:
        return not self._off.is_set()

    def url(self, key: str) -> str:
        return self._prefix + quote(key, safe="/~")

    # -- the operations, with botocore's parameter and result names ----------------------------------------
    def head_object(self, key: str, *, checksum_mode: bool = False) -> dict[str, Any] | int | None:
        """The object's head as botocore's head_object returns it, 404 when missing, or None: ask botocore."""
        headers = {"x-amz-checksum-mode": "ENABLED"} if checksum_mode else {}
        answer = self._send("HEAD", key, headers, expect={200: None, 404: None})
        if answer is None:
            return None
        return 404 if answer.status == 404 else _head_result(answer.headers)

    def get_object_bytes(self, key: str) -> bytes | int | None:
        """The whole object, 404 when missing, or None: ask botocore."""
        answer = self._send("GET", key, {}, expect={200: None, **_KEY_GONE})
        if answer is None:
            return None
        return 404 if answer.status == 404 else answer.data

    def put_object(self, key: str, body: bytes | BinaryIO, *, size: int, sha256_b64: str, content_type: str,
                   cache_control: str | None = None, metadata: dict[str, str] | None = None,
                   if_none_match: bool = False, if_match: str | None = None) -> str | int | None:
        """The new object's ETag, 412 (or 404 for a vanished If-Match key) when a condition failed, or None."""
        headers = {"Content-Type": content_type, "Content-Length": str(size), "x-amz-checksum-sha256": sha256_b64}
        if cache_control:
            headers["Cache-Control"] = cache_control
        for name, value in (metadata or {}).items():
            headers[f"x-amz-meta-{name}"] = value
        expect: Expect = {200: None}
        if if_none_match:
            headers["If-None-Match"] = "*"
            expect.update(_CONDITION_FAILED)
        if if_match is not None:
            headers["If-Match"] = if_match
            expect.update(_CONDITION_FAILED)
            expect.update(_KEY_GONE)
        answer = self._send("PUT", key, headers, body=body, expect=expect)
        if answer is None:
            return None
        if answer.status != 200:
            return 412 if answer.status in (409, 412) else answer.status
        return answer.headers.get("ETag", "")

    def delete_object(self, key: str, *, if_match: str | None = None) -> int | None:
        """204 when deleted (or already gone), 412/404 when an If-Match condition failed, or None."""
        headers = {"If-Match": if_match} if if_match is not None else {}
        expect: Expect = {204: None, 200: None}
        if if_match is not None:
            expect.update(_CONDITION_FAILED)
            expect.update(_KEY_GONE)
        answer = self._send("DELETE", key, headers, expect=expect)
        if answer is None:
            return None
        return 412 if answer.status == 409 else answer.status

    def close(self) -> None:
        self._pool.clear()

    # -- one request ----------------------------------------------------------------------------------------
    def _send(self, method: str, key: str, headers: dict[str, str], *, expect: Expect,
              body: bytes | BinaryIO | None = None) -> urllib3.BaseHTTPResponse | None:
        if self._off.is_set():
            return None
        url = self.url(key)
        request = AWSRequest(method=method, url=url, headers=headers)
        try:
            _UnsignedBody(self._credentials.get_frozen_credentials(), "s3", self.region).add_auth(request)
        except Exception as exc:  # credentials that cannot be refreshed here, a signer surprise
            log.info("direct S3 requests off (%s): sending every call through botocore", exc)
            self._off.set()
            return None
        try:
            answer = self._pool.urlopen(method, url, body=body, headers=dict(request.headers.items()),
                                        redirect=False, retries=False, preload_content=True)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            log.debug("direct S3 %s %s: %s; botocore repeats it", method, key, exc)
            return None
        status = answer.status
        code = _error_code(answer.data) if status >= 300 and method != "HEAD" else ""
        if status in expect:
            accepted = expect[status]
            if accepted is None or code in accepted:
                self.sent += 1
                return answer
        # A HEAD's answer has no body to name the error: a 400 to a HEAD is a bucket in another region
        if status == 301 or code in _WRONG_FOR_ENDPOINT or (method == "HEAD" and status == 400):
            log.info("direct S3 requests to %s answered %s %s: sending every call through botocore from now on",
                     self.endpoint.base, status, code)
            self._off.set()
        return None


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _error_code(body: bytes | None) -> str:
    found = _ERROR_CODE.search(body or b"")
    return found.group(1).decode(errors="replace") if found else ""


def _head_result(headers: Any) -> dict[str, Any]:
    """botocore's head_object result, for the fields the storage reads."""
    result: dict[str, Any] = {"ContentLength": int(headers.get("Content-Length", 0)),
                              "Metadata": {name.lower()[len("x-amz-meta-"):]: value for name, value in headers.items()
                                           if name.lower().startswith("x-amz-meta-")}}
    for field, header in (("ETag", "ETag"), ("ContentType", "Content-Type"), ("CacheControl", "Cache-Control"),
                          ("ChecksumSHA256", "x-amz-checksum-sha256"), ("ChecksumType", "x-amz-checksum-type")):
        value = headers.get(header)
        if value is not None:
            result[field] = value
    modified = headers.get("Last-Modified")
    if modified:
        try:
            result["LastModified"] = parsedate_to_datetime(modified)
        except (TypeError, ValueError):
            pass
    return result

