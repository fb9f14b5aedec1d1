#!/usr/bin/python
# Copyright: CloudPyPI contributors
# Apache-2.0
"""Manage a CloudFront distribution from a DistributionConfig document, idempotently."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cloudfront_distribution
short_description: Manage a CloudFront distribution from a DistributionConfig document
version_added: 0.1.0
description:
  - Creates, updates or deletes the CloudFront distribution whose Comment is I(comment).
  - I(distribution_config) is written in the API's own shape (CamelCase, as in the CloudFront API
    reference); C(Quantity) fields may be left out, they are computed from C(Items).
  - The distribution is up to date when the configuration AWS returns contains everything
    I(distribution_config) says (AWS adds defaults, which are not compared), so a second run
    reports C(changed=false); an update sends the current configuration overlaid with I(distribution_config).
  - community.aws.cloudfront_distribution reports changed on every run against moto (it compares
    server-filled defaults) and cannot attach Origin Access Controls or CloudFront Functions; hence this module.
  - Deleting first disables the distribution and waits until it is deployed, as CloudFront requires.
options:
  comment:
    description: The distribution's Comment, used to find it. Must be unique among the account's distributions.
    type: str
    required: true
  distribution_config:
    description: DistributionConfig document without C(CallerReference) and C(Comment).
    type: dict
    default: {}
  caller_reference:
    description: CallerReference used on creation; defaults to I(comment).
    type: str
  tags:
    description: Tags the distribution carries (only added or changed, never removed).
    type: dict
    default: {}
  wait:
    description: Wait until the distribution is deployed after a change.
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait when I(wait=true) or when deleting.
    type: int
    default: 1800
  state:
    description: Whether the distribution exists.
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
- name: Serve the mirror bucket through CloudFront
  cloudpypi.aws.cloudfront_distribution:
    comment: cloudpypi mirror example-mirror
    distribution_config:
      Enabled: true
      PriceClass: PriceClass_100
      Origins:
        Items:
          - Id: mirror-bucket
            DomainName: example-mirror.s3.eu-west-1.amazonaws.com
            OriginAccessControlId: "{{ oac.id }}"
            S3OriginConfig:
              OriginAccessIdentity: ""
      DefaultCacheBehavior:
        TargetOriginId: mirror-bucket
        ViewerProtocolPolicy: redirect-to-https
        CachePolicyId: "{{ simple_policy.id }}"
"""

RETURN = r"""
id:
  description: Distribution Id (null in check mode before creation, or when absent).
  returned: always
  type: str
arn:
  description: Distribution ARN, for bucket policies (AWS:SourceArn) and IAM.
  returned: when the distribution exists
  type: str
domain_name:
  description: The distribution's cloudfront.net domain name.
  returned: when the distribution exists
  type: str
status:
  description: Deployment status (InProgress or Deployed).
  returned: when the distribution exists
  type: str
differences:
  description: Paths of the configuration that differed before an update.
  returned: when updated
  type: list
  elements: str
"""

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.cloudpypi.aws.plugins.module_utils.compare import (
    diff_of,
    differences,
    merged,
    projected,
    with_quantities,
)
from ansible_collections.cloudpypi.aws.plugins.module_utils.distributions import DistributionError, find

# Legacy cache settings that must go when a behaviour uses a cache policy.
_LEGACY_CACHE_KEYS = ("ForwardedValues", "MinTTL", "DefaultTTL", "MaxTTL")


def desired_document(comment, config):
    document = with_quantities(dict(config))
    document["Comment"] = comment
    return document


def reconcile(document):
    """Drop legacy cache settings from behaviours that name a cache policy (AWS rejects both)."""
    behaviours = [document.get("DefaultCacheBehavior", {})]
    behaviours += (document.get("CacheBehaviors") or {}).get("Items") or []
    for behaviour in behaviours:
        if behaviour.get("CachePolicyId"):
            for key in _LEGACY_CACHE_KEYS:
                behaviour.pop(key, None)
    return document


def _summary(client, distribution_id):
    distribution = client.get_distribution(Id=distribution_id)["Distribution"]
    return {
        "id": distribution["Id"],
        "arn": distribution["ARN"],
        "domain_name": distribution["DomainName"],
        "status": distribution["Status"],
    }


