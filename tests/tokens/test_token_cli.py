"""`cloudpypi token add|list|revoke` on a real auth file, through the command line's main() (in process:
the machine is shared and an interpreter start per call costs seconds), and once as a real subprocess."""

from __future__ import annotations

import hashlib
import json
import stat
import subprocess
from pathlib import Path

import pytest

from cloudpypi.cli import main
from support.cli import run_cli


@pytest.fixture(autouse=True)
def _capture(capsys: pytest.CaptureFixture[str]) -> None:
    global _CAPSYS
    _CAPSYS = capsys


_CAPSYS: pytest.CaptureFixture[str] | None = None


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `cloudpypi ARGS` in process; the result shaped like subprocess.run's."""
    assert _CAPSYS is not None
    _CAPSYS.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    out, err = _CAPSYS.readouterr()
    return subprocess.CompletedProcess(list(args), code, out, err)


def stored(path: Path) -> dict[str, str]:
    return {item["name"]: item["sha256"] for item in json.loads(path.read_text())["tokens"]}


def test_add_prints_the_token_alone_and_stores_only_its_hash(tmp_path: Path) -> None:
    auth = tmp_path / "auth.json"
    added = cli("token", "add", "--auth-file", str(auth), "ci")
    assert added.returncode == 0, added.stderr
    lines = added.stdout.splitlines()
    assert len(lines) == 1, f"expected the token alone on stdout, got {added.stdout!r}"
    token = lines[0]
    assert len(token) >= 43, f"expected a 256-bit token (43+ characters), got {len(token)}"
    assert token not in auth.read_text(), "the token itself must never be stored"
    assert stored(auth) == {"ci": hashlib.sha256(token.encode()).hexdigest()}
    assert stat.S_IMODE(auth.stat().st_mode) == 0o600, "the auth file must be private to its owner"


def test_two_tokens_differ_and_both_are_kept(tmp_path: Path) -> None:
    auth = tmp_path / "auth.json"
    first = cli("token", "add", "--auth-file", str(auth), "alice").stdout.strip()
    second = cli("token", "add", "--auth-file", str(auth), "bob").stdout.strip()
    assert first != second, "expected fresh random tokens"
    assert sorted(stored(auth)) == ["alice", "bob"]


@pytest.mark.parametrize("name", ["", "a:b", "-x", "has space", "x" * 65, "é", "../etc", "a/b"])
def test_add_refuses_a_bad_name_with_exit_2_and_writes_nothing(tmp_path: Path, name: str) -> None:
    auth = tmp_path / "auth.json"
    cli("token", "add", "--auth-file", str(auth), "keep")
    before = auth.read_bytes()
    refused = cli("token", "add", "--auth-file", str(auth), "--", name)
    assert refused.returncode == 2, f"{name!r}: expected exit 2, got {refused.returncode}: {refused.stderr}"
    assert "bad token name" in refused.stderr and refused.stdout == "", refused.stderr
    assert auth.read_bytes() == before, "a refused add must leave the file as it was"


def test_add_refuses_a_name_that_exists(tmp_path: Path) -> None:
    auth = tmp_path / "auth.json"
    cli("token", "add", "--auth-file", str(auth), "ci")
    before = auth.read_bytes()
    again = cli("token", "add", "--auth-file", str(auth), "ci")
    assert again.returncode == 2 and "revoke it first" in again.stderr, again.stderr
    assert again.stdout == "" and auth.read_bytes() == before


def test_list_shows_names_and_dates_but_no_hashes_unless_asked(tmp_path: Path) -> None:
    auth = tmp_path / "auth.json"
    cli("token", "add", "--auth-file", str(auth), "ci")
    digest = stored(auth)["ci"]
    listed = cli("token", "list", "--auth-file", str(auth))
    assert listed.returncode == 0 and listed.stdout.startswith("ci\t20"), listed.stdout
    assert digest not in listed.stdout, "list must not show hashes by default"
    shown = json.loads(cli("token", "list", "--auth-file", str(auth), "--json", "--show-hashes").stdout)
    assert shown[0]["name"] == "ci" and shown[0]["sha256"] == digest


def test_revoke_removes_the_name_and_an_unknown_name_is_exit_2(tmp_path: Path) -> None:
    auth = tmp_path / "auth.json"
    cli("token", "add", "--auth-file", str(auth), "alice")
    cli("token", "add", "--auth-file", str(auth), "bob")
    assert cli("token", "revoke", "--auth-file", str(auth), "alice").returncode == 0
    assert list(stored(auth)) == ["bob"]
    unknown = cli("token", "revoke", "--auth-file", str(auth), "alice")
    assert unknown.returncode == 2 and "no token named 'alice'" in unknown.stderr, unknown.stderr
    assert stat.S_IMODE(auth.stat().st_mode) == 0o600


def test_a_damaged_auth_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    auth = tmp_path / "auth.json"
    auth.write_text('{"version": 1, "tokens": [{"name": "x", "sha256": "not-a-hash"}]}')
    before = auth.read_bytes()
    refused = cli("token", "add", "--auth-file", str(auth), "ci")
    assert refused.returncode == 2 and "is not a cloudpypi auth file" in refused.stderr, refused.stderr
    assert auth.read_bytes() == before
    assert cli("token", "list", "--auth-file", str(auth)).returncode == 2


def test_the_real_command_prints_the_token_alone_on_stdout(tmp_path: Path) -> None:
    auth = tmp_path / "auth.json"
    added = run_cli("token", "add", "--auth-file", str(auth), "ci", timeout=120)
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    assert added.stdout == token + "\n", f"expected one line, got {added.stdout!r}"
    assert stored(auth) == {"ci": hashlib.sha256(token.encode()).hexdigest()}
