#!/usr/bin/python
# Copyright: CloudPyPI contributors
# Apache-2.0
"""Manage a CloudFront response-headers policy (custom, removed and security headers)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cloudfront_response_headers_policy
short_description: Manage a CloudFront response-headers policy that adds or removes headers
version_added: 0.1.0
description:
  - Creates, updates or deletes a custom CloudFront response-headers policy, found by its I(name).
  - "Covers custom headers, removed headers and two security headers (what CloudPyPI needs,
    C(Vary: Accept), C(Strict-Transport-Security) and C(X-Content-Type-Options: nosniff))."
  - Idempotent, supports check mode and diff.
  - community.aws.cloudfront_response_headers_policy exists, but it updates the policy on every run,
    decides C(changed) from the modification time, reports changed in every check-mode run and
    returns no diff; this module compares the configuration instead.
  - moto 5.2.5 does not implement response-headers policies; this module is tested with botocore's Stubber.
options:
  name:
    description: Name of the policy, unique in the account.
    type: str
    required: true
  comment:
    description: Comment stored with the policy.
    type: str
    default: ""
  custom_headers:
    description: Headers CloudFront adds to responses.
    type: list
    elements: dict
    default: []
    suboptions:
      header:
        description: Header name.
        type: str
        required: true
      value:
        description: Header value.
        type: str
        required: true
      override:
        description: Replace a header of the same name sent by the origin.
        type: bool
        default: true
  remove_headers:
    description: Header names CloudFront removes from responses.
    type: list
    elements: str
    default: []
  strict_transport_security:
    description:
      - Add C(Strict-Transport-Security) to every response (browsers then refuse plain HTTP to the host).
      - Omitted, the policy sets no HSTS header.
    type: dict
    version_added: 0.2.0
    suboptions:
      max_age:
        description: Seconds a browser remembers the host as HTTPS only (C(max-age)).
        type: int
        required: true
      include_subdomains:
        description: Add C(includeSubDomains).
        type: bool
        default: false
      preload:
        description: Add C(preload).
        type: bool
        default: false
      override:
        description: Replace a header of the same name sent by the origin.
        type: bool
        default: true
  content_type_options_nosniff:
    description:
      - "Add C(X-Content-Type-Options: nosniff), so that browsers never guess a content type other
        than the one served."
    type: bool
    default: false
    version_added: 0.2.0
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
- name: Tell caches that pages vary by Accept (PEP 691 negotiation)
  cloudpypi.aws.cloudfront_response_headers_policy:
    name: cloudpypi-vary-accept
    custom_headers:
      - header: Vary
        value: Accept
        override: true
"""

RETURN = r"""
id:
  description: The policy's Id (null in check mode before creation, or when absent).
  returned: always
  type: str
response_headers_policy_config:
  description: The ResponseHeadersPolicyConfig as AWS returned it.
  returned: when state is present
  type: dict
differences:
  description: Paths of the configuration that differed before an update.
  returned: when updated
  type: list
  elements: str
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.cloudpypi.aws.plugins.module_utils.cloudfront_named import RESPONSE_HEADERS_POLICY, run_module
from ansible_collections.cloudpypi.aws.plugins.module_utils.compare import with_quantities


def desired_config(params):
    """The ResponseHeadersPolicyConfig the parameters ask for, or None for absent."""
    if params["state"] == "absent":
        return None
    config = {"Name": params["name"], "Comment": params["comment"] or ""}
    if params["custom_headers"]:
        config["CustomHeadersConfig"] = {
            "Items": [
                {"Header": item["header"], "Value": item["value"], "Override": item["override"]}
                for item in params["custom_headers"]
            ]
        }
    if params["remove_headers"]:
        config["RemoveHeadersConfig"] = {"Items": [{"Header": name} for name in params["remove_headers"]]}
    security = security_headers(params)
    if security:
        config["SecurityHeadersConfig"] = security
    return with_quantities(config)


def security_headers(params):
    """The SecurityHeadersConfig for HSTS and nosniff, empty when neither is asked for."""
    security = {}
    hsts = params.get("strict_transport_security")
    if hsts:
        security["StrictTransportSecurity"] = {
            "Override": hsts["override"],
            "IncludeSubdomains": hsts["include_subdomains"],
            "Preload": hsts["preload"],
            "AccessControlMaxAgeSec": hsts["max_age"],
        }
    if params.get("content_type_options_nosniff"):
        security["ContentTypeOptions"] = {"Override": True}
    return security


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        comment=dict(type="str", default=""),
        custom_headers=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                header=dict(type="str", required=True),
                value=dict(type="str", required=True),
                override=dict(type="bool", default=True),
            ),
        ),
        remove_headers=dict(type="list", elements="str", default=[]),
        strict_transport_security=dict(
            type="dict",
            options=dict(
                max_age=dict(type="int", required=True),
                include_subdomains=dict(type="bool", default=False),
                preload=dict(type="bool", default=False),
                override=dict(type="bool", default=True),
            ),
        ),
        content_type_options_nosniff=dict(type="bool", default=False),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    run_module(
        module,
        RESPONSE_HEADERS_POLICY,
        desired_config(module.params),
        "response headers policy",
        "response_headers_policy_config",
    )


if __name__ == "__main__":
    main()
