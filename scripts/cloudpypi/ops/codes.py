"""The exit codes fab tasks end with, beside the remote command's own."""

from __future__ import annotations

EXIT_SETUP = 2  # missing inventory, bad arguments
EXIT_LOCKED = 75  # cloudpypi sync: another run holds the mirror's lock
EXIT_UNREACHABLE = 255  # like ssh(1)
ANY_CODE = tuple(range(256))  # for reads whose failure a task reports rather than fails on
