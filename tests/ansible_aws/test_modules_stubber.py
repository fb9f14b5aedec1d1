"""The project's own modules (collections/ansible_collections/cloudpypi/aws) against botocore's
Stubber, for what moto 5.2.5 cannot exercise: cache and response-headers policies, function
update and publish, OAC ids and function associations on distributions, UpdateBudget and budget
subscribers.  Each: create, a no-op second run (changed=False, no write call), an update
(changed=True with a diff), and check mode (no write call).  The Stubber fails a test on any
call it was not told to expect, so "no write call" is checked by not stubbing one."""

from __future__ import annotations

import copy
import datetime
import io

import boto3
import pytest
from ansible_collections.cloudpypi.aws.plugins.module_utils import cloudfront_named
from ansible_collections.cloudpypi.aws.plugins.module_utils.compare import (
    differences,
    merged,
    unsupported_hint,
    with_quantities,
)
from ansible_collections.cloudpypi.aws.plugins.modules import budget as budget_module
from ansible_collections.cloudpypi.aws.plugins.modules import cloudfront_cache_policy as cache_policy_module
from ansible_collections.cloudpypi.aws.plugins.modules import cloudfront_distribution as distribution_module
from ansible_collections.cloudpypi.aws.plugins.modules import cloudfront_distribution_info as distribution_info
from ansible_collections.cloudpypi.aws.plugins.modules import cloudfront_function as function_module
from ansible_collections.cloudpypi.aws.plugins.modules import cloudfront_response_headers_policy as headers_module
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

NOW = datetime.datetime(2026, 11, 29, tzinfo=datetime.UTC)
ACCOUNT = "123456789012"


def make_client(service: str):
    return boto3.client(
        service,
        region_name="us-east-1",
        aws_access_key_id="AKIATESTSTUBBER00000",
        aws_secret_access_key="stubber-test-secret-key-not-real-0000000000",  # noqa: S106 (dummy)
    )


@pytest.fixture
def cloudfront():
    client = make_client("cloudfront")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


# ---------------------------------------------------------------- compare helpers (pure)


def test_differences_ignore_quantity_server_defaults_and_scalar_order():
    desired = with_quantities({"A": {"Items": ["GET", "HEAD"]}, "B": 1, "C": {"Items": []}})
    current = {"A": {"Quantity": 2, "Items": ["HEAD", "GET"]}, "B": 1, "Extra": "server default"}
    assert differences(desired, current) == [], "expected no difference for reordered scalars and omitted empties"
    assert differences({"B": 2}, current) == ["B"], "expected the changed scalar to be reported"


def test_differences_compare_lists_of_documents_in_order():
    desired = {"Items": [{"PathPattern": "/simple/*"}, {"PathPattern": "/packages/*"}]}
    current = {"Items": [{"PathPattern": "/packages/*"}, {"PathPattern": "/simple/*"}]}
    assert differences(desired, current) == ["Items[0].PathPattern", "Items[1].PathPattern"]


def test_merged_keeps_server_defaults_and_replaces_lists():
    current = {"Keep": 1, "Nested": {"Default": True, "Mine": 1}, "List": [1, 2]}
    assert merged(current, {"Nested": {"Mine": 2}, "List": [3]}) == {
        "Keep": 1,
        "Nested": {"Default": True, "Mine": 2},
        "List": [3],
    }


# ---------------------------------------------------------------- cache policy


def cache_params(**overrides):
    params = {
        "name": "cloudpypi-simple",
        "comment": "pages",
        "min_ttl": 0,
        "default_ttl": 600,
        "max_ttl": 600,
        "enable_accept_encoding_gzip": True,
        "enable_accept_encoding_brotli": True,
        "header_names": [],
        "cookie_names": [],
        "query_string_behavior": "none",
        "query_string_names": [],
        "state": "present",
    }
    params.update(overrides)
    return params


def as_aws_returns(config):
    """What AWS gives back: Quantity 0 lists without Items, keys in another order."""
    returned = copy.deepcopy(config)
    return dict(reversed(list(returned.items())))


def cache_list(config=None, policy_id="CP1"):
    items = (
        []
        if config is None
        else [
            {"Type": "custom", "CachePolicy": {"Id": policy_id, "LastModifiedTime": NOW, "CachePolicyConfig": config}}
        ]
    )
    return {"CachePolicyList": {"MaxItems": 100, "Quantity": len(items), "Items": items}}


