"""CPU per GB of one download loop, piece by piece: receive, hash, write, with the variants to compare.

    python -m bench.streamprobe --dest DIR [--size-mb 256] [--files 4] [--streams 1,10] [--chunk-kb 1024]
                                [--steps recv,recv+sha,recv+sha+write] [--repeat 2]

Serves a file of `--size-mb` from a tmpfs over loopback (`socket.sendfile` in its own process, so the
server's CPU is not counted) and downloads it `--files` times per variant with http.client, `--streams`
at a time in one process, reading into one reused buffer per stream (the engine's loop, without its
bookkeeping).  Each variant runs in a fresh child process whose user and system CPU seconds (every
thread) are reported per GB received.  Steps:

- `recv`: read and drop;  `recv+sha`: and SHA-256 every chunk;  `recv+sha+write`: and write each chunk
  to a new file in DEST (the engine's folder path);  `+falloc`: the file preallocated to its size first;
  `+direct`: written with O_DIRECT (aligned buffer, the tail written after clearing the flag).

The variants alternate within each repeat, so a change in the machine's load hits all of them alike.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import hashlib
import http.client
import json
import mmap
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path


def serve(path: str, ready_fd: int) -> None:
    """A minimal HTTP/1.1 server: every GET answers with the whole file, via sendfile."""
    size = os.path.getsize(path)
    listener = socket.create_server(("127.0.0.1", 0))
    os.write(ready_fd, str(listener.getsockname()[1]).encode() + b"\n")

    def handle(conn: socket.socket) -> None:
        with conn, open(path, "rb") as source:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            reader = conn.makefile("rb")
            while True:
                line = reader.readline()
                if not line:
                    return
                while reader.readline() not in (b"\r\n", b""):
                    pass
                conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
                conn.sendfile(source, 0, size)

    while True:
        conn, _ = listener.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


def client(port: int, files: int, streams: int, chunk: int, steps: str, dest: str) -> dict[str, float]:
    hashing, writing = "sha" in steps, "write" in steps
    falloc, direct = "falloc" in steps, "direct" in steps

    def one(number: int) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port)
        buffer = mmap.mmap(-1, chunk)  # page-aligned: O_DIRECT needs it
        view = memoryview(buffer)
        conn.request("GET", "/file")
        response = conn.getresponse()
        size = int(response.headers["Content-Length"])
        digest = hashlib.sha256() if hashing else None
        fd = -1
        if writing:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | (os.O_DIRECT if direct else 0)
            fd = os.open(os.path.join(dest, f"f{number}.part"), flags, 0o644)
            if falloc:
                os.posix_fallocate(fd, 0, size)
        received = 0
        while count := response.readinto(view):
            part = view[:count]
            received += count
            if digest is not None:
                digest.update(part)
            if fd >= 0:
                if direct and count % 4096:
                    import fcntl

                    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_DIRECT)
                os.write(fd, part)
        if fd >= 0:
            os.close(fd)
            os.unlink(os.path.join(dest, f"f{number}.part"))
        conn.close()
        return received

    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    with cf.ThreadPoolExecutor(streams) as pool:
        total = sum(pool.map(one, range(files)))
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {"bytes": total, "wall_s": time.perf_counter() - started,
            "user_s": after.ru_utime - before.ru_utime, "sys_s": after.ru_stime - before.ru_stime}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="streamprobe", description="CPU per GB of receive, hash and write.")
    parser.add_argument("--dest", required=True, help="where the written variants put their files")
    parser.add_argument("--size-mb", type=int, default=256)
    parser.add_argument("--files", type=int, default=4, help="downloads per variant")
    parser.add_argument("--streams", default="1", help="comma-separated concurrent downloads per variant")
    parser.add_argument("--chunk-kb", default="1024", help="comma-separated read sizes")
    parser.add_argument("--steps", default="recv,recv+sha,recv+sha+write")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--client", help=argparse.SUPPRESS)  # internal: run one variant, print JSON
    args = parser.parse_args(argv)
    if args.client:
        port, files, streams, chunk, steps = args.client.split(":")
        print(json.dumps(client(int(port), int(files), int(streams), int(chunk), steps, args.dest)))
        return 0
    source = Path("/dev/shm") / f"streamprobe-{os.getpid()}.bin"
    with open(source, "wb") as out:
        block = os.urandom(1 << 20)
        for _ in range(args.size_mb):
            out.write(block)
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen([sys.executable, "-c", f"from bench.streamprobe import serve; serve({str(source)!r}, "
                               f"{write_fd})"], pass_fds=(write_fd,))
    os.close(write_fd)
    try:
        port = int(os.fdopen(read_fd).readline())
        print(f"{'variant':<34} {'wall':>6} {'user':>6} {'sys':>6} {'CPU s/GB':>9}  load")
        for _ in range(args.repeat):
            for streams in args.streams.split(","):
                for chunk_kb in args.chunk_kb.split(","):
                    for steps in args.steps.split(","):
                        spec = f"{port}:{args.files}:{streams}:{int(chunk_kb) * 1024}:{steps}"
                        out = subprocess.run([sys.executable, "-m", "bench.streamprobe", "--dest", args.dest,
                                              "--client", spec], capture_output=True, text=True, check=True)
                        row = json.loads(out.stdout)
                        gb = row["bytes"] / 1e9
                        name = f"{streams}x {chunk_kb}K {steps}"
                        print(f"{name:<34} {row['wall_s']:>6.2f} {row['user_s']:>6.2f} {row['sys_s']:>6.2f} "
                              f"{(row['user_s'] + row['sys_s']) / gb:>9.2f}  {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        server.terminate()
        server.wait()
        source.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
