"""cloudpypi.aws.cloudfront_key_value_store and the function's KeyValueStore association against
botocore's Stubber: the key paths use the cloudfront-keyvaluestore API, which moto 5.2.5 lacks.
The Stubber fails a test on any call it was not told to expect, so "no write call" is checked by
not stubbing one."""

from __future__ import annotations

import datetime
import io

import boto3
import pytest
from ansible_collections.cloudpypi.aws.plugins.modules import cloudfront_function as function_module
from ansible_collections.cloudpypi.aws.plugins.modules import cloudfront_key_value_store as kvs_module
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import Stubber

NOW = datetime.datetime(2026, 12, 6, tzinfo=datetime.UTC)
ARN = "arn:aws:cloudfront::123456789012:key-value-store/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"
STORE = {"Name": "mirror-tokens", "Id": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111", "Comment": "tokens", "ARN": ARN,
         "Status": "READY", "LastModifiedTime": NOW}
HASH_A = "a" * 64
HASH_B = "b" * 64


def make_client(service: str):
    return boto3.client(
        service,
        region_name="us-east-1",
        aws_access_key_id="AKIATESTSTUBBER00000",
        aws_secret_access_key="stubber-test-secret-key-not-real-0000000000",  # noqa: S106 (dummy)
    )


@pytest.fixture
def clients():
    control, data = make_client("cloudfront"), make_client("cloudfront-keyvaluestore")
    with Stubber(control) as control_stub, Stubber(data) as data_stub:
        yield control, control_stub, data, data_stub
        control_stub.assert_no_pending_responses()
        data_stub.assert_no_pending_responses()


def stub_store(stub, store=None, etag="E1"):
    if store is None:
        stub.add_client_error("describe_key_value_store", "EntityNotFound", http_status_code=404,
                              expected_params={"Name": "mirror-tokens"})
    else:
        stub.add_response("describe_key_value_store", {"KeyValueStore": store, "ETag": etag},
                          {"Name": "mirror-tokens"})


def stub_keys(stub, keys, etag="D1", pages=1):
    items = [{"Key": k, "Value": v} for k, v in keys.items()]
    if pages == 2 and len(items) > 1:
        stub.add_response("list_keys", {"Items": items[:1], "NextToken": "next"}, {"KvsARN": ARN})
        stub.add_response("list_keys", {"Items": items[1:]}, {"KvsARN": ARN, "NextToken": "next"})
    else:
        stub.add_response("list_keys", {"Items": items}, {"KvsARN": ARN})
    stub.add_response("describe_key_value_store",
                      {"ETag": etag, "ItemCount": len(items), "TotalSizeInBytes": 1, "KvsARN": ARN,
                       "Created": NOW}, {"KvsARN": ARN})


def ensure(control, data, keys, check_mode=False, purge=True, present=True, comment="tokens"):
    return kvs_module.ensure_store(control, data, "mirror-tokens", comment, keys, purge, present, check_mode)


def test_key_changes_put_new_and_changed_and_purge_the_rest():
    puts, deletes = kvs_module.key_changes({"a": "1", "b": "2", "c": "3"}, {"a": "1", "b": "9", "d": "4"}, True)
    assert (puts, deletes) == (["b", "d"], ["c"])
    assert kvs_module.key_changes({"c": "3"}, {}, False) == ([], []), "without purge nothing is deleted"


def test_store_is_created_then_its_keys_are_put(clients):
    control, control_stub, data, data_stub = clients
    stub_store(control_stub, None)
    control_stub.add_response("create_key_value_store", {"KeyValueStore": STORE, "ETag": "E1"},
                              {"Name": "mirror-tokens", "Comment": "tokens"})
    stub_keys(data_stub, {})
    data_stub.add_response("update_keys", {"ETag": "D2", "ItemCount": 1, "TotalSizeInBytes": 66},
                           {"KvsARN": ARN, "IfMatch": "D1", "Puts": [{"Key": "ci", "Value": HASH_A}]})
    result = ensure(control, data, {"ci": HASH_A})
    assert result["changed"] and result["keys_put"] == ["ci"] and result["keys_deleted"] == []
    assert (result["arn"], result["id"]) == (ARN, STORE["Id"])
    assert HASH_A not in str(result["diff"]), "the diff must name keys, never show their values"


def test_second_run_changes_nothing_and_writes_nothing(clients):
    control, control_stub, data, data_stub = clients
    stub_store(control_stub, STORE)
    stub_keys(data_stub, {"ci": HASH_A, "dev": HASH_B}, pages=2)
    result = ensure(control, data, {"ci": HASH_A, "dev": HASH_B})
    assert result["changed"] is False, result


