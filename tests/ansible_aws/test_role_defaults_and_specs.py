"""Every role's inputs stand on their own: each default in defaults/main.yml is an option of the role's
argument_specs with the same default, each specced option that has a default is in defaults/main.yml,
names carry the role's prefix, and no role falls back inline on an inventory-wide name.  Production
roles hold no switch for the sandbox's AWS endpoint (those live in the sandbox_* roles)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p.parent.parent for p in (ROOT / "roles").glob("*/meta/main.yml"))
PRODUCTION = [r for r in ROLES if not r.name.startswith("sandbox_")]


def load(path: Path) -> dict:
    return (yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None) or {}


def defaults(role: Path) -> dict:
    return load(role / "defaults" / "main.yml")


def specs(role: Path) -> dict[str, dict]:
    """entry point -> its options."""
    entries = load(role / "meta" / "argument_specs.yml").get("argument_specs", {})
    return {name: entry.get("options") or {} for name, entry in entries.items()}


def role_files(role: Path) -> list[Path]:
    return sorted(p for p in role.rglob("*") if p.is_file() and p.suffix in {".yml", ".j2"})


def test_there_are_roles_to_check() -> None:
    assert len(PRODUCTION) >= 9, f"expected the production roles under roles/, found {[r.name for r in ROLES]}"


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_each_default_is_specced_with_the_same_default(role: Path) -> None:
    entries = specs(role)
    assert "main" in entries, f"roles/{role.name}/meta/argument_specs.yml has no main entry point"
    for name, value in defaults(role).items():
        specced = {entry: options[name] for entry, options in entries.items() if name in options}
        assert specced, f"roles/{role.name}: default {name} is an option of no entry point in argument_specs"
        for entry, option in specced.items():
            assert "default" in option, f"roles/{role.name} {entry}: option {name} has no default in argument_specs"
            assert option["default"] == value, (
                f"roles/{role.name} {entry}: {name} defaults to {value!r} in defaults/main.yml "
                f"but to {option['default']!r} in argument_specs"
            )


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_each_specced_default_is_in_the_role_defaults(role: Path) -> None:
    values = defaults(role)
    for entry, options in specs(role).items():
        for name, option in options.items():
            assert option.get("description"), f"roles/{role.name} {entry}: option {name} has no description"
            if "default" in option:
                assert name in values, f"roles/{role.name} {entry}: {name} has a specced default but none in defaults"
                assert option["default"] == values[name], (
                    f"roles/{role.name} {entry}: {name} is specced with {option['default']!r}, "
                    f"defaults/main.yml says {values[name]!r}"
                )
            assert not (option.get("required") and name in values), (
                f"roles/{role.name} {entry}: {name} is required yet has a default; check it in the tasks instead"
            )


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_defaults_carry_the_role_prefix_and_a_comment(role: Path) -> None:
    path = role / "defaults" / "main.yml"
    if not path.exists():
        return
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        match = re.match(r"^([A-Za-z_]\w*):", line)
        if not match:
            continue
        name = match.group(1)
        assert name.startswith(f"{role.name}_"), f"roles/{role.name}: default {name} lacks the {role.name}_ prefix"
        # documented: a comment right above, or above the run of settings it belongs to
        above = number - 1
        while above >= 0 and (re.match(r"^\w+:", lines[above]) or lines[above].startswith((" ", "-"))):
            above -= 1
        assert above >= 0 and lines[above].startswith("#"), f"roles/{role.name}: {name} has no comment above it"


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_no_inline_fallback_on_an_inventory_wide_name(role: Path) -> None:
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in role_files(role)
        for match in re.finditer(r"cloudpypi_\w+\s*\|\s*default\(", path.read_text(encoding="utf-8"))
    ]
    assert found == [], f"expected each role's own documented defaults, got inline fallbacks: {found}"


@pytest.mark.parametrize("role", PRODUCTION, ids=lambda r: r.name)
def test_production_roles_hold_no_sandbox_switch(role: Path) -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in role_files(role)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"moto_compat|fake_ami|register_fake", line)
    ]
    assert found == [], f"expected no sandbox switch in a production role, got {found}"
    names = set(defaults(role)) | {n for options in specs(role).values() for n in options}
    assert not [n for n in names if re.search(r"moto|sandbox|fake", n)], f"roles/{role.name}: {sorted(names)}"
