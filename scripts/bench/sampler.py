"""A pure-Python sampling profiler over every thread (pyinstrument sees only the main thread).

    python -m bench.sampler --out profile.txt -m cloudpypi sync --origin ... --target ...

Every `--interval` seconds it records the innermost frames of each thread, then prints the
functions most often on top of a stack ("self", where a thread was when sampled: running Python,
or blocked in the C call that function made) and the cloudpypi functions most often anywhere on a
stack ("inclusive").  Idle pool threads waiting for work are left out.
"""

from __future__ import annotations

import argparse
import atexit
import collections
import runpy
import sys
import threading
import time
from types import FrameType

IDLE = {("threading.py", "wait"), ("queue.py", "get"), ("thread.py", "_worker"),
        ("threading.py", "_wait_for_tstate_lock")}


def _where(frame: FrameType) -> tuple[str, str]:
    return frame.f_code.co_filename.rsplit("/", 1)[-1], frame.f_code.co_name


class Sampler:
    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.self_counts: collections.Counter[str] = collections.Counter()
        self.inclusive: collections.Counter[str] = collections.Counter()
        self.samples = 0
        self._stop = threading.Event()
        self._me = 0

    def _label(self, frame: FrameType) -> str:
        return f"{frame.f_code.co_filename.split('site-packages/')[-1].split('/scripts/')[-1]}:" \
               f"{frame.f_code.co_name}"

    def run(self) -> None:
        self._me = threading.get_ident()
        while not self._stop.wait(self.interval):
            for ident, frame in sys._current_frames().items():
                if ident == self._me:
                    continue
                stack = []
                cursor: FrameType | None = frame
                while cursor is not None:
                    stack.append(cursor)
                    cursor = cursor.f_back
                top = stack[0]
                if _where(top) in IDLE and (len(stack) < 3 or any(_where(f)[1] == "_worker" for f in stack[:4])):
                    continue
                self.samples += 1
                self.self_counts[self._label(top)] += 1
                for label in {self._label(f) for f in stack if "cloudpypi/" in f.f_code.co_filename}:
                    self.inclusive[label] += 1

    def report(self, top: int = 30) -> str:
        lines = [f"{self.samples} busy thread samples every {self.interval * 1000:.0f} ms", "", "self (top of stack):"]
        share = 100 / max(1, self.samples)
        lines += [f"  {n * share:5.1f}%  {label}" for label, n in self.self_counts.most_common(top)]
        lines += ["", "inclusive (cloudpypi frames anywhere on the stack):"]
        lines += [f"  {n * share:5.1f}%  {label}" for label, n in self.inclusive.most_common(top)]
        return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(prog="sampler")
    parser.add_argument("--out", required=True)
    parser.add_argument("--interval", type=float, default=0.005)
    parser.add_argument("-m", dest="module", required=True)
    args, rest = parser.parse_known_args()
    sampler = Sampler(args.interval)
    thread = threading.Thread(target=sampler.run, daemon=True)
    started = time.perf_counter()

    def finish() -> None:
        sampler._stop.set()
        with open(args.out, "w") as out:
            out.write(f"wall {time.perf_counter() - started:.2f} s\n" + sampler.report())

    atexit.register(finish)
    thread.start()
    sys.argv = [args.module, *rest]
    runpy.run_module(args.module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
