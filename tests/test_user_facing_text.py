"""Files a user reads say what a thing is, never which piece of internal work made it.

Scanned: the README, docs/, the Ansible roles, playbooks, inventories and collections, pyproject.toml, the
Makefile and mk/, fabfile.py, ansible.cfg and everything under scripts/ (help texts, comments, templates,
the benchmark notes).  A hit names the file, the line and the words.  References to other projects'
trackers (``pypa/bandersnatch#1101``, a GitHub issues URL) are fine: they point somewhere a user can go.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("README.md", "docs", "roles", "playbooks", "inventory", "collections", "pyproject.toml", "Makefile",
           "mk", "fabfile.py", "ansible.cfg", "scripts")
TEXT_SUFFIXES = {".md", ".py", ".j2", ".yml", ".yaml", ".toml", ".cfg", ".ini", ".txt", ".js", ".json", ".sh",
                 ".mk", ".html", ".service", ".timer", ".conf", ""}

# Words of internal work tracking, and what to write instead: what the thing is, or where it is explained.
INTERNAL = re.compile(
    r"""
      \bissues?\s*\#?\s*\d+              # "issue 4", "issues 3 and 4", "issue #6"
    | \bsessions?\s+\d+                  # "session 2"
    | \bthis\s+session\b | \bsession's\b
    | \bthe\s+lead\b | \blead's\b
    | \bdesign\s+cards?\b | \bcards?\b
    | \bthe\s+seed\b | \bseed's\b
    | \btickets?\b
    | \bwaves?\b
    """, re.IGNORECASE | re.VERBOSE)
# Another project's tracker, written so a reader can find it: owner/repo#123 or an issues URL.
EXTERNAL = re.compile(r"[\w.-]+/[\w.-]+#\d+|github\.com/[\w.-]+/[\w.-]+/(?:issues|pull)/\d+")


def internal_words(line: str) -> list[str]:
    """The internal-tracking words in one line, once external tracker references are taken out."""
    return [m.group(0) for m in INTERNAL.finditer(EXTERNAL.sub(" ", line))]


def scanned_files() -> list[Path]:
    files: list[Path] = []
    for name in SCANNED:
        path = ROOT / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files += [p for p in sorted(path.rglob("*")) if p.is_file() and p.suffix in TEXT_SUFFIXES
                      and "__pycache__" not in p.parts and not any(part.startswith(".") for part in p.parts)]
    return files


@pytest.mark.parametrize(("line", "expected"), [
    ("This is the AWS half of the provisioning (issue 4): the bucket", ["issue 4"]),
    ("until session 2 this failed", ["session 2"]),
    ("a change to the lead's file; the design card's library", ["the lead", "design card"]),
    ("see lead's note; the seed's Example CDN, from the first wave", ["lead's", "the seed", "wave"]),
    ("bandersnatch's most requested feature (pypa/bandersnatch#1101)", []),
    ("see https://github.com/pypa/pip/issues/12345", []),
    ("a wildcard path /simple/*; the session's ssh keepalive", ["session's"]),
    ("random seed=8 gives the same bytes; idle sessions are dropped", []),
])
def test_the_scanner_flags_internal_tracking_and_spares_other_projects_trackers(line, expected) -> None:
    assert internal_words(line) == expected


def test_no_user_facing_file_speaks_of_internal_work_tracking() -> None:
    files = scanned_files()
    assert len(files) > 50, f"expected to scan the repository's user-facing files, found {len(files)}"
    hits = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if words := internal_words(line):
                hits.append(f"{path.relative_to(ROOT)}:{number}: {', '.join(words)}: {line.strip()[:120]}")
    assert not hits, ("say what the thing is, not which piece of work made it:\n" + "\n".join(hits))
