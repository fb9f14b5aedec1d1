"""`python tests/support/fakeorigin ...` or `python -m support.fakeorigin ...` (with tests/ on sys.path)."""

import sys
from pathlib import Path

if not __package__:  # run as a directory: make `support.fakeorigin` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from support.fakeorigin.cli import main
else:
    from .cli import main

sys.exit(main())
