"""The raw limits: the same files copied with nothing but a parallel loop, as a child process.

    python -m bench.rawcopy http --list urls.tsv --dest DIR --workers 10 [--sha256]
    python -m bench.rawcopy s3 --list urls.tsv --bucket NAME --workers 10

`http`: urllib3 GET streamed into a file per URL (path after the host), 1 MiB reads.  With `--sha256`,
every chunk also goes through hashlib's SHA-256 (OpenSSL) as it arrives: the verifying limit, the
least a mirror that checks every byte can spend.
`s3`: urllib3 GET streamed straight into boto3 `upload_fileobj` (the endpoint from AWS_ENDPOINT_URL),
with the engine's multipart threshold, part size and per-file part concurrency.
No hashing, no verification, no pages, no state: the ceiling the engine is measured against.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import hashlib
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import urllib3

CHUNK = 1 << 20
MULTIPART = 16 * 2**20  # s3transfer's usual 16 MiB parts (the engine's MULTIPART_CHUNK; it sends one PUT up to 5 GiB)
PART_CONCURRENCY = 4  # parts of one file in flight


def read_list(path: Path) -> list[str]:
    return [line.split("\t", 1)[0] for line in path.read_text().splitlines() if line.strip()]


def _chunks(response: Any, readinto: bool) -> Any:
    """The body in CHUNK pieces: urllib3's stream() (a new bytes object per chunk), or with `readinto`
    views of one reused buffer filled from the http.client response underneath (what the engine does)."""
    if not readinto:
        yield from response.stream(CHUNK, decode_content=False)
        return
    buffer = memoryview(bytearray(CHUNK))
    while count := response._fp.readinto(buffer):
        yield buffer[:count]


def fetch_to_folder(http: urllib3.PoolManager, url: str, dest: Path, hashing: bool = False,
                    readinto: bool = False) -> int:
    target = dest / urlsplit(url).path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    response = http.request("GET", url, preload_content=False)
    try:
        if response.status != 200:
            raise RuntimeError(f"{url}: HTTP {response.status}")
        size = 0
        digest = hashlib.sha256() if hashing else None
        with open(target, "wb", buffering=0) as out:
            for chunk in _chunks(response, readinto):
                if digest:
                    digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
        return size
    finally:
        response.release_conn()


class _Counting:
    """A read()-able wrapper over a urllib3 response for upload_fileobj."""

    def __init__(self, response: Any) -> None:
        self.response = response
        self.size = 0

    def read(self, amount: int = -1) -> bytes:
        data = self.response.read(amount if amount and amount > 0 else None, decode_content=False)
        self.size += len(data)
        return data


def fetch_to_s3(http: urllib3.PoolManager, client: Any, config: Any, bucket: str, url: str) -> int:
    key = urlsplit(url).path.lstrip("/")
    response = http.request("GET", url, preload_content=False)
    try:
        if response.status != 200:
            raise RuntimeError(f"{url}: HTTP {response.status}")
        body = _Counting(response)
        client.upload_fileobj(body, bucket, key, Config=config)
        return body.size
    finally:
        response.release_conn()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rawcopy", description="Raw parallel copy of a URL list.")
    parser.add_argument("mode", choices=("http", "s3"), help="into a folder (http) or into S3 (s3)")
    parser.add_argument("--list", type=Path, required=True, help="file of URLs, one per line (TAB-separated extras)")
    parser.add_argument("--workers", type=int, default=10, help="concurrent files (default 10)")
    parser.add_argument("--dest", type=Path, help="folder (http mode)")
    parser.add_argument("--bucket", help="bucket (s3 mode; endpoint from AWS_ENDPOINT_URL)")
    parser.add_argument("--sha256", action="store_true", help="http mode: SHA-256 of every byte as it arrives")
    parser.add_argument("--readinto", action="store_true",
                        help="http mode: read into one reused buffer per download instead of urllib3's stream()")
    args = parser.parse_args(argv)
    urls = read_list(args.list)
    http = urllib3.PoolManager(maxsize=args.workers + 2, retries=urllib3.Retry(3))
    if args.mode == "http":
        if not args.dest:
            parser.error("http mode needs --dest")

        def one(url: str) -> int:
            return fetch_to_folder(http, url, args.dest, args.sha256, args.readinto)
    else:
        if not args.bucket:
            parser.error("s3 mode needs --bucket")
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        client = boto3.session.Session().client(
            "s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"),
            config=Config(max_pool_connections=args.workers * PART_CONCURRENCY + 4))
        transfer = TransferConfig(multipart_threshold=MULTIPART, multipart_chunksize=MULTIPART,
                                  max_concurrency=PART_CONCURRENCY, use_threads=True)

        def one(url: str) -> int:
            return fetch_to_s3(http, client, transfer, args.bucket, url)

    total = 0
    with cf.ThreadPoolExecutor(args.workers) as pool:
        for size in pool.map(one, urls):
            total += size
    print(f"copied {len(urls)} files, {total} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
