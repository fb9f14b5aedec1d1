#!/usr/bin/python
# Copyright: CloudPyPI contributors
# Apache-2.0
"""Look up a CloudFront distribution by its Comment, read-only."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cloudfront_distribution_info
short_description: Find a CloudFront distribution by its Comment
version_added: 0.2.0
description:
  - Returns the Id, ARN and domain name of the distribution whose Comment is I(comment), the key
    M(cloudpypi.aws.cloudfront_distribution) manages it by. Changes nothing.
  - Fails when two distributions share the comment.
options:
  comment:
    description: The distribution's Comment.
    type: str
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - CloudPyPI contributors
"""

EXAMPLES = r"""
- name: Find the mirror's distribution, for the sync service's invalidations
  cloudpypi.aws.cloudfront_distribution_info:
    comment: cloudpypi mirror example-mirror
  register: mirror_distribution
"""

RETURN = r"""
found:
  description: Whether a distribution has that comment.
  returned: always
  type: bool
id:
  description: Distribution Id (empty when none was found).
  returned: always
  type: str
arn:
  description: Distribution ARN.
  returned: when found
  type: str
domain_name:
  description: The distribution's cloudfront.net domain name.
  returned: when found
  type: str
"""

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.cloudpypi.aws.plugins.module_utils.distributions import DistributionError, find


def describe(client, comment):
    """The module's result for ``comment``."""
    found = find(client, comment)
    if found is None:
        return {"changed": False, "found": False, "id": ""}
    return {"changed": False, "found": True, "id": found["Id"], "arn": found.get("ARN"),
            "domain_name": found.get("DomainName")}


def main():
    module = AnsibleAWSModule(argument_spec=dict(comment=dict(type="str", required=True)), supports_check_mode=True)
    client = module.client("cloudfront")
    try:
        result = describe(client, module.params["comment"])
    except DistributionError as error:
        module.fail_json(msg=str(error))
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        module.fail_json_aws(error, msg=f"Could not list CloudFront distributions for {module.params['comment']}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