def _sync_tags(client, arn, tags, check_mode):
    if not tags:
        return False
    current = {t["Key"]: t["Value"] for t in client.list_tags_for_resource(Resource=arn)["Tags"].get("Items", [])}
    missing = {key: value for key, value in tags.items() if current.get(key) != value}
    if missing and not check_mode:
        client.tag_resource(Resource=arn, Tags={"Items": [{"Key": k, "Value": v} for k, v in missing.items()]})
    return bool(missing)


def remove(client, found, check_mode, wait_timeout):
    label = f"CloudFront distribution {found['Comment']}"
    response = client.get_distribution_config(Id=found["Id"])
    config, etag = response["DistributionConfig"], response["ETag"]
    result = {"changed": True, "id": found["Id"], "diff": diff_of({"Enabled": config["Enabled"]}, {}, label)}
    if check_mode:
        return result
    if config["Enabled"]:
        config["Enabled"] = False
        etag = client.update_distribution(Id=found["Id"], IfMatch=etag, DistributionConfig=config)["ETag"]
    client.get_waiter("distribution_deployed").wait(
        Id=found["Id"], WaiterConfig={"Delay": 10, "MaxAttempts": max(1, wait_timeout // 10)}
    )
    client.delete_distribution(Id=found["Id"], IfMatch=etag)
    return result


def ensure_distribution(client, comment, config, caller_reference, tags, present, check_mode, wait_timeout=1800):
    """Bring the distribution to the wanted state; returns the module result (without waiting)."""
    label = f"CloudFront distribution {comment}"
    found = find(client, comment)
    if not present:
        if found is None:
            return {"changed": False, "id": None, "diff": diff_of({}, {}, label)}
        return remove(client, found, check_mode, wait_timeout)

    desired = desired_document(comment, config)
    if found is None:
        if check_mode:
            return {"changed": True, "id": None, "arn": None, "diff": diff_of({}, desired, label)}
        document = dict(desired, CallerReference=caller_reference or comment)
        if tags:
            created = client.create_distribution_with_tags(
                DistributionConfigWithTags={
                    "DistributionConfig": document,
                    "Tags": {"Items": [{"Key": k, "Value": v} for k, v in tags.items()]},
                }
            )
        else:
            created = client.create_distribution(DistributionConfig=document)
        result = _summary(client, created["Distribution"]["Id"])
        result.update(changed=True, diff=diff_of({}, desired, label))
        return result

    response = client.get_distribution_config(Id=found["Id"])
    current, etag = response["DistributionConfig"], response["ETag"]
    drift = differences(desired, current)
    result = _summary(client, found["Id"])
    result["changed"] = bool(drift)
    result["diff"] = diff_of(projected(current, desired), desired if drift else projected(current, desired), label)
    if drift:
        result["differences"] = drift
        if not check_mode:
            target = reconcile(merged(current, desired))
            client.update_distribution(Id=found["Id"], IfMatch=etag, DistributionConfig=target)
            result["status"] = "InProgress"
    if _sync_tags(client, result["arn"], tags, check_mode):
        result["changed"] = True
    return result


def main():
    argument_spec = dict(
        comment=dict(type="str", required=True),
        distribution_config=dict(type="dict", default={}),
        caller_reference=dict(type="str"),
        tags=dict(type="dict", default={}),
        wait=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=1800),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    client = module.client("cloudfront")
    try:
        result = ensure_distribution(
            client,
            params["comment"],
            params["distribution_config"],
            params["caller_reference"],
            params["tags"],
            params["state"] == "present",
            module.check_mode,
            params["wait_timeout"],
        )
        if (
            params["wait"]
            and result.get("changed")
            and result.get("id")
            and params["state"] == "present"
            and not module.check_mode
        ):
            client.get_waiter("distribution_deployed").wait(
                Id=result["id"], WaiterConfig={"Delay": 10, "MaxAttempts": max(1, params["wait_timeout"] // 10)}
            )
            result["status"] = "Deployed"
    except DistributionError as error:
        module.fail_json(msg=str(error))
    except (
        botocore.exceptions.ClientError,
        botocore.exceptions.BotoCoreError,
        botocore.exceptions.WaiterError,
    ) as error:
        module.fail_json_aws(error, msg=f"Could not manage CloudFront distribution {params['comment']}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
