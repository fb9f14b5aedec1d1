"""cloudpypi.aws.cloudfront_cache_policy against botocore's Stubber (moto 5.2.5 has no cache policies)."""

from __future__ import annotations

from ansible_collections.cloudpypi.aws.plugins.module_utils import cloudfront_named
from ansible_collections.cloudpypi.aws.plugins.modules import cloudfront_cache_policy as cache_policy_module

from ansible_aws.modules.stubbed import (
    NOW,
    as_aws_returns,
)


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