def test_cache_policy_is_created_when_missing(cloudfront):
    client, stubber = cloudfront
    desired = cache_policy_module.desired_config(cache_params())
    stubber.add_response("list_cache_policies", cache_list(), {"Type": "custom"})
    stubber.add_response(
        "create_cache_policy",
        {"CachePolicy": {"Id": "CP1", "LastModifiedTime": NOW, "CachePolicyConfig": desired}, "ETag": "E1"},
        {"CachePolicyConfig": desired},
    )
    result = cloudfront_named.ensure(client, cloudfront_named.CACHE_POLICY, "cloudpypi-simple", desired, False)
    assert (result["changed"], result["id"]) == (True, "CP1"), f"expected a created policy CP1, got {result}"
    assert result["diff"]["before"] == {} and result["diff"]["after"]["DefaultTTL"] == 600, f"got {result['diff']}"


def test_cache_policy_second_run_changes_nothing(cloudfront):
    client, stubber = cloudfront
    desired = cache_policy_module.desired_config(cache_params())
    stubber.add_response("list_cache_policies", cache_list(desired), {"Type": "custom"})
    stubber.add_response(
        "get_cache_policy",
        {
            "CachePolicy": {"Id": "CP1", "LastModifiedTime": NOW, "CachePolicyConfig": as_aws_returns(desired)},
            "ETag": "E1",
        },
        {"Id": "CP1"},
    )
    result = cloudfront_named.ensure(client, cloudfront_named.CACHE_POLICY, "cloudpypi-simple", desired, False)
    assert result["changed"] is False, f"expected no change, got {result.get('differences')}"


def test_cache_policy_update_sends_if_match_and_reports_the_diff(cloudfront):
    client, stubber = cloudfront
    desired = cache_policy_module.desired_config(cache_params())
    current = cache_policy_module.desired_config(cache_params(default_ttl=86400, max_ttl=86400))
    stubber.add_response("list_cache_policies", cache_list(current), {"Type": "custom"})
    stubber.add_response(
        "get_cache_policy",
        {"CachePolicy": {"Id": "CP1", "LastModifiedTime": NOW, "CachePolicyConfig": current}, "ETag": "E1"},
        {"Id": "CP1"},
    )
    stubber.add_response(
        "update_cache_policy",
        {"CachePolicy": {"Id": "CP1", "LastModifiedTime": NOW, "CachePolicyConfig": desired}, "ETag": "E2"},
        {"Id": "CP1", "IfMatch": "E1", "CachePolicyConfig": desired},
    )
    result = cloudfront_named.ensure(client, cloudfront_named.CACHE_POLICY, "cloudpypi-simple", desired, False)
    assert result["changed"] is True and result["etag"] == "E2", f"expected an update to E2, got {result}"
    assert sorted(result["differences"]) == ["DefaultTTL", "MaxTTL"], f"got {result['differences']}"
    assert (result["diff"]["before"]["DefaultTTL"], result["diff"]["after"]["DefaultTTL"]) == (86400, 600)


def test_cache_policy_check_mode_predicts_the_update_without_writing(cloudfront):
    client, stubber = cloudfront
    desired = cache_policy_module.desired_config(cache_params())
    current = cache_policy_module.desired_config(cache_params(default_ttl=300))
    stubber.add_response("list_cache_policies", cache_list(current), {"Type": "custom"})
    stubber.add_response(
        "get_cache_policy",
        {"CachePolicy": {"Id": "CP1", "LastModifiedTime": NOW, "CachePolicyConfig": current}, "ETag": "E1"},
        {"Id": "CP1"},
    )
    result = cloudfront_named.ensure(client, cloudfront_named.CACHE_POLICY, "cloudpypi-simple", desired, True)
    assert result["changed"] is True and result["differences"] == ["DefaultTTL"], f"got {result}"


