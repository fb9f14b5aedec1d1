# Copyright: CloudPyPI contributors
# Apache-2.0
"""Create, update or delete a CloudFront resource that is found by its Name and
changed with ETag/IfMatch: Origin Access Controls, cache policies, response-headers
policies.  The three share one life cycle, so one implementation serves them all.

Everything here takes a boto3 CloudFront client, so tests drive it with botocore's
Stubber and the modules stay thin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ansible_collections.cloudpypi.aws.plugins.module_utils.compare import (
    diff_of,
    differences,
    merged,
    projected,
)


@dataclass(frozen=True)
class Kind:
    """How one CloudFront resource type is listed, read and written."""

    noun: str  # API noun, e.g. "CachePolicy"
    list_method: str  # e.g. "list_cache_policies"
    list_key: str  # e.g. "CachePolicyList"
    item_key: str | None  # key of the summary inside each listed item, None if the item is the summary
    config_key: str  # e.g. "CachePolicyConfig"
    list_kwargs: dict[str, str] = field(default_factory=dict)
    name_in_config: bool = True  # the summary carries Name inside <config_key> (else at top level)

    @property
    def snake(self) -> str:
        return "".join(f"_{c.lower()}" if c.isupper() else c for c in self.noun).lstrip("_")

    def call(self, client: Any, verb: str, **kwargs: Any) -> dict[str, Any]:
        return getattr(client, f"{verb}_{self.snake}")(**kwargs)


ORIGIN_ACCESS_CONTROL = Kind(
    noun="OriginAccessControl",
    list_method="list_origin_access_controls",
    list_key="OriginAccessControlList",
    item_key=None,
    config_key="OriginAccessControlConfig",
    name_in_config=False,
)
CACHE_POLICY = Kind(
    noun="CachePolicy",
    list_method="list_cache_policies",
    list_key="CachePolicyList",
    item_key="CachePolicy",
    config_key="CachePolicyConfig",
    list_kwargs={"Type": "custom"},
)
RESPONSE_HEADERS_POLICY = Kind(
    noun="ResponseHeadersPolicy",
    list_method="list_response_headers_policies",
    list_key="ResponseHeadersPolicyList",
    item_key="ResponseHeadersPolicy",
    config_key="ResponseHeadersPolicyConfig",
    list_kwargs={"Type": "custom"},
)


def find_id(client: Any, kind: Kind, name: str) -> str | None:
    """The Id of the resource called ``name``, or None.  Pages through the whole list."""
    marker: str | None = None
    while True:
        kwargs = dict(kind.list_kwargs)
        if marker:
            kwargs["Marker"] = marker
        page = getattr(client, kind.list_method)(**kwargs).get(kind.list_key, {})
        for item in page.get("Items") or []:
            summary = item[kind.item_key] if kind.item_key else item
            item_name = summary[kind.config_key]["Name"] if kind.name_in_config else summary.get("Name")
            if item_name == name:
                return summary["Id"]
        marker = page.get("NextMarker")
        if not marker:
            return None


def ensure(client: Any, kind: Kind, name: str, desired: dict[str, Any] | None, check_mode: bool) -> dict[str, Any]:
    """Make the resource called ``name`` match ``desired`` (its *Config document), or
    delete it when ``desired`` is None.  Returns the module result: changed, diff, id,
    etag and the config as it is (or would be) afterwards.
    """
    label = f"{kind.noun} {name}"
    resource_id = find_id(client, kind, name)
    if desired is None:
        if resource_id is None:
            return {"changed": False, "id": None, "diff": diff_of({}, {}, label)}
        response = kind.call(client, "get", Id=resource_id)
        before = response[kind.noun][kind.config_key]
        if not check_mode:
            kind.call(client, "delete", Id=resource_id, IfMatch=response["ETag"])
        return {"changed": True, "id": resource_id, "diff": diff_of(before, {}, label)}

    if resource_id is None:
        if check_mode:
            return {"changed": True, "id": None, "config": desired, "diff": diff_of({}, desired, label)}
        created = kind.call(client, "create", **{kind.config_key: desired})
        return {
            "changed": True,
            "id": created[kind.noun]["Id"],
            "etag": created.get("ETag"),
            "config": created[kind.noun][kind.config_key],
            "diff": diff_of({}, desired, label),
        }

    response = kind.call(client, "get", Id=resource_id)
    current = response[kind.noun][kind.config_key]
    drift = differences(desired, current)
    result: dict[str, Any] = {"changed": bool(drift), "id": resource_id, "etag": response.get("ETag")}
    result["diff"] = diff_of(projected(current, desired), desired if drift else projected(current, desired), label)
    if not drift:
        result["config"] = current
        return result
    result["differences"] = drift
    target = merged(current, desired)
    if check_mode:
        result["config"] = target
        return result
    updated = kind.call(client, "update", Id=resource_id, IfMatch=response["ETag"], **{kind.config_key: target})
    result["etag"] = updated.get("ETag")
    result["config"] = updated[kind.noun][kind.config_key]
    return result


def run_module(module: Any, kind: Kind, desired: dict[str, Any] | None, what: str, result_key: str) -> None:
    """The modules' shared tail: ensure, turn an AWS error into one message, exit with the result."""
    import botocore.exceptions
    from ansible_collections.cloudpypi.aws.plugins.module_utils.compare import unsupported_hint

    name = module.params["name"]
    try:
        result = ensure(module.client("cloudfront"), kind, name, desired, module.check_mode)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        module.fail_json_aws(error, msg=f"Could not manage {what} {name}" + unsupported_hint(error))
    result[result_key] = result.pop("config", None)
    module.exit_json(**result)
