"""Publish bytes through a storage's own staging path, as a verified download would be published."""

from __future__ import annotations

import hashlib

from cloudpypi.storage.base import Storage


def publish(storage: Storage, key: str, data: bytes, content_type: str = "application/zip") -> str:
    """Stage data, publish it under key with its SHA-256 and size; returns the hex digest."""
    digest = hashlib.sha256(data).hexdigest()
    staging = storage.new_staging()
    staging.write(data)
    storage.publish(staging, key, sha256=digest, size=len(data), content_type=content_type)
    return digest
