#!/usr/bin/python
# Copyright: CloudPyPI contributors
# Apache-2.0
"""Manage a CloudFront KeyValueStore and, optionally, the keys in it."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cloudfront_key_value_store
short_description: Create or delete a CloudFront KeyValueStore and keep its keys in step
version_added: 0.3.0
description:
  - Creates (or deletes) a CloudFront KeyValueStore found by I(name), and updates its comment.
  - With I(keys), makes the store hold exactly those keys and values (with I(purge_keys=false), only
    adds and changes).  Changes go in batches of UpdateKeys calls, each guarded by the store's ETag.
  - A CloudFront Function reads the store once it is associated with it (the C(key_value_store_arns)
    option of M(cloudpypi.aws.cloudfront_function)).
  - Idempotent, supports check mode and diff.  The diff names the keys that change, never their values.
  - No module of amazon.aws or community.aws manages KeyValueStores.
  - The keys are managed through the C(cloudfront-keyvaluestore) API, which AWS signs with SigV4A;
    botocore needs the C(awscrt) package for that (C(pip install 'botocore[crt]')).
  - moto 5.2.5 implements the store itself (create, describe, update, delete) but not the
    C(cloudfront-keyvaluestore) API; the key paths are tested with botocore's Stubber.
options:
  name:
    description: Store name, unique in the account (letters, digits, - and _, at most 64).
    type: str
    required: true
  comment:
    description: Comment stored with the store.
    type: str
    default: ""
  keys:
    description:
      - The keys and values the store should hold (values are strings of at most 1 KB).
      - Omitted, the keys are left as they are.
    type: dict
  purge_keys:
    description: Delete the keys that are not in I(keys).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for a new store to become READY before its keys can be written.
    type: int
    default: 300
  state:
    description: Whether the store exists.
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
- name: Keep the edge's token hashes in a KeyValueStore
  cloudpypi.aws.cloudfront_key_value_store:
    name: cloudpypi-mirror-tokens
    comment: token name -> SHA-256 of the token
    keys:
      ci: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
  no_log: true
"""

RETURN = r"""
arn:
  description: The store's ARN, to associate with a function (null in check mode before creation).
  returned: when state is present
  type: str
  sample: arn:aws:cloudfront::123456789012:key-value-store/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111
id:
  description: The store's id, what C(cf.kvs(id)) takes in the function code (null in check mode before creation).
  returned: when state is present
  type: str
keys_put:
  description: Names of the keys this run added or changed.
  returned: always
  type: list
  elements: str
keys_deleted:
  description: Names of the keys this run deleted.
  returned: always
  type: list
  elements: str
"""

import time

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.cloudpypi.aws.plugins.module_utils.compare import unsupported_hint

#: put and delete operations per UpdateKeys call (the API's limit is 50)
BATCH = 50


def _error_code(error):
    return error.response.get("Error", {}).get("Code", "")


def describe(client, name):
    """(store, etag) of the store called ``name``, or (None, None) when it does not exist."""
    try:
        found = client.describe_key_value_store(Name=name)
    except botocore.exceptions.ClientError as error:
        if _error_code(error) in ("EntityNotFound", "NoSuchResource", "ResourceNotFoundException"):
            return None, None
        raise
    return found["KeyValueStore"], found["ETag"]


def wait_ready(client, name, store, timeout, sleep=time.sleep, clock=time.monotonic):
    """Poll until the store's Status is READY (a new store is PROVISIONING for a while)."""
    deadline = clock() + timeout
    while store.get("Status", "READY") != "READY":
        if store.get("Status") == "PROVISIONING_FAILED" or clock() > deadline:
            raise TimeoutError(f"KeyValueStore {name} is {store.get('Status')}, not READY")
        sleep(5)
        store, _ = describe(client, name)
    return store


def current_keys(kvs_client, arn):
    """{key: value} of every key in the store, and the store's data ETag."""
    keys = {}
    kwargs = {"KvsARN": arn}
    while True:
        page = kvs_client.list_keys(**kwargs)
        for item in page.get("Items", []):
            keys[item["Key"]] = item["Value"]
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    etag = kvs_client.describe_key_value_store(KvsARN=arn)["ETag"]
    return keys, etag


