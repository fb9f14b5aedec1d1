"""Client and moto CPU per GB of publishing one spooled file to S3, by upload variant.

    python -m bench.s3probe [--size-mb 256] [--files 2] [--variants current,...] [--repeat 2]

Starts a moto server, writes a spool file of `--size-mb` random bytes, and publishes it `--files` times
per variant through `cloudpypi.storage.s3.S3Storage.publish` in a fresh child process, whose user and
system CPU seconds are reported per GB beside the moto server's CPU meanwhile.  A variant is a set of
switches applied in the child before the upload:

- `current`: the code as it is;
- `single`: one PutObject (with the file's SHA-256 as ChecksumSHA256) up to 5 GiB, no multipart;
- `unsigned`: SigV4 without a payload hash (`payload_signing_enabled=False`); over HTTPS botocore
  already leaves a body with a checksum header unsigned, over plain HTTP (moto) it hashes every byte;
- `crc`: multipart parts carry CRC32 instead of SHA-256.

Variants combine with `+` (`single+unsigned`).  They alternate within each repeat.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path


def child(variant: str, path: str, files: int, sha256: str) -> dict[str, float]:
    from botocore.config import Config as BotoConfig

    from cloudpypi.storage import s3 as s3mod

    flags = set(variant.split("+"))
    if "single" in flags:
        s3mod.MULTIPART_THRESHOLD = 5 * 2**30
    storage = s3mod.S3Storage("s3://probe")
    if "unsigned" in flags:
        import boto3

        storage.client = boto3.session.Session().client(
            "s3", config=BotoConfig(max_pool_connections=24, s3={"payload_signing_enabled": False}))
    if "crc" in flags:
        original = storage.client.upload_part

        def upload_part(**kwargs: object) -> object:
            kwargs.pop("ChecksumSHA256", None)
            return original(ChecksumAlgorithm="CRC32", **kwargs)

        storage.client.upload_part = upload_part  # type: ignore[method-assign]
    size = os.path.getsize(path)
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    for number in range(files):
        staging = storage.new_staging()
        staging.close()
        os.link(path, str(staging.path) + ".tmp")
        os.replace(str(staging.path) + ".tmp", staging.path)
        storage.publish(staging, f"packages/probe/{number}.whl", sha256=sha256, size=size,
                        content_type="application/octet-stream")
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {"bytes": size * files, "wall_s": time.perf_counter() - started,
            "user_s": after.ru_utime - before.ru_utime, "sys_s": after.ru_stime - before.ru_stime}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="s3probe", description="CPU per GB of S3 publish variants.")
    parser.add_argument("--size-mb", type=int, default=256)
    parser.add_argument("--files", type=int, default=2)
    parser.add_argument("--variants", default="current,unsigned,single,single+unsigned")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        variant, path, files, sha256 = args.child.split(":")
        print(json.dumps(child(variant, path, int(files), sha256)))
        return 0
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
    from bench.procs import cpu_seconds
    from bench.run import base_env
    from support.motoserver import aws_env, moto_server

    work = Path("/dev/shm") / f"s3probe-{os.getpid()}"
    work.mkdir()
    source = work / "body.bin"
    digest = hashlib.sha256()
    with open(source, "wb") as out:
        for _ in range(args.size_mb):
            block = os.urandom(1 << 20)
            digest.update(block)
            out.write(block)
    try:
        with moto_server(log_dir=work) as moto:
            env = aws_env(moto.url, base_env())
            env["CLOUDPYPI_SPOOL_DIR"] = str(work)
            print(f"{'variant':<28} {'wall':>6} {'user':>6} {'sys':>6} {'CPU s/GB':>9} {'moto s/GB':>10}  load")
            for _ in range(args.repeat):
                for variant in args.variants.split(","):
                    moto.reset()
                    moto.client("s3").create_bucket(Bucket="probe")
                    moto_before = cpu_seconds(moto.process.pid)
                    spec = f"{variant}:{source}:{args.files}:{digest.hexdigest()}"
                    out = subprocess.run([sys.executable, "-m", "bench.s3probe", "--child", spec], env=env,
                                         capture_output=True, text=True)
                    if out.returncode:
                        print(f"{variant}: failed\n{out.stderr[-2000:]}")
                        continue
                    row = json.loads(out.stdout)
                    gb = row["bytes"] / 1e9
                    moto_cpu = cpu_seconds(moto.process.pid) - moto_before
                    print(f"{variant:<28} {row['wall_s']:>6.2f} {row['user_s']:>6.2f} {row['sys_s']:>6.2f} "
                          f"{(row['user_s'] + row['sys_s']) / gb:>9.2f} {moto_cpu / gb:>10.2f}  "
                          f"{os.getloadavg()[0]:.1f}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
