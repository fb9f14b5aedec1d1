"""Is this file a distribution we may publish?  Checked whole before anything is stored.

A wheel (``.whl``) or an sdist (``.tar.gz``, PEP 625) whose filename parses, whose archive holds no
member that could escape it, whose core metadata (the wheel's ``*.dist-info/METADATA``, the sdist's
``PKG-INFO``) parses with packaging and names the same project and version as the filename, and whose
size is within the limit.  Nothing here writes anything.
"""

from __future__ import annotations

import hashlib
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from packaging.metadata import InvalidMetadata, Metadata
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from cloudpypi.errors import CloudPyPIError, UnsafeInput
from cloudpypi.paths import check_filename

MAX_METADATA_SIZE = 4 * 2**20  # a core metadata file larger than this is no honest one (a zip bomb?)
_SDIST_SUFFIX = ".tar.gz"


class UploadRefused(CloudPyPIError):
    """A distribution that is not uploaded as it is: nothing was written."""

    exit_code = 2


@dataclass(frozen=True)
class Distribution:
    """A validated distribution file, ready to store."""

    path: Path
    filename: str
    name: str  # normalized
    version: str
    size: int
    sha256: str
    metadata: bytes | None  # core metadata to publish beside it (PEP 658), or None
    requires_python: str | None


def validate(path: Path, max_size: int) -> Distribution:
    path = Path(path)
    filename = path.name
    try:
        check_filename(filename)
    except UnsafeInput as exc:
        raise UploadRefused(f"{path}: {exc}") from None
    if not path.is_file():
        raise UploadRefused(f"{path}: not a file")
    size = path.stat().st_size
    if size == 0:
        raise UploadRefused(f"{path}: the file is empty")
    if size > max_size:
        raise UploadRefused(f"{path}: {size} bytes is over the upload limit of {max_size} bytes "
                            "([private] max_upload_size)")
    if filename.endswith(".whl"):
        name, version, raw, publish = _wheel(path, filename)
    elif filename.endswith(_SDIST_SUFFIX):
        name, version, raw, publish = _sdist(path, filename)
    else:
        raise UploadRefused(f"{path}: not a distribution: a wheel (.whl) or an sdist (.tar.gz, PEP 625)")
    metadata = _metadata(path, raw)
    if canonicalize_name(metadata.name) != name:
        raise UploadRefused(f"{path}: its metadata names the project {metadata.name!r}, its filename {name!r}")
    if metadata.version != version:
        raise UploadRefused(f"{path}: its metadata says version {metadata.version}, its filename {version}")
    if publish and metadata.metadata_version in ("1.0", "1.1", "1.2", "2.1") and not filename.endswith(".whl"):
        publish = False  # an sdist's PKG-INFO before 2.2 may differ from what building it yields
    if publish and not filename.endswith(".whl") and metadata.dynamic:
        publish = False  # fields its build computes: its PKG-INFO is not the installed metadata
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    requires = str(metadata.requires_python) if metadata.requires_python is not None else None
    return Distribution(path, filename, name, str(version), size, digest.hexdigest(), raw if publish else None,
                        requires)


def _wheel(path: Path, filename: str) -> tuple[str, Version, bytes, bool]:
    try:
        name, version, _build, _tags = parse_wheel_filename(filename)
    except InvalidWheelFilename as exc:
        raise UploadRefused(f"{path}: not a valid wheel filename: {exc}") from None
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UploadRefused(f"{path}: not a valid wheel (a zip archive): {exc}") from None
    with archive:
        members = archive.infolist()
        for member in members:
            _check_member(path, member.filename)
        dist_infos = {PurePosixPath(m.filename).parts[0] for m in members
                      if len(PurePosixPath(m.filename).parts) == 2 and m.filename.endswith(".dist-info/METADATA")}
        if len(dist_infos) != 1:
            raise UploadRefused(f"{path}: a wheel holds exactly one top-level *.dist-info/METADATA, this one "
                                f"{len(dist_infos)}")
        dist_info = dist_infos.pop()
        dir_name, _, dir_version = dist_info.removesuffix(".dist-info").rpartition("-")
        if canonicalize_name(dir_name) != name or not _same_version(dir_version, version):
            raise UploadRefused(f"{path}: its {dist_info} does not match the filename's {name} {version}")
        info = archive.getinfo(f"{dist_info}/METADATA")
        if info.file_size > MAX_METADATA_SIZE:
            raise UploadRefused(f"{path}: its METADATA is {info.file_size} bytes, over {MAX_METADATA_SIZE}")
        try:
            raw = archive.read(info)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise UploadRefused(f"{path}: its METADATA cannot be read: {exc}") from None
    return name, version, raw, True