def key_changes(current, wanted, purge):
    """(puts, deletes): sorted key names to write and to delete.  Pure."""
    puts = sorted(key for key, value in wanted.items() if current.get(key) != value)
    deletes = sorted(key for key in current if key not in wanted) if purge else []
    return puts, deletes


def apply_keys(kvs_client, arn, etag, wanted, puts, deletes):
    """Send the changes in batches, each with the ETag the previous one returned."""
    operations = [("put", key) for key in puts] + [("delete", key) for key in deletes]
    for start in range(0, len(operations), BATCH):
        batch = operations[start : start + BATCH]
        kwargs = {"KvsARN": arn, "IfMatch": etag}
        put_items = [{"Key": key, "Value": wanted[key]} for kind, key in batch if kind == "put"]
        delete_items = [{"Key": key} for kind, key in batch if kind == "delete"]
        if put_items:
            kwargs["Puts"] = put_items
        if delete_items:
            kwargs["Deletes"] = delete_items
        etag = kvs_client.update_keys(**kwargs)["ETag"]
    return etag


def ensure_store(client, kvs_client, name, comment, keys, purge, present, check_mode, timeout=300):
    """Bring the store called ``name`` (and its keys) to the wanted state; returns the module result."""
    store, etag = describe(client, name)
    result = {"changed": False, "keys_put": [], "keys_deleted": []}
    before = {} if store is None else {"comment": store.get("Comment", "")}
    after = {"comment": comment} if present else {}

    if not present:
        if store is not None:
            result["changed"] = True
            if not check_mode:
                client.delete_key_value_store(Name=name, IfMatch=etag)
        result["diff"] = {"before": before, "after": after}
        return result

    if store is None:
        result["changed"] = True
        if check_mode:
            result.update(arn=None, id=None)
            if keys is not None:
                result["keys_put"] = sorted(keys)
            after["keys"] = result["keys_put"]
            result["diff"] = {"before": before, "after": after}
            return result
        store = client.create_key_value_store(Name=name, Comment=comment)["KeyValueStore"]
    elif store.get("Comment", "") != comment:
        result["changed"] = True
        if not check_mode:
            store = client.update_key_value_store(Name=name, Comment=comment, IfMatch=etag)["KeyValueStore"]

    result.update(arn=store["ARN"], id=store["Id"])
    if keys is not None:
        if not check_mode:
            store = wait_ready(client, name, store, timeout)
        if store.get("Status", "READY") == "READY":
            current, data_etag = current_keys(kvs_client, store["ARN"])
        else:  # check mode, a store still being provisioned: it holds nothing yet
            current, data_etag = {}, None
        puts, deletes = key_changes(current, keys, purge)
        before["keys"] = sorted(current)
        after["keys"] = sorted(set(current) - set(deletes) | set(puts))
        if puts or deletes:
            result.update(changed=True, keys_put=puts, keys_deleted=deletes)
            if not check_mode:
                apply_keys(kvs_client, store["ARN"], data_etag, keys, puts, deletes)
    result["diff"] = {"before": before, "after": after}
    return result


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        comment=dict(type="str", default=""),
        keys=dict(type="dict", no_log=True),
        purge_keys=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=300),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    keys = None if params["keys"] is None else {str(k): str(v) for k, v in params["keys"].items()}
    client = module.client("cloudfront")
    kvs_client = module.client("cloudfront-keyvaluestore") if keys is not None else None
    try:
        result = ensure_store(
            client,
            kvs_client,
            params["name"],
            params["comment"] or "",
            keys,
            params["purge_keys"],
            params["state"] == "present",
            module.check_mode,
            params["wait_timeout"],
        )
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        module.fail_json_aws(
            error, msg=f"Could not manage CloudFront KeyValueStore {params['name']}" + unsupported_hint(error)
        )
    except TimeoutError as error:
        module.fail_json(msg=str(error))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
