"""Storage targets: a folder or an S3 bucket, behind one interface (see base.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cloudpypi.paths import default_state_dir
from cloudpypi.storage.base import STATE_PREFIX, ObjectInfo, Staging, Storage

if TYPE_CHECKING:
    from cloudpypi.config import Config

__all__ = ["STATE_PREFIX", "ObjectInfo", "Staging", "Storage", "is_s3_url", "open_target"]


def is_s3_url(target: str) -> bool:
    return target.startswith("s3://")


def open_target(config: Config, target: str | None = None) -> Storage:
    """The storage of the configured target (``s3://bucket[/prefix]`` or a folder path), or of ``target``
    when given (another mirror opened with the same settings)."""
    target = config.target if target is None else target
    workers = config.workers
    if is_s3_url(target):
        from cloudpypi.storage.s3 import S3Storage

        # Spool verified downloads on disk next to the state, not in /tmp (a tmpfs, i.e. RAM, on Debian 13).
        spool = config.state_dir or str(default_state_dir())
        return S3Storage(target, max_connections=workers * 2 + 4, spool_dir=spool)
    from cloudpypi.storage.folder import FolderStorage

    return FolderStorage(target)