def test_cache_policy_lookup_follows_pagination(cloudfront):
    client, stubber = cloudfront
    other = cache_policy_module.desired_config(cache_params(name="someone-else"))
    first = cache_list(other, "OTHER")
    first["CachePolicyList"]["NextMarker"] = "page2"
    stubber.add_response("list_cache_policies", first, {"Type": "custom"})
    mine = cache_policy_module.desired_config(cache_params())
    stubber.add_response("list_cache_policies", cache_list(mine, "MINE"), {"Type": "custom", "Marker": "page2"})
    assert cloudfront_named.find_id(client, cloudfront_named.CACHE_POLICY, "cloudpypi-simple") == "MINE"


def test_cache_policy_rejects_inconsistent_ttls_with_a_clear_message():
    message = cache_policy_module.check_params(cache_params(min_ttl=700))
    assert message and "min_ttl <= default_ttl <= max_ttl" in message, f"got {message}"


# ---------------------------------------------------------------- response-headers policy


def headers_config(value="Accept"):
    return headers_module.desired_config(
        {
            "name": "cloudpypi-vary-accept",
            "comment": "",
            "remove_headers": [],
            "state": "present",
            "custom_headers": [{"header": "Vary", "value": value, "override": True}],
        }
    )


def headers_get(config):
    return {
        "ResponseHeadersPolicy": {"Id": "RH1", "LastModifiedTime": NOW, "ResponseHeadersPolicyConfig": config},
        "ETag": "E1",
    }


def headers_list(config):
    return {
        "ResponseHeadersPolicyList": {
            "MaxItems": 100,
            "Quantity": 1,
            "Items": [{"Type": "custom", "ResponseHeadersPolicy": headers_get(config)["ResponseHeadersPolicy"]}],
        }
    }


def test_response_headers_policy_adds_vary_accept_once(cloudfront):
    client, stubber = cloudfront
    desired = headers_config()
    assert desired["CustomHeadersConfig"] == {
        "Quantity": 1,
        "Items": [{"Header": "Vary", "Value": "Accept", "Override": True}],
    }, f"got {desired}"
    stubber.add_response("list_response_headers_policies", headers_list(desired), {"Type": "custom"})
    stubber.add_response("get_response_headers_policy", headers_get(desired), {"Id": "RH1"})
    result = cloudfront_named.ensure(client, cloudfront_named.RESPONSE_HEADERS_POLICY, desired["Name"], desired, False)
    assert result["changed"] is False, f"expected no change, got {result.get('differences')}"


def test_response_headers_policy_update_replaces_the_header_value(cloudfront):
    client, stubber = cloudfront
    desired, current = headers_config(), headers_config("Accept-Encoding")
    stubber.add_response("list_response_headers_policies", headers_list(current), {"Type": "custom"})
    stubber.add_response("get_response_headers_policy", headers_get(current), {"Id": "RH1"})
    stubber.add_response(
        "update_response_headers_policy",
        headers_get(desired),
        {"Id": "RH1", "IfMatch": "E1", "ResponseHeadersPolicyConfig": desired},
    )
    result = cloudfront_named.ensure(client, cloudfront_named.RESPONSE_HEADERS_POLICY, desired["Name"], desired, False)
    assert result["changed"] is True, "expected the header value change to update the policy"
    assert result["differences"] == ["CustomHeadersConfig.Items[0].Value"], f"got {result['differences']}"


def security_headers_config(max_age=31536000, nosniff=True):
    return headers_module.desired_config(
        {
            "name": "cloudpypi-packages-headers",
            "comment": "",
            "custom_headers": [],
            "remove_headers": [],
            "state": "present",
            "strict_transport_security": {
                "max_age": max_age,
                "include_subdomains": False,
                "preload": False,
                "override": True,
            },
            "content_type_options_nosniff": nosniff,
        }
    )


def test_response_headers_policy_sends_hsts_and_nosniff_without_empty_custom_headers():
    desired = security_headers_config()
    assert desired["SecurityHeadersConfig"] == {
        "StrictTransportSecurity": {
            "Override": True,
            "IncludeSubdomains": False,
            "Preload": False,
            "AccessControlMaxAgeSec": 31536000,
        },
        "ContentTypeOptions": {"Override": True},
    }, f"got {desired}"
    assert "CustomHeadersConfig" not in desired, f"expected no empty custom headers, got {desired}"


