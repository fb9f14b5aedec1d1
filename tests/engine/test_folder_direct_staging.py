"""Big files are staged past the page cache (O_DIRECT) on the folder target: the bytes published are
exactly the bytes written, whatever the chunks' alignment, and a file system without O_DIRECT, or a
small file, is written as before."""

from __future__ import annotations

import hashlib
import mmap
import os
from pathlib import Path

import pytest

from cloudpypi.storage.folder import DIRECT_MIN_BYTES, FolderStaging, FolderStorage


def aligned_chunks(data: bytes, size: int = 1 << 20):
    """data as views of one page-aligned buffer, as the download loop hands them out."""
    buffer = memoryview(mmap.mmap(-1, size))
    for offset in range(0, len(data), size):
        piece = data[offset:offset + size]
        buffer[:len(piece)] = piece
        yield buffer[:len(piece)]


@pytest.mark.parametrize("size", [DIRECT_MIN_BYTES + 12345, DIRECT_MIN_BYTES + (1 << 20)], ids=["tail", "aligned"])
def test_a_big_staged_file_is_published_byte_for_byte(tmp_path: Path, size: int):
    storage = FolderStorage(tmp_path / "mirror")
    data = os.urandom(size)
    staging = storage.new_staging(size)
    for chunk in aligned_chunks(data):
        staging.write(chunk)
    storage.publish(staging, "packages/aa/big.whl", sha256=hashlib.sha256(data).hexdigest(), size=size,
                    content_type="application/zip")
    assert (tmp_path / "mirror" / "packages" / "aa" / "big.whl").read_bytes() == data


def test_unaligned_writes_to_a_direct_staging_file_fall_back_to_the_page_cache(tmp_path: Path):
    staging = FolderStaging(tmp_path / "x.part", direct=True)
    staging.write(b"abc")  # a bytes object, 3 bytes: refused by O_DIRECT, written all the same
    staging.write(b"defgh")
    staging.close()
    assert (tmp_path / "x.part").read_bytes() == b"abcdefgh"


def test_a_file_system_without_o_direct_stages_as_before(tmp_path: Path, monkeypatch):
    real_open = os.open

    def no_direct(path, flags, *args):
        if flags & os.O_DIRECT:
            raise OSError(22, "Invalid argument")  # what tmpfs answered before Linux 6.6
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", no_direct)
    staging = FolderStaging(tmp_path / "y.part", direct=True)
    staging.write(b"bytes")
    staging.close()
    assert (tmp_path / "y.part").read_bytes() == b"bytes"


def test_small_and_unknown_sizes_are_staged_through_the_page_cache(tmp_path: Path):
    storage = FolderStorage(tmp_path / "mirror")
    for size in (None, DIRECT_MIN_BYTES - 1):
        staging = storage.new_staging(size)
        assert not staging._direct, f"expected a buffered staging file for size {size}"
        storage.discard(staging)
    big = storage.new_staging(DIRECT_MIN_BYTES)
    storage.discard(big)
