"""An S3 target (AWS, moto, MinIO): endpoint and credentials come from the standard AWS settings.

Downloads are staged in a local spool file while they are hashed; only verified bytes are uploaded,
so a corrupt download never reaches the bucket.  A file goes up in one PutObject (up to S3's 5 GiB
limit) carrying the SHA-256 its download was verified against as ChecksumSHA256: S3 checks the bytes
it receives against it and keeps it as the object's full-object checksum, and no byte is hashed a
second time on the way up.  Larger files go up as multipart uploads with SHA-256 checksums per part.

The busiest calls (PUT, HEAD, GET and DELETE of one object) go first over the engine's own connection
pool, signed with botocore's signer (`s3direct`); botocore's client, made on first need, takes every
other call and repeats any of those whose first answer was not one the caller expects.

Package files (``packages/``) are written once: every new one is created with ``If-None-Match: *``
(single-part PUT and CompleteMultipartUpload alike), so a bucket policy can deny any PutObject there
that lacks the header.  A 412 means the key is already taken: the stored bytes are hashed, and the run
carries on when they are the file's, or fails that file with a clear error when they are not.
"""

from __future__ import annotations

import base64
import concurrent.futures as cf
import contextlib
import hashlib
import os
import re
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from cloudpypi.errors import StorageError
from cloudpypi.layout import FILES_PREFIX
from cloudpypi.storage.base import ObjectInfo, Staging, Storage, check_key
from cloudpypi.storage.s3direct import DirectS3, endpoint_for, sha256_b64

# One PutObject up to S3's own limit for a single PUT (docs/DESIGN.md, "O_DIRECT staging and one PUT
# per file"): multipart parts need checksums of their own (a second SHA-256 pass over every byte) and each
# part is read into a new buffer; one PUT sends the spool file as it is, checked against the file's SHA-256.
MULTIPART_THRESHOLD = 5 * 2**30
MULTIPART_CHUNK = 16 * 2**20
# An S3-compatible store whose single PUT is smaller than AWS's 5 GiB sets CLOUDPYPI_S3_MULTIPART_THRESHOLD
# (bytes): files from that size on go up in 16 MiB parts, each with its own SHA-256.
THRESHOLD_VARIABLE = "CLOUDPYPI_S3_MULTIPART_THRESHOLD"
CONNECT_TIMEOUT = 10
READ_TIMEOUT = 60
MULTIPART_CONCURRENCY = 4  # parts of one upload in flight: at most this many chunks in memory
WRITE_ONCE_PREFIX = FILES_PREFIX


def multipart_threshold() -> int:
    """The size from which uploads are multipart: MULTIPART_THRESHOLD unless the environment lowers it."""
    text = os.environ.get(THRESHOLD_VARIABLE, "").strip()
    if not text:
        return MULTIPART_THRESHOLD
    if not text.isdigit() or not MULTIPART_CHUNK <= int(text) <= MULTIPART_THRESHOLD:
        raise StorageError(f"{THRESHOLD_VARIABLE}={text!r}: give a number of bytes from {MULTIPART_CHUNK} "
                           f"(16 MiB) to {MULTIPART_THRESHOLD} (5 GiB)")
    return int(text)


_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
TOLERATED: Any = object()  # what _call returns for an error code the caller expects
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})
_NONE: frozenset[str] = frozenset()
_PRECONDITION = frozenset({"412", "PreconditionFailed", "409", "ConditionalRequestConflict"})