def test_response_headers_policy_with_security_headers_is_created_then_left_alone(cloudfront):
    client, stubber = cloudfront
    desired = security_headers_config()
    empty = {"ResponseHeadersPolicyList": {"MaxItems": 100, "Quantity": 0, "Items": []}}
    stubber.add_response("list_response_headers_policies", empty, {"Type": "custom"})
    stubber.add_response(
        "create_response_headers_policy", headers_get(desired), {"ResponseHeadersPolicyConfig": desired}
    )
    created = cloudfront_named.ensure(
        client, cloudfront_named.RESPONSE_HEADERS_POLICY, desired["Name"], desired, False
    )
    assert (created["changed"], created["id"]) == (True, "RH1"), f"expected a created policy RH1, got {created}"
    # Second run: AWS returns the policy with its keys in another order: no write call.
    returned = as_aws_returns(desired)
    stubber.add_response("list_response_headers_policies", headers_list(returned), {"Type": "custom"})
    stubber.add_response("get_response_headers_policy", headers_get(returned), {"Id": "RH1"})
    again = cloudfront_named.ensure(client, cloudfront_named.RESPONSE_HEADERS_POLICY, desired["Name"], desired, False)
    assert again["changed"] is False, f"expected no change on the second run, got {again.get('differences')}"


def test_response_headers_policy_adding_nosniff_updates_and_check_mode_writes_nothing(cloudfront):
    client, stubber = cloudfront
    desired, current = security_headers_config(), security_headers_config(max_age=300, nosniff=False)
    stubber.add_response("list_response_headers_policies", headers_list(current), {"Type": "custom"})
    stubber.add_response("get_response_headers_policy", headers_get(current), {"Id": "RH1"})
    kind = cloudfront_named.RESPONSE_HEADERS_POLICY
    predicted = cloudfront_named.ensure(client, kind, desired["Name"], desired, True)
    assert predicted["changed"] is True, "expected check mode to predict the update (and, stubbed, write nothing)"
    stubber.add_response("list_response_headers_policies", headers_list(current), {"Type": "custom"})
    stubber.add_response("get_response_headers_policy", headers_get(current), {"Id": "RH1"})
    stubber.add_response(
        "update_response_headers_policy",
        headers_get(desired),
        {"Id": "RH1", "IfMatch": "E1", "ResponseHeadersPolicyConfig": desired},
    )
    updated = cloudfront_named.ensure(client, cloudfront_named.RESPONSE_HEADERS_POLICY, desired["Name"], desired, False)
    assert updated["changed"] is True, "expected HSTS max-age and nosniff to update the policy"
    assert sorted(updated["differences"]) == [
        "SecurityHeadersConfig.ContentTypeOptions",
        "SecurityHeadersConfig.StrictTransportSecurity.AccessControlMaxAgeSec",
    ], f"got {updated['differences']}"


def test_origin_access_control_absent_deletes_with_if_match(cloudfront):
    client, stubber = cloudfront
    config = {
        "Name": "oac",
        "Description": "",
        "SigningProtocol": "sigv4",
        "SigningBehavior": "always",
        "OriginAccessControlOriginType": "s3",
    }
    stubber.add_response(
        "list_origin_access_controls",
        {
            "OriginAccessControlList": {
                "Marker": "",
                "MaxItems": 100,
                "IsTruncated": False,
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "OAC1",
                        "Description": "",
                        "Name": "oac",
                        "SigningProtocol": "sigv4",
                        "SigningBehavior": "always",
                        "OriginAccessControlOriginType": "s3",
                    }
                ],
            }
        },
        {},
    )
    stubber.add_response(
        "get_origin_access_control",
        {"OriginAccessControl": {"Id": "OAC1", "OriginAccessControlConfig": config}, "ETag": "E9"},
        {"Id": "OAC1"},
    )
    stubber.add_response("delete_origin_access_control", {}, {"Id": "OAC1", "IfMatch": "E9"})
    result = cloudfront_named.ensure(client, cloudfront_named.ORIGIN_ACCESS_CONTROL, "oac", None, False)
    assert result["changed"] is True and result["id"] == "OAC1", f"got {result}"


# ---------------------------------------------------------------- CloudFront Function

ARN = f"arn:aws:cloudfront::{ACCOUNT}:function/cloudpypi-viewer-request"
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


# ---------------------------------------------------------------- distribution