def _sdist(path: Path, filename: str) -> tuple[str, Version, bytes, bool]:
    stem = filename[: -len(_SDIST_SUFFIX)]
    try:
        name, version = parse_sdist_filename(filename)
    except InvalidSdistFilename as exc:
        raise UploadRefused(f"{path}: not a valid sdist filename: {exc}") from None
    if "-" in stem.rpartition("-")[0]:
        raise UploadRefused(f"{path}: an sdist's filename has its name normalized with '_' (PEP 625), e.g. "
                            f"{stem.rpartition('-')[0].replace('-', '_')}-{stem.rpartition('-')[2]}{_SDIST_SUFFIX}")
    try:
        archive = tarfile.open(path, mode="r:gz")  # closed below
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise UploadRefused(f"{path}: not a valid sdist (a gzipped tar archive): {exc}") from None
    try:
        members = archive.getmembers()
        for member in members:
            _check_member(path, member.name)
            if member.issym() or member.islnk():
                _check_member(path, member.linkname, link=True)
            elif not (member.isfile() or member.isdir()):
                raise UploadRefused(f"{path}: member {member.name!r} is neither a file nor a folder")
        tops = {PurePosixPath(m.name).parts[0] for m in members if PurePosixPath(m.name).parts}
        if tops != {stem}:
            raise UploadRefused(f"{path}: an sdist holds one top-level folder {stem}/, this one {sorted(tops)[:5]}")
        try:
            member = archive.getmember(f"{stem}/PKG-INFO")
        except KeyError:
            raise UploadRefused(f"{path}: no {stem}/PKG-INFO (an sdist's core metadata)") from None
        if not member.isfile() or member.size > MAX_METADATA_SIZE:
            raise UploadRefused(f"{path}: its PKG-INFO is not a file of at most {MAX_METADATA_SIZE} bytes")
        handle = archive.extractfile(member)
        assert handle is not None
        raw = handle.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise UploadRefused(f"{path}: the archive cannot be read: {exc}") from None
    finally:
        archive.close()
    return name, version, raw, True


def _check_member(path: Path, member: str, *, link: bool = False) -> None:
    """A member name (or a link's target) that could land outside the folder it is unpacked into."""
    what = "link target" if link else "member"
    parts = member.replace("\\", "/").split("/")
    if (not member or member.startswith(("/", "\\")) or "\\" in member or "\x00" in member or ".." in parts
            or (len(member) > 1 and member[1] == ":")):
        raise UploadRefused(f"{path}: archive {what} {member!r} has a path that escapes the archive")


def _same_version(text: str, version: Version) -> bool:
    try:
        return Version(text) == version
    except ValueError:
        return False


def _metadata(path: Path, raw: bytes) -> Metadata:
    try:
        return Metadata.from_email(raw, validate=True)
    except InvalidMetadata as exc:
        raise UploadRefused(f"{path}: invalid core metadata: {exc}") from None
    except ExceptionGroup as group:
        first = group.exceptions[0] if group.exceptions else group
        raise UploadRefused(f"{path}: invalid core metadata: {first}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise UploadRefused(f"{path}: core metadata that cannot be parsed: {exc}") from None
