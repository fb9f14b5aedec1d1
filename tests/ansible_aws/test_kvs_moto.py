"""The KeyValueStore module and the mirror_cdn role's edge tokens against a moto server (moto 5.2.5
has the store, not the cloudfront-keyvaluestore API that writes keys: those paths are in
test_kvs_module_stubber.py).  Real ansible-playbook runs: create, a second run with changed=0,
check mode, comment update, delete; and playbooks/aws.yml with tokens on, twice, then teardown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_aws.aws_ansible_helpers import BUCKET, REGION, require_ok, run_playbook
from support.motoserver import moto_server

pytestmark = [pytest.mark.moto, pytest.mark.slow]

PLAY = """---
- name: Manage a KeyValueStore
  hosts: localhost
  connection: local
  gather_facts: false
  environment:
    AWS_REGION: us-east-1
  tasks:
    - name: The store
      cloudpypi.aws.cloudfront_key_value_store:
        name: "{{ kvs_name }}"
        comment: "{{ kvs_comment | default('edge tokens') }}"
        state: "{{ kvs_state | default('present') }}"
        keys: "{{ kvs_keys | default(omit) }}"
      register: kvs
    - name: Check the identifiers it returns
      ansible.builtin.assert:
        that: kvs.arn | default(none) is none or kvs.arn.endswith(':key-value-store/' ~ kvs.id)
        quiet: true
"""


@pytest.fixture(scope="module")
def moto():
    with moto_server() as server:
        yield server


@pytest.fixture(scope="module")
def play(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kvs") / "kvs.yml"
    path.write_text(PLAY)
    return path


def stores(moto) -> dict[str, dict]:
    listed = moto.client("cloudfront", region_name="us-east-1").list_key_value_stores()
    return {item["Name"]: item for item in listed["KeyValueStoreList"].get("Items", [])}


def test_store_is_created_once_and_a_second_run_changes_nothing(moto, play: Path) -> None:
    first = require_ok(run_playbook(moto, str(play), "-e", "kvs_name=created-once"))
    second = require_ok(run_playbook(moto, str(play), "-e", "kvs_name=created-once"))
    assert first.recap["changed"] == 1, f"expected the store to be created, got {first.recap}"
    assert second.recap["changed"] == 0, f"expected changed=0, got {second.recap}"
    store = stores(moto)["created-once"]
    assert store["Comment"] == "edge tokens" and store["ARN"].endswith(store["Id"])


def test_check_mode_creates_nothing(moto, play: Path) -> None:
    run = require_ok(run_playbook(moto, str(play), "-e", "kvs_name=only-planned", "--check"))
    assert run.recap["changed"] == 1, f"expected a planned creation, got {run.recap}"
    assert "only-planned" not in stores(moto), "check mode must not create the store"


def test_comment_change_updates_and_absent_deletes_once(moto, play: Path) -> None:
    require_ok(run_playbook(moto, str(play), "-e", "kvs_name=short-lived"))
    changed = require_ok(run_playbook(moto, str(play), "-e", "kvs_name=short-lived", "-e", "kvs_comment=renamed"))
    assert changed.recap["changed"] == 1 and stores(moto)["short-lived"]["Comment"] == "renamed"
    gone = require_ok(run_playbook(moto, str(play), "-e", "kvs_name=short-lived", "-e", "kvs_state=absent"))
    again = require_ok(run_playbook(moto, str(play), "-e", "kvs_name=short-lived", "-e", "kvs_state=absent"))
    assert gone.recap["changed"] == 1 and again.recap["changed"] == 0
    assert "short-lived" not in stores(moto)


def test_keys_against_an_endpoint_without_the_keys_api_fail_clearly(moto, play: Path) -> None:
    run = run_playbook(moto, str(play), "-e", "kvs_name=with-keys", "-e", '{"kvs_keys": {"ci": "' + "a" * 64 + '"}}')
    assert run.returncode != 0, "expected a failure: moto has no cloudfront-keyvaluestore API"
    assert "Could not manage CloudFront KeyValueStore with-keys" in run.output, run.output[-3000:]
    assert "a" * 64 not in run.output, "the key values must not be printed"


# ---------------------------------------------------------------- the role, tokens on


@pytest.fixture(scope="module")
def tokens_on(tmp_path_factory: pytest.TempPathFactory):
    auth_file = tmp_path_factory.mktemp("tokens") / "edge-tokens.json"
    auth_file.write_text(json.dumps({"version": 1, "tokens": [
        {"name": "ci", "sha256": "b" * 64, "created": "2026-12-06T00:00:00Z"}]}))
    options = ("-e", "cloudpypi_tokens_enabled=true", "-e", f"cloudpypi_tokens_auth_file={auth_file}")
    with moto_server() as server:
        first = require_ok(run_playbook(server, "playbooks/aws.yml", *options))
        second = require_ok(run_playbook(server, "playbooks/aws.yml", *options))
        yield server, first, second, options


def test_tokens_on_second_deploy_reports_no_change(tokens_on) -> None:
    _, first, second, _ = tokens_on
    assert first.recap["changed"] > 0
    assert second.recap["changed"] == 0, f"expected changed=0, got {second.recap}; changed: {second.changed_tasks()}"


def test_tokens_on_creates_the_store_and_ships_the_prologue_with_its_id(tokens_on) -> None:
    moto, *_ = tokens_on
    cloudfront = moto.client("cloudfront", region_name=REGION)
    store = next(s for name, s in stores(moto).items() if name.endswith("-tokens"))
    function = next(f for f in cloudfront.list_functions()["FunctionList"]["Items"]
                    if f["Name"].endswith("-viewer-request"))
    code = cloudfront.get_function(Name=function["Name"], Stage="DEVELOPMENT")["FunctionCode"].read().decode()
    lines = code.splitlines()
    assert lines[:2] == ["import cf from 'cloudfront';", "import crypto from 'crypto';"], lines[:3]
    assert f"cf.kvs('{store['Id']}')" in code, "expected the function to read the store the role created"
    assert "async function handler(event)" in code


def test_tokens_on_teardown_deletes_the_store(tokens_on) -> None:
    moto, _, _, options = tokens_on
    require_ok(run_playbook(moto, "playbooks/teardown.yml", *options, "-e", f"cloudpypi_teardown_confirm={BUCKET}"))
    assert not [name for name in stores(moto) if name.endswith("-tokens")], stores(moto)


def test_tokens_on_without_an_auth_file_stops_with_a_clear_message(tmp_path: Path) -> None:
    with moto_server() as server:
        run = run_playbook(server, "playbooks/aws.yml", "-e", "cloudpypi_tokens_enabled=true",
                           "-e", f"cloudpypi_tokens_auth_file={tmp_path / 'missing.json'}")
    assert run.returncode != 0
    assert "does not exist, so nobody could use the mirror" in run.output, run.output[-3000:]
