"""cloudpypi.aws.cloudfront_function against botocore's Stubber (moto 5.2.5 cannot update or publish a function)."""

from __future__ import annotations

import io

from ansible_collections.cloudpypi.aws.plugins.modules import cloudfront_function as function_module
from botocore.response import StreamingBody

from ansible_aws.modules.stubbed import (
    ARN,
    NOW,
)

CODE = "function handler(event) { return event.request; }"


def summary(stage="DEVELOPMENT", comment="c"):
    return {
        "Name": "cloudpypi-viewer-request",
        "Status": "UNASSOCIATED",
        "FunctionConfig": {"Comment": comment, "Runtime": "cloudfront-js-2.0"},
        "FunctionMetadata": {"FunctionARN": ARN, "Stage": stage, "LastModifiedTime": NOW},
    }


def body(code):
    raw = code.encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


def stub_describe(stubber, stage, etag="ED", comment="c"):
    stubber.add_response(
        "describe_function",
        {"FunctionSummary": summary(stage, comment), "ETag": etag},
        {"Name": "cloudpypi-viewer-request", "Stage": stage},
    )


def stub_missing(stubber, stage):
    stubber.add_client_error(
        "describe_function",
        "NoSuchFunctionExists",
        http_status_code=404,
        expected_params={"Name": "cloudpypi-viewer-request", "Stage": stage},
    )


def stub_code(stubber, stage, code):
    stubber.add_response(
        "get_function",
        {"FunctionCode": body(code), "ETag": "EC", "ContentType": "x"},
        {"Name": "cloudpypi-viewer-request", "Stage": stage},
    )


def ensure_fn(client, code=CODE, check_mode=False, publish=True):
    return function_module.ensure_function(
        client, "cloudpypi-viewer-request", code, "c", "cloudfront-js-2.0", publish, True, check_mode
    )


def test_function_is_created_and_published(cloudfront):
    client, stubber = cloudfront
    stub_missing(stubber, "DEVELOPMENT")
    stubber.add_response(
        "create_function",
        {"FunctionSummary": summary(), "ETag": "E1", "Location": "l"},
        {
            "Name": "cloudpypi-viewer-request",
            "FunctionCode": CODE.encode(),
            "FunctionConfig": {"Comment": "c", "Runtime": "cloudfront-js-2.0"},
        },
    )
    stub_missing(stubber, "LIVE")
    stubber.add_response(
        "publish_function", {"FunctionSummary": summary("LIVE")}, {"Name": "cloudpypi-viewer-request", "IfMatch": "E1"}
    )
    result = ensure_fn(client)
    assert (result["changed"], result["published"], result["arn"]) == (True, True, ARN), f"got {result}"


def test_function_second_run_changes_nothing(cloudfront):
    client, stubber = cloudfront
    stub_describe(stubber, "DEVELOPMENT")
    stub_code(stubber, "DEVELOPMENT", CODE)
    stub_describe(stubber, "LIVE")
    stub_code(stubber, "LIVE", CODE)
    result = ensure_fn(client)
    assert (result["changed"], result["published"]) == (False, False), f"expected no change, got {result}"


def test_function_code_change_updates_and_publishes_with_a_diff(cloudfront):
    client, stubber = cloudfront
    new_code = CODE.replace("return", "/* v2 */ return")
    stub_describe(stubber, "DEVELOPMENT", etag="E1")
    stub_code(stubber, "DEVELOPMENT", CODE)
    stubber.add_response(
        "update_function",
        {"FunctionSummary": summary(), "ETag": "E2"},
        {
            "Name": "cloudpypi-viewer-request",
            "IfMatch": "E1",
            "FunctionCode": new_code.encode(),
            "FunctionConfig": {"Comment": "c", "Runtime": "cloudfront-js-2.0"},
        },
    )
    stub_describe(stubber, "LIVE")
    stub_code(stubber, "LIVE", CODE)
    stubber.add_response(
        "publish_function", {"FunctionSummary": summary("LIVE")}, {"Name": "cloudpypi-viewer-request", "IfMatch": "E2"}
    )
    result = ensure_fn(client, new_code)
    assert (result["changed"], result["published"]) == (True, True), f"got {result}"
    assert (result["diff"]["before"]["code"], result["diff"]["after"]["code"]) == (CODE, new_code)


def test_function_published_stage_lagging_behind_is_published(cloudfront):
    client, stubber = cloudfront
    stub_describe(stubber, "DEVELOPMENT", etag="E5")
    stub_code(stubber, "DEVELOPMENT", CODE)
    stub_describe(stubber, "LIVE")
    stub_code(stubber, "LIVE", "function handler(event) { return 'old'; }")
    stubber.add_response(
        "publish_function", {"FunctionSummary": summary("LIVE")}, {"Name": "cloudpypi-viewer-request", "IfMatch": "E5"}
    )
    result = ensure_fn(client)
    assert (result["changed"], result["published"]) == (True, True), f"got {result}"


def test_function_check_mode_writes_nothing(cloudfront):
    client, stubber = cloudfront
    stub_describe(stubber, "DEVELOPMENT")
    stub_code(stubber, "DEVELOPMENT", CODE)
    stub_describe(stubber, "LIVE")
    stub_code(stubber, "LIVE", CODE)
    result = ensure_fn(client, CODE + "\n// changed", check_mode=True)
    assert (result["changed"], result["published"]) == (True, True), f"expected a predicted update, got {result}"
