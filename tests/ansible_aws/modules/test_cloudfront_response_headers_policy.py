"""cloudpypi.aws.cloudfront_response_headers_policy against botocore's Stubber (moto 5.2.5 has no
response-headers policies)."""

from __future__ import annotations

from ansible_collections.cloudpypi.aws.plugins.module_utils import cloudfront_named
from ansible_collections.cloudpypi.aws.plugins.modules import cloudfront_response_headers_policy as headers_module

from ansible_aws.modules.stubbed import (
    NOW,
    as_aws_returns,
)


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