def parse_s3_url(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise StorageError(f"expected s3://bucket[/prefix], got {url!r}")
    if not _BUCKET_NAME.match(parts.netloc):
        raise StorageError(f"{parts.netloc!r} is not a valid S3 bucket name (3-63 of a-z, 0-9, '.', '-')")
    prefix = parts.path.strip("/")
    if prefix:
        check_key(prefix)
        prefix += "/"
    return parts.netloc, prefix


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class SpoolStaging(Staging):
    def __init__(self, directory: Path) -> None:
        self.path = directory / f"{os.getpid()}-{uuid.uuid4().hex}.part"
        self._file = open(self.path, "xb", buffering=0)

    def write(self, data: bytes) -> int:
        return self._file.write(data)

    def close(self) -> None:
        self._file.close()


class _EnvironmentSettings:
    """Region and credentials straight from the environment, where botocore's session would resolve them
    to exactly these: keys and region in environment variables, no profile named (a named profile makes
    botocore skip the environment's keys) and no AWS config file (which could name an endpoint).  Loading
    botocore's session costs a short run (a no-op sync) about 0.06 CPU s."""

    def __init__(self, region: str, key: str, secret: str, token: str | None) -> None:
        self.region, self._keys = region, (key, secret, token)

    @classmethod
    def when_complete(cls) -> _EnvironmentSettings | None:
        env = os.environ
        key, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
        region = env.get("AWS_DEFAULT_REGION")
        if not (key and secret and region) or env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE"):
            return None
        if env.get("AWS_CREDENTIAL_EXPIRATION"):
            return None
        config_file = Path(env.get("AWS_CONFIG_FILE") or "~/.aws/config").expanduser()
        if config_file.exists():
            return None
        return cls(region, key, secret, env.get("AWS_SESSION_TOKEN") or env.get("AWS_SECURITY_TOKEN") or None)

    def get_scoped_config(self) -> dict[str, Any]:
        return {}

    def get_config_variable(self, name: str) -> str | None:
        return self.region if name == "region" else None

    def get_credentials(self) -> Any:
        from botocore.credentials import Credentials

        return Credentials(*self._keys, method="env")


class S3Storage(Storage):
    network_bound = True  # every write is a request to the S3 endpoint

    def __init__(self, url: str, max_connections: int = 24, spool_dir: str | None = None, *,
                 direct: bool = True) -> None:
        self.bucket, self.prefix = parse_s3_url(url)
        self.url = f"s3://{self.bucket}/{self.prefix}"
        self._max_connections = max_connections
        self._session_made: Any = None
        self._client: Any = None
        self._client_lock = threading.Lock()
        self.direct = self._direct_path(max_connections) if direct else None
        if self.direct is None:
            self.client  # noqa: B018 (made now, so that a bad configuration fails before the run starts)
        self.multipart_threshold = multipart_threshold()
        spool_root = os.environ.get("CLOUDPYPI_SPOOL_DIR") or spool_dir or tempfile.gettempdir()
        self.spool = Path(spool_root) / "cloudpypi-spool"
        self.spool.mkdir(parents=True, exist_ok=True)

    @property
    def _session(self) -> Any:
        """botocore's session (profile, region, credential chain), loaded on first need."""
        if self._session_made is None:
            import botocore.session

            self._session_made = botocore.session.Session()
        return self._session_made

    def _make_client(self) -> Any:
        from botocore.config import Config as BotoConfig

        config = BotoConfig(
            max_pool_connections=self._max_connections,
            # Every upload carries a checksum header (ChecksumSHA256 of verified bytes, or one botocore
            # computes), which SigV4 signs and S3 checks against the body.  Over HTTPS botocore then
            # leaves the body itself out of the signature; over plain HTTP (moto, a MinIO without TLS)
            # it would hash every byte once more for the signature alone.
            s3={"payload_signing_enabled": False},
            # "standard" retries throttling (SlowDown, 503) and 5xx with exponential backoff and jitter.
            retries={"mode": "standard", "max_attempts": 10},
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
        )
        return self._session.create_client("s3", config=config)

    @property
    def client(self) -> Any:
        """botocore's S3 client, made on first use: a run whose calls all go the direct way never pays for
        loading the S3 model and endpoint rules."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    try:
                        self._client = self._make_client()
                    except BotoCoreError as exc:
                        raise StorageError(f"cannot create an S3 client: {exc}") from None
        return self._client

    def _direct_path(self, max_connections: int) -> DirectS3 | None:
        settings = _EnvironmentSettings.when_complete()
        try:
            source = settings or self._session
            endpoint = endpoint_for(self.bucket, source)
            region = source.get_config_variable("region")
            credentials = source.get_credentials() if endpoint and region else None
        except BotoCoreError:  # reported by the client with its own words on first use
            return None
        if endpoint is None or not region or credentials is None:
            return None
        return DirectS3(self.bucket, endpoint, region, credentials, max_connections=max_connections,
                        connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT)

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _head(self, key: str, *, checksum: bool = False) -> Any:
        if self.direct is not None:
            found = self.direct.head_object(self._key(key), checksum_mode=checksum)
            if isinstance(found, dict):
                return found
            if found == 404:
                return TOLERATED
        extra = {"ChecksumMode": "ENABLED"} if checksum else {}
        return self._call("HEAD", self.client.head_object, tolerate=_MISSING, Key=self._key(key), **extra)

    def _put_direct(self, key: str, body: bytes | BinaryIO, *, size: int, sha256_b64: str, content_type: str,
                    cache_control: str | None = None, metadata: dict[str, str] | None = None,
                    if_none_match: bool = False, if_match: str | None = None) -> Any:
        """The direct PUT's outcome: the new object's ETag (a str) when stored, TOLERATED when its condition
        failed, None when botocore must send it (the body, if a file, rewound for that)."""
        if self.direct is None:
            return None
        done = self.direct.put_object(self._key(key), body, size=size, sha256_b64=sha256_b64,
                                      content_type=content_type, cache_control=cache_control, metadata=metadata,
                                      if_none_match=if_none_match, if_match=if_match)
        if isinstance(done, str):
            return done
        if done in (404, 412):
            return TOLERATED
        if not isinstance(body, bytes):
            body.seek(0)
        return None

    def _call(self, what: str, func: Any, *, tolerate: frozenset[str] = frozenset(), **kwargs: Any) -> Any:
        """One S3 call with every botocore error turned into a StorageError, except the error codes in
        `tolerate` (a missing key, a failed precondition), for which it returns TOLERATED."""
        try:
            return func(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            if _error_code(exc) in tolerate:
                return TOLERATED
            raise StorageError(f"S3 {what} s3://{self.bucket}/{kwargs.get('Key', '')}: {exc}") from None
        except BotoCoreError as exc:
            raise StorageError(f"S3 {what} on bucket {self.bucket}: {exc}") from None

    # -- reading ---------------------------------------------------------
    def stat(self, key: str) -> ObjectInfo | None:
        head = self._head(key)
        if head is TOLERATED:
            return None
        return ObjectInfo(
            key=key,
            size=head["ContentLength"],
            sha256=head.get("Metadata", {}).get("sha256"),
            content_type=head.get("ContentType"),
            cache_control=head.get("CacheControl"),
            etag=head.get("ETag"),
            last_modified=head["LastModified"].timestamp() if head.get("LastModified") else None,
        )

    @contextlib.contextmanager
    def open_read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[BinaryIO]:
        kwargs: dict[str, Any] = {}
        if start or end is not None:
            kwargs["Range"] = f"bytes={start}-{'' if end is None else end}"
        response = self._call("GET", self.client.get_object, tolerate=_MISSING, Key=self._key(key), **kwargs)
        if response is TOLERATED:
            raise FileNotFoundError(key)
        body = response["Body"]
        try:
            yield body
        finally:
            body.close()

    def content_sha256(self, key: str) -> tuple[str, int] | None:
        """S3's own SHA-256 where S3 computed it from the whole object's bytes, else the bytes, hashed.

        A full-object ChecksumSHA256 exists only when the PUT carried one, and S3 refuses a PUT whose
        bytes do not match it (BadDigest): no writer can make it lie.  A multipart object's checksum is
        a checksum of the parts' checksums (ChecksumType COMPOSITE), which says nothing comparable to a
        file's sha256, so such objects are read and hashed, as are objects with no checksum at all.
        """
        head = self._head(key, checksum=True)
        if head is TOLERATED:
            return None
        checksum = head.get("ChecksumSHA256")
        if checksum and head.get("ChecksumType") == "FULL_OBJECT":
            with contextlib.suppress(ValueError):
                return base64.b64decode(checksum, validate=True).hex(), head["ContentLength"]
        return super().content_sha256(key)

    def read_bytes(self, key: str) -> bytes | None:
        if self.direct is not None:
            found = self.direct.get_object_bytes(self._key(key))
            if isinstance(found, bytes):
                return found
            if found == 404:
                return None
        return super().read_bytes(key)

    def iter_keys(self, prefix: str) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                for item in page.get("Contents", ()):
                    yield item["Key"][len(self.prefix):]
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"S3 LIST s3://{self.bucket}/{self.prefix}{prefix}: {exc}") from None

    # -- writing ---------------------------------------------------------
    def write_bytes(self, key: str, data: bytes, *, content_type: str,
                    cache_control: str | None = None) -> str | None:
        etag = self._put_direct(key, data, size=len(data), sha256_b64=sha256_b64(data), content_type=content_type,
                                cache_control=cache_control)
        if isinstance(etag, str):
            return etag or None
        extra = {"CacheControl": cache_control} if cache_control else {}
        done = self._call("PUT", self.client.put_object, Key=self._key(key), Body=data, ContentType=content_type,
                          ChecksumAlgorithm="SHA256", **extra)
        return done.get("ETag") or None

    def new_staging(self, size: int | None = None) -> SpoolStaging:
        return SpoolStaging(self.spool)

    def publish(self, staging: Staging, key: str, *, sha256: str, size: int, content_type: str,
                cache_control: str | None = None) -> None:
        assert isinstance(staging, SpoolStaging)
        staging.close()
        extra: dict[str, Any] = {"ContentType": content_type, "Metadata": {"sha256": sha256}}
        if cache_control:
            extra["CacheControl"] = cache_control
        write_once = key.startswith(WRITE_ONCE_PREFIX)
        try:
            if size < self.multipart_threshold:
                condition: dict[str, Any] = {"IfNoneMatch": "*"} if write_once else {}
                with open(staging.path, "rb") as body:
                    # We already know the digest: S3 verifies it server-side without botocore re-hashing.
                    checksum = base64.b64encode(bytes.fromhex(sha256)).decode()
                    done = self._put_direct(key, body, size=os.fstat(body.fileno()).st_size, sha256_b64=checksum,
                                            content_type=content_type, cache_control=cache_control,
                                            metadata={"sha256": sha256}, if_none_match=write_once)
                    if done is None:
                        done = self._call("PUT", self.client.put_object,
                                          tolerate=_PRECONDITION if write_once else _NONE, Key=self._key(key),
                                          Body=body, ChecksumSHA256=checksum, **condition, **extra)
            else:
                done = self._multipart_upload(staging.path, key, extra, write_once)
        finally:
            with contextlib.suppress(FileNotFoundError):
                staging.path.unlink()
        if done is TOLERATED:
            self._settle_existing(key, sha256, size)

    def _settle_existing(self, key: str, sha256: str, size: int) -> None:
        """After a 412 on a write-once key: the bytes already stored must be this file's."""
        found = self.content_sha256(key)
        if found is None:
            raise StorageError(f"S3 conditional PUT s3://{self.bucket}/{self._key(key)}: refused as existing, "
                               "yet nothing is stored there (a concurrent delete?); the next run retries it")
        if found != (sha256, size):
            raise StorageError(
                f"s3://{self.bucket}/{self._key(key)} already holds other bytes (sha256 {found[0]}, {found[1]} "
                f"bytes; the file is {sha256}, {size} bytes) and packages/ is write-once: run "
                "`cloudpypi verify --origin URL --repair` to restore the origin's file")

    def _multipart_upload(self, path: Path, key: str, extra: dict[str, Any], write_once: bool) -> Any:
        """A multipart upload with a SHA-256 checksum per part; created with If-None-Match when write_once.

        Returns TOLERATED when the key already exists (412 on completion)."""
        target = self._key(key)
        created = self._call("multipart create", self.client.create_multipart_upload, Key=target,
                             ChecksumAlgorithm="SHA256", **extra)
        upload_id = created["UploadId"]

        def part(number: int) -> dict[str, Any]:
            with open(path, "rb") as handle:
                handle.seek((number - 1) * MULTIPART_CHUNK)
                chunk = handle.read(MULTIPART_CHUNK)
            checksum = base64.b64encode(hashlib.sha256(chunk).digest()).decode()
            answer = self._call("multipart part", self.client.upload_part, Key=target, UploadId=upload_id,
                                PartNumber=number, Body=chunk, ChecksumSHA256=checksum)
            return {"PartNumber": number, "ETag": answer["ETag"], "ChecksumSHA256": checksum}

        count = max(1, -(-path.stat().st_size // MULTIPART_CHUNK))
        try:
            with cf.ThreadPoolExecutor(min(MULTIPART_CONCURRENCY, count), thread_name_prefix="s3-part") as pool:
                parts = list(pool.map(part, range(1, count + 1)))
            condition = {"IfNoneMatch": "*"} if write_once else {}
            done = self._call("multipart complete", self.client.complete_multipart_upload,
                              tolerate=_PRECONDITION if write_once else _NONE, Key=target,
                              UploadId=upload_id, MultipartUpload={"Parts": parts}, **condition)
        except BaseException:
            with contextlib.suppress(StorageError):
                self._call("multipart abort", self.client.abort_multipart_upload, tolerate=_MISSING | {"NoSuchUpload"},
                           Key=target, UploadId=upload_id)
            raise
        if done is TOLERATED:  # the upload is not completed: its parts must not linger (they are billed)
            with contextlib.suppress(StorageError):
                self._call("multipart abort", self.client.abort_multipart_upload, tolerate=_MISSING | {"NoSuchUpload"},
                           Key=target, UploadId=upload_id)
        return done

    def discard(self, staging: Staging) -> None:
        assert isinstance(staging, SpoolStaging)
        staging.close()
        with contextlib.suppress(FileNotFoundError):
            staging.path.unlink()

    def delete(self, key: str) -> None:
        if self.direct is not None and self.direct.delete_object(self._key(key)) is not None:
            return
        self._call("DELETE", self.client.delete_object, Key=self._key(key))

    # -- compare-and-swap for the lock -------------------------------------
    def create_exclusive(self, key: str, data: bytes) -> bool:
        done = self._put_direct(key, data, size=len(data), sha256_b64=sha256_b64(data),
                                content_type="application/json", if_none_match=True)
        if done is not None:
            return done is not TOLERATED
        return self._call("conditional PUT", self.client.put_object, tolerate=_PRECONDITION, Key=self._key(key),
                          Body=data, IfNoneMatch="*", ContentType="application/json",
                          ChecksumAlgorithm="SHA256") is not TOLERATED

    def replace_if_unchanged(self, key: str, data: bytes, etag: str) -> bool:
        done = self._put_direct(key, data, size=len(data), sha256_b64=sha256_b64(data),
                                content_type="application/json", if_match=etag)
        if done is not None:
            return done is not TOLERATED
        return self._call("conditional PUT", self.client.put_object, tolerate=_PRECONDITION | _MISSING,
                          Key=self._key(key), Body=data, IfMatch=etag, ContentType="application/json",
                          ChecksumAlgorithm="SHA256") is not TOLERATED

    def delete_if_unchanged(self, key: str, etag: str) -> bool:
        info = self.stat(key)
        if info is None or info.etag != etag:
            return False
        if self.direct is not None:
            done = self.direct.delete_object(self._key(key), if_match=etag)
            if done is not None:
                return done in (200, 204)
        return self._call("conditional DELETE", self.client.delete_object, tolerate=_PRECONDITION | _MISSING,
                          Key=self._key(key), IfMatch=etag) is not TOLERATED

    def cleanup_staging(self) -> int:
        """Remove spool files of runs that are gone (SIGKILLed, OOM-killed).  The spool is local and may be
        shared with syncs to other buckets, so a file is removed only when its process no longer exists."""
        removed = 0
        for entry in self.spool.glob("*-*.part"):
            pid = entry.name.split("-", 1)[0]
            if not pid.isdigit() or (int(pid) != os.getpid() and _process_exists(int(pid))):
                continue
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
                removed += 1
        return removed

    def close(self) -> None:
        if self.direct is not None:
            self.direct.close()
        if self._client is not None:
            self._client.close()
