"""The fleet's queues on a real moto server: created once, found by name, and their messages checked."""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import pytest

from cloudpypi.errors import ConfigError, UnsafeInput
from cloudpypi.fleet.messages import ResultEnvelope, WorkItem, result_from_dict
from cloudpypi.fleet.queues import FleetQueues, QueueNames
from cloudpypi.model import ProjectResult
from support.cli import run_cli


def cli(moto, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=moto.env(os.environ), timeout=120)


@pytest.fixture
def fleet_name() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def test_init_creates_a_fifo_work_queue_whose_dead_letters_go_to_a_fifo_queue(moto, fleet_name):
    result = cli(moto, "fleet", "init", "--fleet", fleet_name, "--visibility-timeout", "60", "--max-receives", "3")
    assert result.returncode == 0, result.stderr
    sqs = moto.client("sqs")
    names = QueueNames.for_fleet(fleet_name)
    work = sqs.get_queue_url(QueueName=names.work)["QueueUrl"]
    assert work in result.stdout
    attributes = sqs.get_queue_attributes(QueueUrl=work, AttributeNames=["All"])["Attributes"]
    assert attributes["FifoQueue"] == "true"
    assert attributes["VisibilityTimeout"] == "60"
    redrive = json.loads(attributes["RedrivePolicy"])
    assert int(redrive["maxReceiveCount"]) == 3
    dead = sqs.get_queue_url(QueueName=names.dead)["QueueUrl"]
    dead_attributes = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["All"])["Attributes"]
    assert redrive["deadLetterTargetArn"] == dead_attributes["QueueArn"]
    assert dead_attributes["FifoQueue"] == "true"


def test_init_again_keeps_the_queues_and_applies_new_settings(moto, fleet_name):
    first = FleetQueues.init(fleet_name, client=moto.client("sqs"), visibility_timeout=60)
    second = FleetQueues.init(fleet_name, client=moto.client("sqs"), visibility_timeout=120)
    assert (first.work, first.dead, first.results) == (second.work, second.dead, second.results)
    assert second.visibility_timeout() == 120


def test_find_names_the_command_that_creates_missing_queues(moto, fleet_name):
    with pytest.raises(ConfigError, match=f"cloudpypi fleet init --fleet {fleet_name}"):
        FleetQueues.find(fleet_name, client=moto.client("sqs"))
    result = cli(moto, "fleet", "status", "--fleet", fleet_name)
    assert result.returncode == 2
    assert "fleet init" in result.stderr


def test_a_fleet_name_that_sqs_would_refuse_is_a_usage_error(moto):
    result = cli(moto, "fleet", "init", "--fleet", "../etc")
    assert result.returncode == 2
    assert "fleet name" in result.stderr


def test_status_counts_waiting_and_dead_messages(moto, fleet_name):
    queues = FleetQueues.init(fleet_name, client=moto.client("sqs"))
    item = WorkItem(run=uuid.uuid4().hex, project="demo", known=False, known_serial=None)
    queues.client.send_message(QueueUrl=queues.work, MessageBody=item.encode(), MessageGroupId=item.group,
                               MessageDeduplicationId=item.deduplication_id)
    result = cli(moto, "fleet", "status", "--fleet", fleet_name, "--json")
    assert result.returncode == 0, result.stderr
    depths = json.loads(result.stdout)["queues"]
    assert depths["work"]["waiting"] == 1
    assert depths["dead"]["waiting"] == 0


def test_work_items_round_trip_and_refuse_what_the_engine_never_sends():
    item = WorkItem(run=uuid.uuid4().hex, project="Demo_Pkg", known=True, known_serial=7, only=("a.whl",))
    assert WorkItem.decode(item.encode()).project == "demo-pkg"  # normalised on the way in
    with pytest.raises(UnsafeInput):
        WorkItem.decode(item.encode().replace('"Demo_Pkg"', '"../x"'))
    with pytest.raises(UnsafeInput):
        WorkItem.decode(item.encode().replace(item.run, "x"))
    with pytest.raises(UnsafeInput):
        WorkItem.decode("not json")


def test_results_round_trip_and_a_key_outside_packages_is_refused():
    run = uuid.uuid4().hex
    result = ProjectResult(name="demo", serial=5, files_added=2, dropped_keys=["packages/aa/bb/demo-1.0.tar.gz"])
    decoded = ResultEnvelope.decode(ResultEnvelope(run=run, worker="w1", result=result).encode())
    assert decoded.result == result
    for bad in ("simple/demo/index.html", ".cloudpypi/state.db", "packages/../simple/index.html", "packages//x"):
        body = json.loads(ResultEnvelope(run=run, worker="w1", result=result).encode())
        body["result"]["dropped_keys"] = [bad]
        with pytest.raises(UnsafeInput):
            result_from_dict(body["result"])