def test_changed_and_revoked_keys_go_in_one_guarded_update(clients):
    control, control_stub, data, data_stub = clients
    stub_store(control_stub, STORE)
    stub_keys(data_stub, {"ci": HASH_A, "gone": HASH_B}, etag="D7")
    data_stub.add_response("update_keys", {"ETag": "D8", "ItemCount": 2, "TotalSizeInBytes": 1},
                           {"KvsARN": ARN, "IfMatch": "D7", "Puts": [{"Key": "ci", "Value": HASH_B},
                                                                    {"Key": "new", "Value": HASH_A}],
                            "Deletes": [{"Key": "gone"}]})
    result = ensure(control, data, {"ci": HASH_B, "new": HASH_A})
    assert result["changed"] and result["keys_put"] == ["ci", "new"] and result["keys_deleted"] == ["gone"]
    assert result["diff"]["before"]["keys"] == ["ci", "gone"] and result["diff"]["after"]["keys"] == ["ci", "new"]


def test_many_keys_are_sent_in_batches_of_fifty_each_with_the_previous_etag(clients):
    control, control_stub, data, data_stub = clients
    wanted = {f"user{i:03d}": HASH_A for i in range(120)}
    stub_store(control_stub, STORE)
    stub_keys(data_stub, {})
    names = sorted(wanted)
    for number, start in enumerate(range(0, 120, 50)):
        puts = [{"Key": k, "Value": HASH_A} for k in names[start : start + 50]]
        data_stub.add_response("update_keys", {"ETag": f"D{number + 2}", "ItemCount": 1, "TotalSizeInBytes": 1},
                               {"KvsARN": ARN, "IfMatch": f"D{number + 1}", "Puts": puts})
    assert ensure(control, data, wanted)["changed"]


def test_without_purge_unlisted_keys_stay(clients):
    control, control_stub, data, data_stub = clients
    stub_store(control_stub, STORE)
    stub_keys(data_stub, {"ci": HASH_A, "other": HASH_B})
    assert ensure(control, data, {"ci": HASH_A}, purge=False)["changed"] is False


def test_check_mode_reports_key_changes_without_writing(clients):
    control, control_stub, data, data_stub = clients
    stub_store(control_stub, STORE)
    stub_keys(data_stub, {"gone": HASH_B})
    result = ensure(control, data, {"ci": HASH_A}, check_mode=True)
    assert result["changed"] and result["keys_put"] == ["ci"] and result["keys_deleted"] == ["gone"]


def test_check_mode_on_a_missing_store_reads_no_keys_and_writes_nothing(clients):
    control, control_stub, data, _ = clients
    stub_store(control_stub, None)
    result = ensure(control, data, {"ci": HASH_A}, check_mode=True)
    assert result["changed"] and result["arn"] is None and result["keys_put"] == ["ci"]


def test_keys_omitted_leaves_the_data_plane_alone(clients):
    control, control_stub, data, _ = clients
    stub_store(control_stub, STORE)
    assert ensure(control, data, None)["changed"] is False


def test_comment_change_updates_with_if_match(clients):
    control, control_stub, data, _ = clients
    stub_store(control_stub, STORE, etag="E5")
    control_stub.add_response("update_key_value_store", {"KeyValueStore": dict(STORE, Comment="new"), "ETag": "E6"},
                              {"Name": "mirror-tokens", "Comment": "new", "IfMatch": "E5"})
    result = ensure(control, data, None, comment="new")
    assert result["changed"] and result["diff"] == {"before": {"comment": "tokens"}, "after": {"comment": "new"}}


def test_a_new_store_is_waited_for_until_ready():
    control = make_client("cloudfront")
    with Stubber(control) as stub:
        stub_store(stub, dict(STORE, Status="PROVISIONING"))
        slept = []
        stub_store(stub, STORE)
        ready = kvs_module.wait_ready(control, "mirror-tokens", dict(STORE, Status="PROVISIONING"), 60,
                                      sleep=slept.append)
    assert ready["Status"] == "READY" and slept == [5, 5]


def test_a_store_that_never_gets_ready_times_out_with_its_status():
    clock = iter([0, 100])
    with pytest.raises(TimeoutError, match="PROVISIONING, not READY"):
        kvs_module.wait_ready(None, "mirror-tokens", dict(STORE, Status="PROVISIONING"), 60,
                              sleep=lambda _: None, clock=lambda: next(clock))