COMMENT = "cloudpypi mirror example"
DIST_ARN = f"arn:aws:cloudfront::{ACCOUNT}:distribution/EDIST"


def mirror_config(with_function=True):
    behaviour = {
        "TargetOriginId": "mirror-bucket",
        "ViewerProtocolPolicy": "redirect-to-https",
        "Compress": True,
        "CachePolicyId": "CP1",
        "ResponseHeadersPolicyId": "RH1",
        "AllowedMethods": {"Items": ["GET", "HEAD"], "CachedMethods": {"Items": ["GET", "HEAD"]}},
    }
    if with_function:
        behaviour["FunctionAssociations"] = {"Items": [{"EventType": "viewer-request", "FunctionARN": ARN}]}
    return {
        "Enabled": True,
        "PriceClass": "PriceClass_100",
        "Origins": {
            "Items": [
                {
                    "Id": "mirror-bucket",
                    "DomainName": "b.s3.eu-west-1.amazonaws.com",
                    "OriginAccessControlId": "OAC1",
                    "S3OriginConfig": {"OriginAccessIdentity": ""},
                }
            ]
        },
        "DefaultCacheBehavior": behaviour,
        "ViewerCertificate": {"CloudFrontDefaultCertificate": True},
    }


def aws_document(config):
    """The DistributionConfig as AWS returns it: the desired one plus server defaults."""
    document = with_quantities(copy.deepcopy(config))
    document.update(
        CallerReference=COMMENT,
        Comment=COMMENT,
        DefaultRootObject="",
        WebACLId="",
        HttpVersion="http2",
        IsIPV6Enabled=True,
        Aliases={"Quantity": 0},
        CacheBehaviors={"Quantity": 0},
        CustomErrorResponses={"Quantity": 0},
        Restrictions={"GeoRestriction": {"RestrictionType": "none", "Quantity": 0}},
        Logging={"Enabled": False, "IncludeCookies": False, "Bucket": "", "Prefix": ""},
    )
    document["DefaultCacheBehavior"].update(
        SmoothStreaming=False,
        FieldLevelEncryptionId="",
        LambdaFunctionAssociations={"Quantity": 0},
        TrustedSigners={"Enabled": False, "Quantity": 0},
    )
    document["DefaultCacheBehavior"].setdefault("FunctionAssociations", {"Quantity": 0})
    return document


def summary_of(document):
    keys = (
        "Aliases",
        "Origins",
        "DefaultCacheBehavior",
        "CacheBehaviors",
        "CustomErrorResponses",
        "Comment",
        "PriceClass",
        "Enabled",
        "ViewerCertificate",
        "Restrictions",
        "WebACLId",
        "HttpVersion",
        "IsIPV6Enabled",
    )
    return {
        "Id": "EDIST",
        "ARN": DIST_ARN,
        "Status": "Deployed",
        "LastModifiedTime": NOW,
        "DomainName": "d1.cloudfront.net",
        "Staging": False,
        **{k: document[k] for k in keys},
    }


def stub_found(stubber, document):
    stubber.add_response(
        "list_distributions",
        {
            "DistributionList": {
                "Marker": "",
                "MaxItems": 100,
                "IsTruncated": False,
                "Quantity": 1,
                "Items": [summary_of(document)],
            }
        },
        {},
    )


def stub_get(stubber, document, status="Deployed"):
    stubber.add_response(
        "get_distribution",
        {
            "Distribution": {
                "Id": "EDIST",
                "ARN": DIST_ARN,
                "Status": status,
                "LastModifiedTime": NOW,
                "InProgressInvalidationBatches": 0,
                "DomainName": "d1.cloudfront.net",
                "DistributionConfig": document,
            },
            "ETag": "E1",
        },
        {"Id": "EDIST"},
    )


