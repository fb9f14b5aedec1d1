"""Read-only views of a mirror (folder or S3 bucket), used by the consistency checker.

The views read the target directly (the folder on disk; the bucket through boto3 pointed at moto
itself, never through the fault proxy), so what they see is what a client would be served.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


class MirrorView(Protocol):
    name: str

    def keys(self, prefix: str = "") -> Iterator[str]: ...

    def read(self, key: str) -> bytes | None: ...

    def sha256(self, key: str) -> tuple[str, int] | None: ...

    def stored_sha256(self, key: str) -> str | None:
        """The sha256 the backend recorded for the object (S3 metadata), or None."""

    def headers(self, key: str) -> tuple[str | None, str | None]:
        """(Content-Type, Cache-Control) the backend serves the object with, where it stores them."""


@dataclass
class FolderView:
    root: Path

    @property
    def name(self) -> str:
        return str(self.root)

    def keys(self, prefix: str = "") -> Iterator[str]:
        base = self.root / prefix if prefix else self.root
        if not base.exists():
            return
        for path in sorted(base.rglob("*")):
            if path.is_file():
                yield path.relative_to(self.root).as_posix()

    def read(self, key: str) -> bytes | None:
        path = self.root / key
        return path.read_bytes() if path.is_file() else None

    def sha256(self, key: str) -> tuple[str, int] | None:
        path = self.root / key
        if not path.is_file():
            return None
        digest, size = hashlib.sha256(), 0
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
        return digest.hexdigest(), size

    def stored_sha256(self, key: str) -> str | None:
        return None

    def headers(self, key: str) -> tuple[str | None, str | None]:
        return None, None


@dataclass
class S3View:
    client: Any  # a boto3 S3 client talking to moto directly
    bucket: str
    prefix: str = ""

    @property
    def name(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def keys(self, prefix: str = "") -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
            for item in page.get("Contents", ()):
                yield item["Key"][len(self.prefix):]

    def _get(self, key: str) -> Any | None:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
        except self.client.exceptions.NoSuchKey:
            return None

    def read(self, key: str) -> bytes | None:
        response = self._get(key)
        return None if response is None else response["Body"].read()

    def sha256(self, key: str) -> tuple[str, int] | None:
        response = self._get(key)
        if response is None:
            return None
        digest, size = hashlib.sha256(), 0
        for chunk in response["Body"].iter_chunks(1 << 20):
            digest.update(chunk)
            size += len(chunk)
        return digest.hexdigest(), size

    def stored_sha256(self, key: str) -> str | None:
        head = self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)
        return head.get("Metadata", {}).get("sha256")

    def headers(self, key: str) -> tuple[str | None, str | None]:
        head = self.head(key)
        return head.get("ContentType"), head.get("CacheControl")

    def head(self, key: str) -> dict[str, Any]:
        return self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)
