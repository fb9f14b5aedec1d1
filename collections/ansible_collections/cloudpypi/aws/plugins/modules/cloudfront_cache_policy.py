#!/usr/bin/python
# Copyright: CloudPyPI contributors
# Apache-2.0
"""Manage a CloudFront cache policy."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cloudfront_cache_policy
short_description: Manage a CloudFront cache policy
version_added: 0.1.0
description:
  - Creates, updates or deletes a custom CloudFront cache policy, found by its I(name).
  - Idempotent (compares the configuration AWS returns with the one asked for), supports check mode and diff.
  - No module of amazon.aws or community.aws manages cache policies.
  - moto 5.2.5 does not implement cache policies; this module is tested with botocore's Stubber.
options:
  name:
    description: Name of the cache policy, unique in the account.
    type: str
    required: true
  comment:
    description: Comment stored with the policy.
    type: str
    default: ""
  min_ttl:
    description: Minimum time in seconds objects stay cached.
    type: int
    default: 0
  default_ttl:
    description: Time in seconds objects stay cached when the origin sends no Cache-Control.
    type: int
    default: 86400
  max_ttl:
    description: Maximum time in seconds objects stay cached, whatever the origin says.
    type: int
    default: 31536000
  enable_accept_encoding_gzip:
    description: Cache gzip-compressed variants separately (needed for CloudFront compression).
    type: bool
    default: true
  enable_accept_encoding_brotli:
    description: Cache brotli-compressed variants separately.
    type: bool
    default: true
  header_names:
    description: Request headers included in the cache key (none when empty).
    type: list
    elements: str
    default: []
  cookie_names:
    description: Cookies included in the cache key (none when empty).
    type: list
    elements: str
    default: []
  query_string_behavior:
    description: Which query strings are in the cache key.
    type: str
    choices: [none, whitelist, all, allExcept]
    default: none
  query_string_names:
    description: Query strings named by I(query_string_behavior=whitelist) or C(allExcept).
    type: list
    elements: str
    default: []
  state:
    description: Whether the policy exists.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - CloudPyPI contributors
"""

EXAMPLES = r"""
- name: Short-lived cache for index pages (the function rewrites the URI, so Accept is not in the key)
  cloudpypi.aws.cloudfront_cache_policy:
    name: cloudpypi-simple
    comment: PEP 503/691 index pages
    min_ttl: 0
    default_ttl: 600
    max_ttl: 600
    query_string_behavior: whitelist
    query_string_names: [format]
"""

RETURN = r"""
id:
  description: The policy's Id (null in check mode before creation, or when absent).
  returned: always
  type: str
cache_policy_config:
  description: The CachePolicyConfig as AWS returned it.
  returned: when state is present
  type: dict
differences:
  description: Paths of the configuration that differed before an update.
  returned: when updated
  type: list
  elements: str
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.cloudpypi.aws.plugins.module_utils.cloudfront_named import CACHE_POLICY, run_module
from ansible_collections.cloudpypi.aws.plugins.module_utils.compare import with_quantities


def _names(behavior_if_any, names):
    return (behavior_if_any if names else "none"), {"Items": list(names)}


def desired_config(params):
    """The CachePolicyConfig the parameters ask for, or None for absent."""
    if params["state"] == "absent":
        return None
    header_behavior, headers = _names("whitelist", params["header_names"])
    cookie_behavior, cookies = _names("whitelist", params["cookie_names"])
    query_behavior = params["query_string_behavior"]
    return with_quantities(
        {
            "Name": params["name"],
            "Comment": params["comment"] or "",
            "MinTTL": params["min_ttl"],
            "DefaultTTL": params["default_ttl"],
            "MaxTTL": params["max_ttl"],
            "ParametersInCacheKeyAndForwardedToOrigin": {
                "EnableAcceptEncodingGzip": params["enable_accept_encoding_gzip"],
                "EnableAcceptEncodingBrotli": params["enable_accept_encoding_brotli"],
                "HeadersConfig": {"HeaderBehavior": header_behavior, "Headers": headers},
                "CookiesConfig": {"CookieBehavior": cookie_behavior, "Cookies": cookies},
                "QueryStringsConfig": {
                    "QueryStringBehavior": query_behavior,
                    "QueryStrings": {"Items": list(params["query_string_names"])},
                },
            },
        }
    )


def check_params(params):
    """Operator-actionable errors for combinations AWS would reject less clearly."""
    if params["state"] == "absent":
        return None
    if not params["min_ttl"] <= params["default_ttl"] <= params["max_ttl"]:
        return (
            f"cache policy {params['name']}: need min_ttl <= default_ttl <= max_ttl, "
            f"got {params['min_ttl']}, {params['default_ttl']}, {params['max_ttl']}"
        )
    if params["query_string_behavior"] in ("whitelist", "allExcept") and not params["query_string_names"]:
        behavior = params["query_string_behavior"]
        return f"cache policy {params['name']}: query_string_behavior={behavior} needs query_string_names"
    return None


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        comment=dict(type="str", default=""),
        min_ttl=dict(type="int", default=0),
        default_ttl=dict(type="int", default=86400),
        max_ttl=dict(type="int", default=31536000),
        enable_accept_encoding_gzip=dict(type="bool", default=True),
        enable_accept_encoding_brotli=dict(type="bool", default=True),
        header_names=dict(type="list", elements="str", default=[]),
        cookie_names=dict(type="list", elements="str", default=[]),
        query_string_behavior=dict(type="str", default="none", choices=["none", "whitelist", "all", "allExcept"]),
        query_string_names=dict(type="list", elements="str", default=[]),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    problem = check_params(module.params)
    if problem:
        module.fail_json(msg=problem)
    run_module(module, CACHE_POLICY, desired_config(module.params), "cache policy", "cache_policy_config")


if __name__ == "__main__":
    main()
