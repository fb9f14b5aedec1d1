#!/usr/bin/python
# Copyright: CloudPyPI contributors
# Apache-2.0
"""Manage a CloudFront Function: create, update its code, publish it to LIVE."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cloudfront_function
short_description: Create, update and publish a CloudFront Function
version_added: 0.1.0
description:
  - Creates or updates a CloudFront Function's DEVELOPMENT stage from I(code), and with I(publish=true)
    publishes it to LIVE whenever LIVE differs from I(code), so distributions run the new code.
  - Idempotent (code and configuration are compared byte for byte), supports check mode and diff.
  - No module of amazon.aws or community.aws manages CloudFront Functions.
  - moto 5.2.5 implements create, describe, get and delete but not update or publish; the update and
    publish paths are tested with botocore's Stubber.
options:
  name:
    description: Function name, unique in the account.
    type: str
    required: true
  code:
    description: The function's JavaScript source (e.g. C(lookup('ansible.builtin.file', 'viewer-request.js'))).
    type: str
  comment:
    description: Comment stored with the function.
    type: str
    default: ""
  runtime:
    description: JavaScript runtime.
    type: str
    choices: [cloudfront-js-1.0, cloudfront-js-2.0]
    default: cloudfront-js-2.0
  key_value_store_arns:
    description:
      - ARNs of the CloudFront KeyValueStores the function reads (its C(KeyValueStoreAssociations);
        CloudFront allows one).  An empty list removes any association.
    type: list
    elements: str
    default: []
    version_added: 0.3.0
  publish:
    description: Publish to LIVE when LIVE differs from I(code).
    type: bool
    default: true
  state:
    description: Whether the function exists.
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
- name: Publish the viewer-request function
  cloudpypi.aws.cloudfront_function:
    name: cloudpypi-viewer-request
    code: "{{ lookup('ansible.builtin.file', 'viewer-request.js') }}"
    comment: PEP 691 negotiation, PEP 503 redirects
    publish: true
"""

RETURN = r"""
arn:
  description: The function ARN, to associate with a cache behaviour (null in check mode before creation).
  returned: when state is present
  type: str
  sample: arn:aws:cloudfront::123456789012:function/cloudpypi-viewer-request
etag:
  description: ETag of the DEVELOPMENT stage after the run.
  returned: when state is present
  type: str
published:
  description: Whether this run published the function to LIVE.
  returned: always
  type: bool
"""

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.cloudpypi.aws.plugins.module_utils.compare import diff_of, differences, unsupported_hint


def _error_code(error):
    return error.response.get("Error", {}).get("Code", "")


def describe(client, name, stage):
    """describe_function for one stage, or None when the function (or stage) does not exist."""
    try:
        return client.describe_function(Name=name, Stage=stage)
    except botocore.exceptions.ClientError as error:
        if _error_code(error) in ("NoSuchFunctionExists", "EntityNotFound"):
            return None
        raise


def code_of(client, name, stage):
    body = client.get_function(Name=name, Stage=stage)["FunctionCode"]
    raw = body.read() if hasattr(body, "read") else body
    return raw.decode("utf-8") if isinstance(raw, bytes) else raw


def associated_arns(config):
    """The sorted KeyValueStore ARNs of a FunctionConfig."""
    items = (config.get("KeyValueStoreAssociations") or {}).get("Items") or []
    return sorted(item["KeyValueStoreARN"] for item in items)


def _state(summary, code):
    config = summary["FunctionSummary"].get("FunctionConfig", {})
    state = {"comment": config.get("Comment", ""), "runtime": config.get("Runtime"), "code": code}
    if associated_arns(config):
        state["key_value_store_arns"] = associated_arns(config)
    return state


def ensure_function(client, name, code, comment, runtime, publish, present, check_mode, kvs_arns=()):
    """Bring the function called ``name`` to the wanted state; returns the module result."""
    label = f"CloudFront function {name}"
    dev = describe(client, name, "DEVELOPMENT")
    kvs_arns = sorted(kvs_arns)
    wanted = {"comment": comment, "runtime": runtime, "code": code}
    if kvs_arns:
        wanted["key_value_store_arns"] = kvs_arns

    if not present:
        if dev is None:
            return {"changed": False, "published": False, "diff": diff_of({}, {}, label)}
        if not check_mode:
            client.delete_function(Name=name, IfMatch=dev["ETag"])
        return {"changed": True, "published": False, "diff": diff_of(_state(dev, None), {}, label)}

    config = {"Comment": comment, "Runtime": runtime}
    if kvs_arns:
        config["KeyValueStoreAssociations"] = {
            "Quantity": len(kvs_arns),
            "Items": [{"KeyValueStoreARN": arn} for arn in kvs_arns],
        }
    changed = False
    if dev is None:
        changed = True
        before = {}
        if check_mode:
            return {"changed": True, "published": publish, "arn": None, "diff": diff_of({}, wanted, label)}
        created = client.create_function(Name=name, FunctionConfig=config, FunctionCode=code.encode("utf-8"))
        etag, summary = created["ETag"], created["FunctionSummary"]
    else:
        before = _state(dev, code_of(client, name, "DEVELOPMENT"))
        etag, summary = dev["ETag"], dev["FunctionSummary"]
        dev_config = dev["FunctionSummary"].get("FunctionConfig", {})
        if (
            before["code"] != code
            or differences({"comment": comment, "runtime": runtime}, before)
            or associated_arns(dev_config) != kvs_arns
        ):
            changed = True
            if not check_mode:
                updated = client.update_function(
                    Name=name, IfMatch=etag, FunctionConfig=config, FunctionCode=code.encode("utf-8")
                )
                etag, summary = updated["ETag"], updated["FunctionSummary"]

    published = False
    if publish:
        live = describe(client, name, "LIVE")
        live_code = code_of(client, name, "LIVE") if live is not None else None
        before["live_code_matches"] = live_code == code
        live_config = live["FunctionSummary"]["FunctionConfig"] if live is not None else {}
        if (
            live is None
            or live_code != code
            or differences(config, live_config)
            or associated_arns(live_config) != kvs_arns
        ):
            changed = published = True
            if not check_mode:
                summary = client.publish_function(Name=name, IfMatch=etag)["FunctionSummary"]
        wanted = dict(wanted, live_code_matches=True)

    return {
        "changed": changed,
        "published": published,
        "arn": summary.get("FunctionMetadata", {}).get("FunctionARN"),
        "etag": etag,
        "diff": diff_of(before, wanted, label),
    }


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        code=dict(type="str"),
        comment=dict(type="str", default=""),
        runtime=dict(type="str", default="cloudfront-js-2.0", choices=["cloudfront-js-1.0", "cloudfront-js-2.0"]),
        publish=dict(type="bool", default=True),
        key_value_store_arns=dict(type="list", elements="str", default=[]),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec, supports_check_mode=True, required_if=[("state", "present", ["code"])]
    )
    params = module.params
    client = module.client("cloudfront")
    try:
        result = ensure_function(
            client,
            params["name"],
            params["code"],
            params["comment"] or "",
            params["runtime"],
            params["publish"],
            params["state"] == "present",
            module.check_mode,
            params["key_value_store_arns"] or [],
        )
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        module.fail_json_aws(
            error, msg=f"Could not manage CloudFront function {params['name']}" + unsupported_hint(error)
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