def test_absent_deletes_with_if_match_and_absent_again_changes_nothing(clients):
    control, control_stub, data, _ = clients
    stub_store(control_stub, STORE, etag="E9")
    control_stub.add_response("delete_key_value_store", {}, {"Name": "mirror-tokens", "IfMatch": "E9"})
    assert ensure(control, data, None, present=False)["changed"]
    stub_store(control_stub, None)
    assert ensure(control, data, None, present=False)["changed"] is False


def test_other_errors_are_not_mistaken_for_a_missing_store(clients):
    control, control_stub, data, _ = clients
    control_stub.add_client_error("describe_key_value_store", "AccessDenied", http_status_code=403)
    with pytest.raises(ClientError):
        ensure(control, data, None)


# ---------------------------------------------------------------- the function's association

CODE = "async function handler(event) { return event.request; }"
FN_ARN = "arn:aws:cloudfront::123456789012:function/mirror-viewer-request"


def fn_summary(stage, arns=()):
    config = {"Comment": "c", "Runtime": "cloudfront-js-2.0"}
    if arns:
        config["KeyValueStoreAssociations"] = {"Quantity": len(arns),
                                               "Items": [{"KeyValueStoreARN": a} for a in arns]}
    return {"Name": "fn", "Status": "UNASSOCIATED", "FunctionConfig": config,
            "FunctionMetadata": {"FunctionARN": FN_ARN, "Stage": stage, "LastModifiedTime": NOW}}


def stub_fn(stub, stage, arns=(), etag="ED"):
    stub.add_response("describe_function", {"FunctionSummary": fn_summary(stage, arns), "ETag": etag},
                      {"Name": "fn", "Stage": stage})
    body = StreamingBody(io.BytesIO(CODE.encode()), len(CODE.encode()))
    stub.add_response("get_function", {"FunctionCode": body, "ETag": etag, "ContentType": "application/javascript"},
                      {"Name": "fn", "Stage": stage})


def ensure_fn(client, arns, check_mode=False):
    return function_module.ensure_function(client, "fn", CODE, "c", "cloudfront-js-2.0", True, True, check_mode,
                                           arns)


def test_function_gains_the_association_and_is_published():
    client = make_client("cloudfront")
    with Stubber(client) as stub:
        stub_fn(stub, "DEVELOPMENT")
        association = {"Quantity": 1, "Items": [{"KeyValueStoreARN": ARN}]}
        stub.add_response("update_function", {"FunctionSummary": fn_summary("DEVELOPMENT", [ARN]), "ETag": "E2"},
                          {"Name": "fn", "IfMatch": "ED", "FunctionCode": CODE.encode(),
                           "FunctionConfig": {"Comment": "c", "Runtime": "cloudfront-js-2.0",
                                              "KeyValueStoreAssociations": association}})
        stub_fn(stub, "LIVE")
        stub.add_response("publish_function", {"FunctionSummary": fn_summary("LIVE", [ARN])},
                          {"Name": "fn", "IfMatch": "E2"})
        result = ensure_fn(client, [ARN])
        stub.assert_no_pending_responses()
    assert result["changed"] and result["published"]
    assert result["diff"]["after"]["key_value_store_arns"] == [ARN]


def test_function_with_its_association_in_place_changes_nothing():
    client = make_client("cloudfront")
    with Stubber(client) as stub:
        stub_fn(stub, "DEVELOPMENT", [ARN])
        stub_fn(stub, "LIVE", [ARN])
        result = ensure_fn(client, [ARN])
        stub.assert_no_pending_responses()
    assert result["changed"] is False


def test_turning_tokens_off_removes_the_association():
    client = make_client("cloudfront")
    with Stubber(client) as stub:
        stub_fn(stub, "DEVELOPMENT", [ARN])
        stub.add_response("update_function", {"FunctionSummary": fn_summary("DEVELOPMENT"), "ETag": "E2"},
                          {"Name": "fn", "IfMatch": "ED", "FunctionCode": CODE.encode(),
                           "FunctionConfig": {"Comment": "c", "Runtime": "cloudfront-js-2.0"}})
        stub_fn(stub, "LIVE", [ARN])
        stub.add_response("publish_function", {"FunctionSummary": fn_summary("LIVE")}, {"Name": "fn", "IfMatch": "E2"})
        result = ensure_fn(client, [])
        stub.assert_no_pending_responses()
    assert result["changed"] and result["published"]


def test_association_check_mode_writes_nothing():
    client = make_client("cloudfront")
    with Stubber(client) as stub:
        stub_fn(stub, "DEVELOPMENT")
        stub_fn(stub, "LIVE")
        result = ensure_fn(client, [ARN], check_mode=True)
        stub.assert_no_pending_responses()
    assert result["changed"] and result["published"]