def test_distribution_is_created_with_caller_reference_and_comment(cloudfront):
    client, stubber = cloudfront
    stubber.add_response(
        "list_distributions",
        {"DistributionList": {"Marker": "", "MaxItems": 100, "IsTruncated": False, "Quantity": 0}},
        {},
    )
    document = aws_document(mirror_config())
    stubber.add_response(
        "create_distribution",
        {
            "Distribution": {
                "Id": "EDIST",
                "ARN": DIST_ARN,
                "Status": "InProgress",
                "LastModifiedTime": NOW,
                "InProgressInvalidationBatches": 0,
                "DomainName": "d1.cloudfront.net",
                "DistributionConfig": document,
            }
        },
        {"DistributionConfig": {**with_quantities(mirror_config()), "Comment": COMMENT, "CallerReference": COMMENT}},
    )
    stub_get(stubber, document, "InProgress")
    result = distribution_module.ensure_distribution(client, COMMENT, mirror_config(), None, {}, True, False)
    assert (result["changed"], result["id"], result["arn"]) == (True, "EDIST", DIST_ARN), f"got {result}"


def test_distribution_second_run_ignores_server_defaults(cloudfront):
    client, stubber = cloudfront
    document = aws_document(mirror_config())
    stub_found(stubber, document)
    stubber.add_response("get_distribution_config", {"DistributionConfig": document, "ETag": "E1"}, {"Id": "EDIST"})
    stub_get(stubber, document)
    result = distribution_module.ensure_distribution(client, COMMENT, mirror_config(), None, {}, True, False)
    assert result["changed"] is False, f"expected no change, got {result.get('differences')}"


def test_distribution_update_attaches_oac_function_and_drops_legacy_ttls(cloudfront):
    client, stubber = cloudfront
    # What a moto-provisioned (or hand-made) distribution looks like: no OAC, no function, legacy TTLs.
    legacy = mirror_config(with_function=False)
    del legacy["Origins"]["Items"][0]["OriginAccessControlId"]
    legacy["DefaultCacheBehavior"].pop("CachePolicyId")
    legacy["DefaultCacheBehavior"].update(
        ForwardedValues={"QueryString": False, "Cookies": {"Forward": "none"}}, MinTTL=0, DefaultTTL=600, MaxTTL=600
    )
    current = aws_document(legacy)
    stub_found(stubber, current)
    stubber.add_response("get_distribution_config", {"DistributionConfig": current, "ETag": "E1"}, {"Id": "EDIST"})
    stub_get(stubber, current)
    sent = {}

    def capture(request, **_):
        sent.update(request)

    stubber.add_response(
        "update_distribution",
        {
            "Distribution": {
                "Id": "EDIST",
                "ARN": DIST_ARN,
                "Status": "InProgress",
                "LastModifiedTime": NOW,
                "InProgressInvalidationBatches": 0,
                "DomainName": "d1.cloudfront.net",
                "DistributionConfig": current,
            },
            "ETag": "E2",
        },
        {"Id": "EDIST", "IfMatch": "E1", "DistributionConfig": ANY},
    )
    client.meta.events.register(
        "before-parameter-build.cloudfront.UpdateDistribution", lambda params, **_: capture(params)
    )
    result = distribution_module.ensure_distribution(client, COMMENT, mirror_config(), None, {}, True, False)
    assert result["changed"] is True, "expected the missing OAC and function to trigger an update"
    assert {
        "Origins.Items[0].OriginAccessControlId",
        "DefaultCacheBehavior.CachePolicyId",
        "DefaultCacheBehavior.FunctionAssociations.Items",
    } <= set(result["differences"]), result["differences"]
    behaviour = sent["DistributionConfig"]["DefaultCacheBehavior"]
    assert behaviour["FunctionAssociations"]["Items"][0]["FunctionARN"] == ARN, f"got {behaviour}"
    assert not {"ForwardedValues", "MinTTL", "DefaultTTL", "MaxTTL"} & set(behaviour), (
        f"expected legacy cache settings removed next to a cache policy, got {sorted(behaviour)}"
    )
    assert sent["DistributionConfig"]["Logging"]["Enabled"] is False, "expected server defaults kept in the update"


def test_distribution_check_mode_reports_the_drift_without_writing(cloudfront):
    client, stubber = cloudfront
    current = aws_document(mirror_config())
    current["PriceClass"] = "PriceClass_All"
    stub_found(stubber, current)
    stubber.add_response("get_distribution_config", {"DistributionConfig": current, "ETag": "E1"}, {"Id": "EDIST"})
    stub_get(stubber, current)
    result = distribution_module.ensure_distribution(client, COMMENT, mirror_config(), None, {}, True, True)
    assert (result["changed"], result["differences"]) == (True, ["PriceClass"]), f"got {result}"
    assert (result["diff"]["before"]["PriceClass"], result["diff"]["after"]["PriceClass"]) == (
        "PriceClass_All",
        "PriceClass_100",
    )


