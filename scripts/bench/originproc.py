"""Entry point of the fake-origin process for the benchmark: the tests' fake origin with TCP_NODELAY.

The fake origin's handlers write the response head and the body in separate sends.  With Nagle's
algorithm on, a small body then waits for the client's delayed ACK (about 40 ms on Linux), so every
small response (a page, a .metadata file) took ~44 ms and the origin, not the client, set the pace.
Real origins (PyPI's CDN) do not behave like that, so the benchmark turns Nagle off through the
standard `socketserver.StreamRequestHandler.disable_nagle_algorithm` switch before serving.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from support.fakeorigin import server
from support.fakeorigin.cli import main

server._Handler.disable_nagle_algorithm = True

if __name__ == "__main__":
    sys.exit(main())
