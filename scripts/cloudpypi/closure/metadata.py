"""Core metadata: the parts the resolver needs, from a PEP 658 .metadata file or a wheel.  Pure but for zip reading."""

from __future__ import annotations

import logging
import zipfile
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path

from cloudpypi.errors import OriginError

log = logging.getLogger(__name__)

MAX_METADATA_BYTES = 16 * 2**20


@dataclass(frozen=True)
class CoreMetadata:
    requires_dist: tuple[str, ...]
    requires_python: str | None


def parse_metadata(raw: bytes, what: str) -> CoreMetadata:
    if len(raw) > MAX_METADATA_BYTES:
        raise OriginError(f"{what}: core metadata of {len(raw)} bytes is implausibly large")
    text = raw.decode("utf-8", "replace")
    headers = HeaderParser().parsestr(text, headersonly=True)
    if not headers.get("Name"):
        raise OriginError(f"{what}: core metadata has no Name field")
    requires = tuple(value.strip() for value in headers.get_all("Requires-Dist") or () if value.strip())
    requires_python = (headers.get("Requires-Python") or "").strip() or None
    return CoreMetadata(requires, requires_python)


def metadata_from_wheel(path: Path, filename: str) -> bytes:
    """The METADATA member of a wheel's .dist-info directory (there must be exactly one)."""
    try:
        with zipfile.ZipFile(path) as wheel:
            members = [n for n in wheel.namelist()
                       if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
            if len(members) != 1:
                raise OriginError(f"{filename}: expected one .dist-info/METADATA, found {len(members)}")
            info = wheel.getinfo(members[0])
            if info.file_size > MAX_METADATA_BYTES:
                raise OriginError(f"{filename}: METADATA of {info.file_size} bytes is implausibly large")
            return wheel.read(members[0])
    except zipfile.BadZipFile as exc:
        raise OriginError(f"{filename}: not a valid wheel ({exc})") from None
