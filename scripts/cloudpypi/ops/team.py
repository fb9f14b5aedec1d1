"""The team list (``team_members`` in the inventory's group_vars) that ``fab onboard`` and ``fab offboard``
edit before the team role applies it.

The file is edited round trip (ruamel.yaml): comments, order and quoting survive, and an SSH key is never
folded.  Input is checked before the file is touched: a login name, and public keys only.
"""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path
from typing import Any

from invoke import Exit

from cloudpypi.ops.codes import EXIT_SETUP
from cloudpypi.ops.devserver import HOST_GROUP, REPO_ROOT

KEY_RE = re.compile(
    r"^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp\d+|sk-\S+@openssh\.com) [A-Za-z0-9+/=]+( .*)?$"
)
USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


def check_login(user: str) -> str:
    """``user`` when it is a valid login name; else the task ends saying why."""
    if not USER_RE.match(user):
        raise Exit(f"{user!r} is not a valid login name (lowercase letters, digits, - and _).", code=EXIT_SETUP)
    return user


def read_public_keys(path: str) -> list[str]:
    """The public keys in ``path`` (one per line).  Refuses private keys and anything else."""
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise Exit(f"Cannot read the key file {path}: {exc.strerror}.", code=EXIT_SETUP) from None
    if "PRIVATE KEY" in text:
        raise Exit(f"{path} is a private key: pass the public one ({path}.pub), and keep the private key "
                   "to yourself.", code=EXIT_SETUP)
    keys = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    bad = [k for k in keys if not KEY_RE.match(k)]
    if not keys or bad:
        raise Exit(f"{path} holds no OpenSSH public key (expected lines like "
                   "'ssh-ed25519 AAAA... you@host').", code=EXIT_SETUP)
    return keys


def find_team_file(inventory: str) -> Path:
    """The group_vars file of ``inventory`` that defines ``team_members`` (the devserver group's first)."""
    base = (REPO_ROOT / inventory) / "group_vars"
    candidates = sorted(base.glob("**/*.yml")) + sorted(base.glob("**/*.yaml"))
    candidates.sort(key=lambda p: (HOST_GROUP not in p.parts, str(p)))
    for path in candidates:
        if re.search(r"(?m)^team_members\s*:", path.read_text(encoding="utf-8")):
            return path
    raise Exit(f"No team_members list in {base}: add `team_members: []` to "
               f"{base / HOST_GROUP / 'team.yml'} (see roles/team/defaults/main.yml).", code=EXIT_SETUP)


def shown(path: Path) -> str:
    """``path`` as the user should read it: relative to the checkout when inside it."""
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML()  # round trip: comments, order and quoting survive
    yaml.preserve_quotes = True
    yaml.explicit_start = True
    yaml.width = 4096  # never fold an SSH key
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def edit_team(path: Path, user: str, *, keys: list[str] | None = None, sudo: bool | None = None,
              state: str = "present") -> str:
    """Add, update or mark absent one member of the team list in ``path``; returns what changed.  The file
    is replaced whole once the change is known to apply."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    yaml = _yaml()
    data = yaml.load(path.read_text(encoding="utf-8"))
    members = data.get("team_members")
    if members is None:
        members = data["team_members"] = CommentedSeq()
    if not isinstance(members, list):
        raise Exit(f"{path}: team_members is not a list.", code=EXIT_SETUP)
    if hasattr(members, "fa"):
        members.fa.set_block_style()
    entry = next((m for m in members if isinstance(m, dict) and m.get("name") == user), None)
    if entry is None:
        if state == "absent":
            raise Exit(f"{user} is not in the team list ({path}).", code=EXIT_SETUP)
        entry = CommentedMap()
        entry["name"] = user
        entry["sudo"] = bool(sudo)
        entry["ssh_keys"] = CommentedSeq(keys or [])
        entry["state"] = "present"
        members.append(entry)
        change = f"added {user}" + (" with sudo" if sudo else "")
    else:
        change = f"updated {user}"
        if keys:
            listed = entry.setdefault("ssh_keys", CommentedSeq())
            listed.extend(k for k in keys if k not in listed)
        if sudo is not None:
            entry["sudo"] = sudo
        entry["state"] = state
        if state == "absent":
            change = f"marked {user} absent"
    text = io.StringIO()
    yaml.dump(data, text)
    tmp = path.with_name(f".{path.name}.part")  # whole or not at all: a failed write leaves the list as it was
    tmp.write_text(text.getvalue(), encoding="utf-8")
    shutil.copymode(path, tmp)
    tmp.replace(path)
    return change
