"""Real wheels and sdists for upload tests, built here with zipfile and tarfile (installable by pip).

    wheel(tmp_path, "acme-utils", "1.0")                       a valid wheel
    wheel(tmp_path, "acme-utils", "1.0", metadata_name="x")    one whose METADATA names another project
    sdist(tmp_path, "acme-utils", "1.0")                       a PEP 625 sdist with PKG-INFO
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import tarfile
import zipfile
from pathlib import Path


def escaped(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def metadata_text(name: str, version: str, *, metadata_version: str = "2.1", requires_python: str | None = None,
                  extra: str = "") -> str:
    text = f"Metadata-Version: {metadata_version}\nName: {name}\nVersion: {version}\nSummary: a test package\n"
    if requires_python:
        text += f"Requires-Python: {requires_python}\n"
    return text + extra


def wheel(folder: Path, name: str, version: str, *, metadata_name: str | None = None,
          metadata_version_field: str | None = None, marker: str = "", extra_members: dict[str, bytes] | None = None,
          filename: str | None = None, metadata: str | None = None, dist_info: str | None = None) -> Path:
    """A wheel whose module `<escaped name>` holds MARKER (so tests tell two builds apart)."""
    module = escaped(name)
    dist_info = dist_info or f"{module}-{version}.dist-info"
    members: dict[str, bytes] = {
        f"{module}/__init__.py": f"VERSION = {version!r}\nMARKER = {marker!r}\n".encode(),
        f"{dist_info}/METADATA": (metadata if metadata is not None else metadata_text(
            metadata_name or name, metadata_version_field or version)).encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: cloudpypi-tests\nRoot-Is-Purelib: true\n"
                              b"Tag: py3-none-any\n",
    }
    members.update(extra_members or {})
    record = "".join(f"{path},sha256={_b64(data)},{len(data)}\n" for path, data in members.items())
    members[f"{dist_info}/RECORD"] = (record + f"{dist_info}/RECORD,,\n").encode()
    path = folder / (filename or f"{module}-{version}-py3-none-any.whl")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in members.items():
            archive.writestr(zipfile.ZipInfo(member, (1980, 1, 1, 0, 0, 0)), data)
    return path


def sdist(folder: Path, name: str, version: str, *, metadata_name: str | None = None, filename: str | None = None,
          extra_members: dict[str, bytes] | None = None, metadata_version: str = "2.2") -> Path:
    stem = f"{escaped(name)}-{version}"
    members = {
        f"{stem}/PKG-INFO": metadata_text(metadata_name or name, version, metadata_version=metadata_version).encode(),
        f"{stem}/pyproject.toml": b"[build-system]\nrequires = []\n",
    }
    members.update(extra_members or {})
    path = folder / (filename or f"{stem}.tar.gz")
    with tarfile.open(path, "w:gz") as archive:
        for member, data in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            info.mtime = 1_600_000_000
            archive.addfile(info, io.BytesIO(data))
    return path


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
