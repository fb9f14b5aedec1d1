"""`fab token add|list|revoke|push`: the controller's auth file changes, then playbooks/tokens.yml pushes it
(invoke's MockContext stands in for the ansible-playbook run; the playbook itself is tested against
moto and the Stubber in tests/ansible_aws)."""

from __future__ import annotations

import hashlib
import json
import shlex
import sys
from pathlib import Path

import pytest
from invoke import Exit, MockContext, Result

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import fabfile  # noqa: E402

PUSH = "ansible-playbook -i inventory/aws playbooks/tokens.yml"


def settings(auth_file: Path, enabled: bool = True):
    values = {"cloudpypi_tokens_enabled | default(false) | bool": str(enabled),
              "cloudpypi_tokens_auth_file | default('')": str(auth_file)}
    return lambda inventory, expression: values[expression]


def commands(c: MockContext) -> list[str]:
    prefix = f"cd {shlex.quote(str(ROOT))} && "
    return [call.args[0].removeprefix(prefix) for call in c.run.call_args_list]


@pytest.fixture
def auth_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "edge-tokens.json"
    monkeypatch.setenv("CLOUDPYPI_INVENTORY", "inventory/aws")
    monkeypatch.setattr(fabfile, "inventory_setting", settings(path))
    return path


def stored(path: Path) -> dict[str, str]:
    return {t["name"]: t["sha256"] for t in json.loads(path.read_text())["tokens"]}


def test_add_stores_the_hash_pushes_it_then_prints_the_token(auth_file: Path, capsys) -> None:
    c = MockContext(run=Result(exited=0), repeat=True)
    fabfile.token(c, "add", "ci")
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert stored(auth_file) == {"ci": hashlib.sha256(token.encode()).hexdigest()}
    assert commands(c) == [PUSH], "expected exactly one push through playbooks/tokens.yml"


def test_revoke_removes_the_name_and_pushes(auth_file: Path) -> None:
    c = MockContext(run=Result(exited=0), repeat=True)
    fabfile.token(c, "add", "ci")
    fabfile.token(c, "add", "dev")
    fabfile.token(c, "revoke", "ci")
    assert list(stored(auth_file)) == ["dev"] and commands(c) == [PUSH] * 3


def test_list_shows_names_and_pushes_nothing(auth_file: Path, capsys) -> None:
    c = MockContext(run=Result(exited=0), repeat=True)
    fabfile.token(c, "add", "ci")
    capsys.readouterr()
    listed = MockContext(run=Result(exited=0), repeat=True)
    fabfile.token(listed, "list")
    out = capsys.readouterr().out
    assert out.startswith("ci\t20") and stored(auth_file)["ci"] not in out
    assert not listed.run.called


def test_a_failed_push_still_prints_the_token_and_says_how_to_finish(auth_file: Path, capsys) -> None:
    c = MockContext(run=Result(exited=2), repeat=True)
    with pytest.raises(Exit) as caught:
        fabfile.token(c, "add", "ci")
    token = capsys.readouterr().out.strip()
    assert stored(auth_file) == {"ci": hashlib.sha256(token.encode()).hexdigest()}, "the token must not be lost"
    assert caught.value.code == 1 and "fab token push" in str(caught.value.message), caught.value.message


def test_a_bad_name_is_exit_2_and_runs_nothing(auth_file: Path) -> None:
    c = MockContext(run=Result(exited=0), repeat=True)
    with pytest.raises(Exit) as caught:
        fabfile.token(c, "add", "no:colons")
    assert caught.value.code == 2 and "bad token name" in str(caught.value.message)
    assert not c.run.called and not auth_file.exists()


def test_tokens_off_in_the_inventory_refuses_add_and_writes_nothing(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "edge-tokens.json"
    monkeypatch.setenv("CLOUDPYPI_INVENTORY", "inventory/aws")
    monkeypatch.setattr(fabfile, "inventory_setting", settings(path, enabled=False))
    c = MockContext(run=Result(exited=0), repeat=True)
    with pytest.raises(Exit) as caught:
        fabfile.token(c, "add", "ci")
    assert caught.value.code == 2 and "cloudpypi_tokens_enabled" in str(caught.value.message)
    assert not c.run.called and not path.exists()


def test_an_unknown_action_is_exit_2(auth_file: Path) -> None:
    with pytest.raises(Exit) as caught:
        fabfile.token(MockContext(run=Result(exited=0), repeat=True), "rotate", "ci")
    assert caught.value.code == 2 and "add, list, revoke, push" in str(caught.value.message)


def test_fab_parses_action_and_name_as_positional_words() -> None:
    from invoke import Collection
    from invoke.parser import Parser

    parsed = Parser(contexts=Collection.from_module(fabfile).to_contexts()).parse_argv(["token", "add", "ci"])
    assert parsed[0].name == "token", parsed
    assert (parsed[0].args["action"].value, parsed[0].args["name"].value) == ("add", "ci")