def test_distribution_refuses_an_ambiguous_comment(cloudfront):
    client, stubber = cloudfront
    item = summary_of(aws_document(mirror_config()))
    stubber.add_response(
        "list_distributions",
        {
            "DistributionList": {
                "Marker": "",
                "MaxItems": 100,
                "IsTruncated": False,
                "Quantity": 2,
                "Items": [item, {**item, "Id": "E2"}],
            }
        },
        {},
    )
    with pytest.raises(distribution_module.DistributionError, match="distinct comments"):
        distribution_module.find(client, COMMENT)


def _listing(*items):
    return {"DistributionList": {"Marker": "", "MaxItems": 100, "IsTruncated": False, "Quantity": len(items),
                                 "Items": list(items)}}


def test_distribution_info_finds_the_mirror_by_its_comment_among_others(cloudfront):
    client, stubber = cloudfront
    mine = summary_of(aws_document(mirror_config()))
    other = {**mine, "Id": "EOTHER", "Comment": "someone else's site"}
    stubber.add_response("list_distributions", _listing(other, mine), {})
    result = distribution_info.describe(client, COMMENT)
    assert result == {"changed": False, "found": True, "id": mine["Id"], "arn": mine["ARN"],
                      "domain_name": mine["DomainName"]}


def test_distribution_info_answers_not_found_without_failing(cloudfront):
    client, stubber = cloudfront
    stubber.add_response("list_distributions", _listing(), {})
    assert distribution_info.describe(client, COMMENT) == {"changed": False, "found": False, "id": ""}


def test_distribution_info_refuses_an_ambiguous_comment(cloudfront):
    client, stubber = cloudfront
    item = summary_of(aws_document(mirror_config()))
    stubber.add_response("list_distributions", _listing(item, {**item, "Id": "E2"}), {})
    with pytest.raises(distribution_module.DistributionError, match="distinct comments"):
        distribution_info.describe(client, COMMENT)


# ---------------------------------------------------------------- budget


@pytest.fixture
def budgets():
    client = make_client("budgets")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def budget_params(**overrides):
    params = {
        "name": "cloudpypi-monthly",
        "amount": "500",
        "currency": "USD",
        "time_unit": "MONTHLY",
        "budget_type": "COST",
        "notifications": [{"type": "ACTUAL", "threshold": 80.0}],
        "emails": ["ops@example.com"],
        "sns_topic_arns": [],
        "compare_subscribers": True,
        "state": "present",
    }
    params.update(overrides)
    return params


def aws_budget(amount="500.0"):
    return {
        "BudgetName": "cloudpypi-monthly",
        "BudgetLimit": {"Amount": amount, "Unit": "USD"},
        "TimeUnit": "MONTHLY",
        "BudgetType": "COST",
    }


NOTE = {
    "NotificationType": "ACTUAL",
    "ComparisonOperator": "GREATER_THAN",
    "Threshold": 80.0,
    "ThresholdType": "PERCENTAGE",
}


def stub_budget_state(stubber, amount="500.0", subscribers=("ops@example.com",)):
    stubber.add_response(
        "describe_budget", {"Budget": aws_budget(amount)}, {"AccountId": ACCOUNT, "BudgetName": "cloudpypi-monthly"}
    )
    return lambda: (
        stubber.add_response(
            "describe_notifications_for_budget",
            {"Notifications": [NOTE]},
            {"AccountId": ACCOUNT, "BudgetName": "cloudpypi-monthly"},
        ),
        stubber.add_response(
            "describe_subscribers_for_notification",
            {"Subscribers": [{"SubscriptionType": "EMAIL", "Address": a} for a in subscribers]},
            {"AccountId": ACCOUNT, "BudgetName": "cloudpypi-monthly", "Notification": NOTE},
        ),
    )


