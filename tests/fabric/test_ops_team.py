"""cloudpypi.ops.team: the team list in group_vars, edited round trip; refused input changes nothing."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest
import yaml
from invoke import Exit

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "scripts"))

from cloudpypi.ops import team  # noqa: E402

KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0BEjDRYzX51k/BryhNjDeX5yW+OsHwl7KTNYS8lCRs alice@old"
KEY_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtMMGtPyWHFIXCkDmDGy3UuXbac8bI1CgJidGfFEZgH alice@new"
TEAM = f"""\
---
# who may log in
team_members:
  - name: alice  # the first admin
    sudo: true
    ssh_keys:
      - {KEY_A}
    state: present
"""


@pytest.fixture
def team_file(tmp_path: Path) -> Path:
    path = tmp_path / "team.yml"
    path.write_text(TEAM)
    path.chmod(0o640)
    return path


def members(path: Path) -> list[dict]:
    return yaml.safe_load(path.read_text())["team_members"]


def test_updating_a_member_adds_only_new_keys_and_keeps_comments_and_mode(team_file: Path) -> None:
    change = team.edit_team(team_file, "alice", keys=[KEY_A, KEY_B], sudo=False)
    assert change == "updated alice"
    (alice,) = members(team_file)
    assert alice["ssh_keys"] == [KEY_A, KEY_B] and alice["sudo"] is False, alice
    text = team_file.read_text()
    assert "# who may log in" in text and "# the first admin" in text, text
    assert stat.S_IMODE(team_file.stat().st_mode) == 0o640, "the file keeps its permissions"
    assert [p.name for p in team_file.parent.iterdir()] == ["team.yml"], "no temporary file is left"


def test_offboarding_an_absent_name_or_a_malformed_list_leaves_the_file_as_it_was(team_file: Path) -> None:
    with pytest.raises(Exit, match="bob is not in the team list"):
        team.edit_team(team_file, "bob", state="absent")
    assert team_file.read_text() == TEAM
    team_file.write_text("---\nteam_members: alice\n")
    with pytest.raises(Exit, match="team_members is not a list"):
        team.edit_team(team_file, "bob", keys=[KEY_B])
    assert team_file.read_text() == "---\nteam_members: alice\n"


def test_a_file_without_the_key_gets_a_list(tmp_path: Path) -> None:
    path = tmp_path / "team.yml"
    path.write_text("---\nother: 1\n")
    assert team.edit_team(path, "carol", keys=[KEY_B], sudo=True) == "added carol with sudo"
    assert members(path) == [{"name": "carol", "sudo": True, "ssh_keys": [KEY_B], "state": "present"}]


@pytest.mark.parametrize(("text", "expected"), [
    (f"{KEY_A}\nssh-ed25519 AAAA; rm -rf / x\n", "holds no OpenSSH public key"),
    ("# only a comment\n", "holds no OpenSSH public key"),
    ("-----" + "BEGIN RSA PRIVATE KEY-----\nabc\n", "is a private key"),  # split: not a key to the secret scan
])
def test_a_key_file_with_anything_but_public_keys_is_refused(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "k.pub"
    path.write_text(text)
    with pytest.raises(Exit, match=expected) as caught:
        team.read_public_keys(str(path))
    assert caught.value.code == 2


def test_a_key_file_gives_its_keys_without_comment_lines(tmp_path: Path) -> None:
    path = tmp_path / "k.pub"
    path.write_text(f"# laptop and desktop\n{KEY_A}\n\n{KEY_B}\n")
    assert team.read_public_keys(str(path)) == [KEY_A, KEY_B]
    with pytest.raises(Exit, match="Cannot read the key file"):
        team.read_public_keys(str(tmp_path / "missing.pub"))


@pytest.mark.parametrize("user", ["Carol", "carol; rm -rf /", "-carol", "a" * 33, ""])
def test_a_login_name_outside_the_safe_set_is_refused(user: str) -> None:
    with pytest.raises(Exit, match="not a valid login name"):
        team.check_login(user)


def test_the_team_file_of_the_devserver_group_is_preferred(tmp_path: Path) -> None:
    base = tmp_path / "inv" / "group_vars"
    for name in ("all/a.yml", "devserver/team.yml", "devserver/other.yml"):
        (base / name).parent.mkdir(parents=True, exist_ok=True)
        (base / name).write_text("---\nteam_members: []\n" if "other" not in name else "---\nx: 1\n")
    assert team.find_team_file(str(tmp_path / "inv")) == base / "devserver" / "team.yml"
    with pytest.raises(Exit, match="No team_members list"):
        team.find_team_file(str(tmp_path / "nowhere"))
