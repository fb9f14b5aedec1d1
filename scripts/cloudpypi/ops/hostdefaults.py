"""The dev server's service settings, read from the roles' defaults files: their one source.

The sync_service role installs the service runner, the config and the reports where its defaults say,
and mirror_iam lets the instance read the one budget its defaults name.  ``fab`` must use the same
values, so it reads those files instead of keeping copies of them:

- for a host of the inventory, a value the inventory sets wins (Ansible's own precedence: inventory
  over role defaults) and the rest comes from the defaults file;
- for ``fab -H`` there is no inventory: the defaults alone.

A default that refers to another variable (``"{{ sync_service_prefix }}/bin/cloudpypi-service"``) is
filled from the same merged values, so an inventory that moves ``sync_service_prefix`` moves the runner
for fab as it does for the role.

Why the defaults files rather than one Python module that Ansible would follow: Ansible cannot read a
Python module, so the role would keep its own copy and there would still be two places; the defaults
file is what the host is deployed from.  Only the template forms defaults files use are understood,
``{{ name }}`` and ``{{ name | default('text') }}``; anything else is refused naming the file and the
variable, and a test reads the real files, so a role that starts using another form fails there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

ROLES_DIR = Path(__file__).resolve().parents[3] / "roles"
# Settings several roles share are set once per inventory (group_vars/all); for a host with no inventory,
# or an inventory that does not set them, the shipped inventory's values are the defaults.
SHARED_FILE = Path("inventory") / "aws" / "group_vars" / "all" / "main.yml"  # relative to the repository
SHARED_DEFAULTS = ROLES_DIR.parent / SHARED_FILE

# Devserver field -> (the role whose defaults file sets it, the variable).
SETTINGS: dict[str, tuple[str, str]] = {
    "service_user": ("sync_service", "sync_service_user"),
    "runner": ("sync_service", "sync_service_runner"),
    "config_dir": ("sync_service", "sync_service_config_dir"),
    "report_dir": ("sync_service", "sync_service_report_dir"),
    # The one budget the instance role may read (mirror_iam scopes budgets:ViewBudget to it).
    "budget_name": ("mirror_iam", "mirror_iam_budget_name"),
}

_EXPRESSION = re.compile(
    r"""\{\{\s*(?P<name>[A-Za-z_]\w*)\s*(?:\|\s*default\(\s*(?:'(?P<single>[^']*)'|"(?P<double>[^"]*)")\s*\)\s*)?\}\}"""
)


class DefaultsError(ValueError):
    """A defaults file fab cannot read, or a value it cannot work out."""


@lru_cache(maxsize=8)
def role_defaults(role: str, roles_dir: Path = ROLES_DIR) -> dict[str, Any]:
    """The variables of ``roles/ROLE/defaults/main.yml`` as written (templates not filled in)."""
    from ruamel.yaml import YAML

    path = roles_dir / role / "defaults" / "main.yml"
    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DefaultsError(f"Cannot read {path}: {exc.strerror}.") from None
    if not isinstance(data, dict):
        raise DefaultsError(f"{path} is not a mapping of variables.")
    return data


@lru_cache(maxsize=2)
def shared_defaults(path: Path = SHARED_DEFAULTS) -> dict[str, Any]:
    """The shipped inventory's shared settings (``cloudpypi_*``), as written."""
    from ruamel.yaml import YAML

    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except OSError:
        return {}
    return {k: v for k, v in (data or {}).items() if k.startswith("cloudpypi_")} if isinstance(data, dict) else {}


def _defaults(roles_dir: Path) -> dict[str, tuple[str, Any]]:
    """Variable -> (its role, its value) over the roles the settings come from, then the shared settings."""
    merged: dict[str, tuple[str, Any]] = {}
    for role in dict.fromkeys(role for role, _ in SETTINGS.values()):
        # each role prefixes its names, so nothing collides
        merged.update((name, (role, value)) for name, value in role_defaults(role, roles_dir).items())
    for name, value in shared_defaults(roles_dir.parent / SHARED_FILE).items():
        merged.setdefault(name, ("../inventory/aws/group_vars/all", value))
    return merged


def _parts(value: str, where: str) -> list[tuple[str, str | None] | str]:
    """A template split into literal text and (variable, its inline default or None) parts."""
    parts: list[tuple[str, str | None] | str] = []
    end = 0
    for match in _EXPRESSION.finditer(value):
        parts.append(value[end:match.start()])
        fallback = match.group("single") if match.group("single") is not None else match.group("double")
        parts.append((match.group("name"), fallback))
        end = match.end()
    parts.append(value[end:])
    literal = "".join(p for p in parts if isinstance(p, str))
    if "{{" in literal or "{%" in literal or "}}" in literal:
        raise DefaultsError(f"{where} = {value!r} uses a template fab does not evaluate (only "
                            "{{ name }} and {{ name | default('text') }}).")
    return parts


def variables_needed(roles_dir: Path = ROLES_DIR) -> list[str]:
    """Every variable the settings depend on, themselves included: what to ask the inventory for."""
    defaults = _defaults(roles_dir)
    seen: dict[str, None] = {}
    todo = [variable for _, variable in SETTINGS.values()]
    while todo:
        name = todo.pop(0)
        if name in seen:
            continue
        seen[name] = None
        role, value = defaults.get(name, ("", None))
        if isinstance(value, str):
            todo += [p[0] for p in _parts(value, f"roles/{role}/defaults/main.yml: {name}") if isinstance(p, tuple)]
    return list(seen)


def host_settings(inventory: Mapping[str, Any] | None = None, roles_dir: Path = ROLES_DIR) -> dict[str, str]:
    """Devserver field -> value.  ``inventory`` maps variable names to the inventory's (already templated)
    values; a name it lacks, or maps to None, takes the role default."""
    defaults = _defaults(roles_dir)
    given = {k: v for k, v in (inventory or {}).items() if v is not None}

    def value_of(name: str, fallback: str | None, chain: tuple[str, ...]) -> str:
        if name in chain:
            raise DefaultsError(f"{name} refers to itself through {' -> '.join(chain)}.")
        if name in given:
            return str(given[name])
        if name not in defaults:
            if fallback is None:
                raise DefaultsError(f"{chain[-1] if chain else name} needs {name}, which neither the inventory "
                                    f"nor the roles' defaults ({', '.join(sorted({r for r, _ in SETTINGS.values()}))}) "
                                    "set.")
            return fallback
        role, value = defaults[name]
        if not isinstance(value, str):
            return str(value)
        return "".join(p if isinstance(p, str) else value_of(p[0], p[1], (*chain, name))
                       for p in _parts(value, f"roles/{role}/defaults/main.yml: {name}"))

    return {field: value_of(variable, None, ()) for field, (_, variable) in SETTINGS.items()}


@lru_cache(maxsize=1)
def default_settings() -> dict[str, str]:
    """The settings of a host with no inventory (``fab -H``): the roles' defaults alone."""
    return host_settings()