def test_budget_second_run_changes_nothing(budgets):
    client, stubber = budgets
    stub_budget_state(stubber)()
    stubber.add_response(
        "describe_budget", {"Budget": aws_budget()}, {"AccountId": ACCOUNT, "BudgetName": "cloudpypi-monthly"}
    )
    result = budget_module.ensure_budget(client, ACCOUNT, budget_params(), False)
    assert result["changed"] is False, f"expected no change, got {result}"


def test_budget_amount_change_calls_update_budget(budgets):
    client, stubber = budgets
    stub_budget_state(stubber, amount="300.0")
    stubber.add_response("update_budget", {}, {"AccountId": ACCOUNT, "NewBudget": aws_budget("500")})
    stubber.add_response(
        "describe_notifications_for_budget",
        {"Notifications": [NOTE]},
        {"AccountId": ACCOUNT, "BudgetName": "cloudpypi-monthly"},
    )
    stubber.add_response(
        "describe_subscribers_for_notification",
        {"Subscribers": [{"SubscriptionType": "EMAIL", "Address": "ops@example.com"}]},
        {"AccountId": ACCOUNT, "BudgetName": "cloudpypi-monthly", "Notification": NOTE},
    )
    stubber.add_response(
        "describe_budget", {"Budget": aws_budget()}, {"AccountId": ACCOUNT, "BudgetName": "cloudpypi-monthly"}
    )
    result = budget_module.ensure_budget(client, ACCOUNT, budget_params(), False)
    assert result["changed"] is True, "expected the amount change to update the budget"
    assert (result["diff"]["before"]["budget"]["amount"], result["diff"]["after"]["budget"]["amount"]) == ("300", "500")


def test_budget_subscribers_follow_the_email_list(budgets):
    client, stubber = budgets
    stub_budget_state(stubber, subscribers=("old@example.com",))()
    for verb, address in (("create_subscriber", "ops@example.com"), ("delete_subscriber", "old@example.com")):
        stubber.add_response(
            verb,
            {},
            {
                "AccountId": ACCOUNT,
                "BudgetName": "cloudpypi-monthly",
                "Notification": NOTE,
                "Subscriber": {"SubscriptionType": "EMAIL", "Address": address},
            },
        )
    stubber.add_response(
        "describe_budget", {"Budget": aws_budget()}, {"AccountId": ACCOUNT, "BudgetName": "cloudpypi-monthly"}
    )
    result = budget_module.ensure_budget(client, ACCOUNT, budget_params(), False)
    assert result["changed"] is True and result["diff"]["after"]["subscribers"] == {"ACTUAL 80%": ["ops@example.com"]}


def test_budget_check_mode_adds_no_notification(budgets):
    client, stubber = budgets
    stub_budget_state(stubber)()
    params = budget_params(
        notifications=[{"type": "ACTUAL", "threshold": 80.0}, {"type": "FORECASTED", "threshold": 100.0}]
    )
    result = budget_module.ensure_budget(client, ACCOUNT, params, True)
    assert (result["changed"], result["notifications_created"]) == (True, [["FORECASTED", 100.0]]), f"got {result}"


def test_budget_missing_is_reported_as_none_not_an_error(budgets):
    client, stubber = budgets
    stubber.add_client_error("describe_budget", "NotFoundException", http_status_code=404)
    assert budget_module.current_budget(client, ACCOUNT, "cloudpypi-monthly") is None
    stubber.add_client_error("describe_budget", "AccessDeniedException", http_status_code=403)
    with pytest.raises(ClientError):
        budget_module.current_budget(client, ACCOUNT, "cloudpypi-monthly")


def test_an_endpoint_without_the_api_gets_an_actionable_hint(cloudfront):
    client, stubber = cloudfront
    stubber.add_client_error("list_cache_policies", "404", "Not Found", http_status_code=404)
    with pytest.raises(ClientError) as caught:
        cloudfront_named.find_id(client, cloudfront_named.CACHE_POLICY, "cloudpypi-simple")
    assert "roles/sandbox_* stand-ins" in unsupported_hint(caught.value), "expected the moto hint for a 404 API"
    stubber.add_client_error("list_cache_policies", "AccessDenied", http_status_code=403)
    with pytest.raises(ClientError) as denied:
        cloudfront_named.find_id(client, cloudfront_named.CACHE_POLICY, "cloudpypi-simple")
    assert unsupported_hint(denied.value) == "", "expected no hint for an ordinary error"
