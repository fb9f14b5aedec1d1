"""The operator's guide: its table of contents leads to every section, and it lists every key of mirror.toml
with its default ("Every key, with its default" in section 10), the defaults being the ones the code uses."""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from cloudpypi.closurespec import KNOWN_KEYS
from cloudpypi.config import Config, Filters, parse_config

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "operators-guide.md"
# Config fields that live outside [mirror], and the section and key they are read from.
ELSEWHERE = {"filters": None, "closure": None, "cloudwatch_namespace": ("monitoring", "cloudwatch_namespace"),
             "distribution_id": ("invalidation", "distribution_id"),
             "invalidation_policy": ("invalidation", "policy")}


def code_keys() -> set[tuple[str, str]]:
    keys = {("mirror", f.name) for f in fields(Config) if f.name not in ELSEWHERE}
    keys |= {where for where in ELSEWHERE.values() if where}
    # pins are not a key of their own: they come from `allow` entries that carry a specifier
    keys |= {("filters", f.name) for f in fields(Filters) if f.name != "pins"}
    keys |= {("closure", key) for key in KNOWN_KEYS}
    return keys


def documented() -> dict[tuple[str, str], str]:
    """(section, key) -> the default cell of the guide's reference table."""
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index("### Every key, with its default")
    rows = re.findall(r"^\| `\[(\w+)\] (\w+)` \| ([^|]+) \|", text[start:], re.MULTILINE)
    return {(section, key): default.strip() for section, key, default in rows}


def test_the_guide_lists_every_key_the_config_reads() -> None:
    listed, keys = set(documented()), code_keys()
    assert keys - listed == set(), f"keys missing from the guide's table: {sorted(keys - listed)}"
    assert listed - keys == set(), f"keys in the guide's table that the code does not read: {sorted(listed - keys)}"


@pytest.mark.parametrize(("section", "key"), sorted(k for k in code_keys() if k[0] != "closure"))
def test_each_documented_default_is_the_codes_default(section: str, key: str) -> None:
    cell = documented()[(section, key)]
    literal = re.match(r"`([^`]+)`", cell)
    assert literal, f"[{section}] {key}: the default cell {cell!r} starts with no `value`"
    value = tomllib.loads(f"v = {literal.group(1)}")["v"]
    assert parse_config({section: {key: value}}) == parse_config({}), \
        f"[{section}] {key} = {literal.group(1)} (the guide's default) configures something else than leaving it out"


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_table_of_contents_leads_to_every_section_and_subsection() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    contents = text[text.index("Contents:"):text.index("\n---\n")]
    links = re.findall(r"\]\(#([^)]+)\)", contents)
    headings = {github_anchor(h): h for h in re.findall(r"^#{2,3} (.+)$", text, re.MULTILINE)}
    assert sorted(set(links) - set(headings)) == [], "contents links that lead nowhere"
    missing = [f"    - [{h}](#{a})" for a, h in headings.items() if a not in links]
    assert missing == [], "sections missing from the contents; add under their section:\n" + "\n".join(missing)
    assert links == [a for a in headings if a in links], "the contents follow the guide's order"


def test_the_invalidation_story_is_the_same_everywhere_and_true() -> None:
    """A sync never invalidates; pages reach users within their 600 s TTL at $0; `fab invalidate` shows
    them sooner and paths cost $0.005 past the free 1,000.  The guide, the role's defaults, `fab invalidate
    --help` and `cloudpypi invalidate --help` say so, and the service's unit runs no invalidation."""
    root = GUIDE.parent.parent
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    import fabfile

    from cloudpypi.commands import invalidate

    guide = GUIDE.read_text(encoding="utf-8")
    tellings = {
        "guide section 4": guide[guide.index("### Invalidation: what happens after a run"):guide.index("## 5.")],
        "sync_service defaults": (root / "roles/sync_service/defaults/main.yml").read_text(encoding="utf-8"),
        "fab invalidate --help": fabfile.invalidate.__doc__ or "",
    }
    for where, text in tellings.items():
        flat = " ".join(text.replace("#", " ").split())
        for claim in ("never invalidate", "600 s", "$0.005", "1,000"):
            assert claim in flat, f"{where} does not say {claim!r}"
    subparsers = argparse.ArgumentParser().add_subparsers()
    invalidate.add_parser(subparsers)
    assert "never invalidates" in " ".join(subparsers.choices["invalidate"].description.split())
    unit = (root / "roles/sync_service/templates/etc/systemd/system").glob("*.service*")
    assert all("invalidate" not in path.read_text(encoding="utf-8") for path in unit), "the unit runs sync only"
    assert "invalidation" not in (root / "scripts/cloudpypi/commands/sync.py").read_text(encoding="utf-8")
