#!/usr/bin/python
# Copyright: CloudPyPI contributors
# Apache-2.0
"""Manage a CloudFront Origin Access Control."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cloudfront_origin_access_control
short_description: Manage a CloudFront Origin Access Control (OAC)
version_added: 0.1.0
description:
  - Creates, updates or deletes a CloudFront Origin Access Control, found by its I(name).
  - Idempotent, supports check mode and diff.
  - amazon.aws and community.aws have no module for OAC (only the legacy origin access identity).
options:
  name:
    description: Name of the OAC, unique in the account.
    type: str
    required: true
  description:
    description: Free-text description.
    type: str
    default: ""
  origin_type:
    description: Kind of origin the OAC signs requests to.
    type: str
    choices: [s3, mediastore, lambda, mediapackagev2]
    default: s3
  signing_behavior:
    description: When CloudFront signs origin requests.
    type: str
    choices: [always, never, no-override]
    default: always
  signing_protocol:
    description: Signing protocol.
    type: str
    choices: [sigv4]
    default: sigv4
  state:
    description: Whether the OAC exists.
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
- name: Create the mirror's origin access control
  cloudpypi.aws.cloudfront_origin_access_control:
    name: cloudpypi-mirror-oac
    description: CloudFront reads the private mirror bucket
"""

RETURN = r"""
id:
  description: The OAC's Id (null when it does not exist, or in check mode before creation).
  returned: always
  type: str
  sample: E2QWRUHAPOMQZL
origin_access_control_config:
  description: The OAC configuration as AWS returned it.
  returned: when state is present
  type: dict
differences:
  description: Paths of the configuration that differed before an update.
  returned: when updated
  type: list
  elements: str
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.cloudpypi.aws.plugins.module_utils.cloudfront_named import (
    ORIGIN_ACCESS_CONTROL,
    run_module,
)


def desired_config(params):
    """The OriginAccessControlConfig the parameters ask for, or None for absent."""
    if params["state"] == "absent":
        return None
    return {
        "Name": params["name"],
        "Description": params["description"] or "",
        "SigningProtocol": params["signing_protocol"],
        "SigningBehavior": params["signing_behavior"],
        "OriginAccessControlOriginType": params["origin_type"],
    }


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        description=dict(type="str", default=""),
        origin_type=dict(type="str", default="s3", choices=["s3", "mediastore", "lambda", "mediapackagev2"]),
        signing_behavior=dict(type="str", default="always", choices=["always", "never", "no-override"]),
        signing_protocol=dict(type="str", default="sigv4", choices=["sigv4"]),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    run_module(
        module, ORIGIN_ACCESS_CONTROL, desired_config(module.params), "origin access control",
        "origin_access_control_config",
    )


if __name__ == "__main__":
    main()
