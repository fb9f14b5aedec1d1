# Copyright: CloudPyPI contributors
# Apache-2.0
"""Pure helpers shared by the cloudpypi.aws modules: compare a desired API document
with the one AWS returns, build the document to send, and shape Ansible's diff.

The modules describe resources in the AWS API's own shape (CamelCase keys, the
``{"Quantity": n, "Items": [...]}`` lists).  AWS fills in defaults for everything a
caller leaves out, so "is it up to date" means "does the current document contain
everything the desired one says", never "are they equal".
"""

from __future__ import annotations

import copy
from typing import Any

# Keys that carry no configuration: server-owned, or derived from Items.
_IGNORED_KEYS = frozenset({"Quantity"})


def _is_scalar_list(value: list[Any]) -> bool:
    return all(not isinstance(item, (dict, list)) for item in value)


def differences(desired: Any, current: Any, path: str = "") -> list[str]:
    """Return the paths where ``current`` does not contain ``desired``.

    Dicts: only the keys of ``desired`` are compared (AWS adds defaults).  Lists of
    scalars are compared as sets (AWS reorders methods and headers); lists of dicts
    element by element (order carries meaning, e.g. cache-behaviour precedence).
    ``Quantity`` is ignored because it follows from ``Items``.
    """
    if isinstance(desired, dict):
        if not isinstance(current, dict):
            return [path or "."]
        found: list[str] = []
        for key, want in desired.items():
            if key in _IGNORED_KEYS:
                continue
            sub = f"{path}.{key}" if path else key
            have = current.get(key)
            if have is None and _is_empty(want):
                continue
            found.extend(differences(want, have, sub))
        return found
    if isinstance(desired, list):
        current_list = current if isinstance(current, list) else []
        if _is_scalar_list(desired) and _is_scalar_list(current_list):
            same = sorted(map(str, desired)) == sorted(map(str, current_list))
            return [] if same else [path]
        if len(desired) != len(current_list):
            return [path]
        found = []
        for index, (want, have) in enumerate(zip(desired, current_list, strict=True)):
            found.extend(differences(want, have, f"{path}[{index}]"))
        return found
    return [] if desired == current else [path]


def _is_empty(value: Any) -> bool:
    """True for values AWS may omit instead of echoing (``""``, ``[]``, ``{}``, ``{"Quantity": 0}``)."""
    if value in ("", None):
        return True
    if isinstance(value, list):
        return not value
    if isinstance(value, dict):
        return all(key in _IGNORED_KEYS or _is_empty(item) for key, item in value.items()) and (
            value.get("Quantity", 0) == 0
        )
    return False


def merged(current: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    """``current`` overlaid with ``desired``: the document to send on update.

    Dicts merge recursively, so server defaults the caller did not mention survive;
    lists are replaced whole.
    """
    result = copy.deepcopy(current)
    for key, want in desired.items():
        have = result.get(key)
        if isinstance(want, dict) and isinstance(have, dict):
            result[key] = merged(have, want)
        else:
            result[key] = copy.deepcopy(want)
    return result


def projected(current: Any, desired: Any) -> Any:
    """``current`` cut down to the shape of ``desired``, for a readable before/after diff."""
    if isinstance(desired, dict) and isinstance(current, dict):
        return {key: projected(current.get(key), want) for key, want in desired.items()}
    if isinstance(desired, list) and isinstance(current, list) and not _is_scalar_list(desired):
        return [projected(have, desired[index]) if index < len(desired) else have for index, have in enumerate(current)]
    return copy.deepcopy(current)


def with_quantities(document: Any) -> Any:
    """Fill in ``Quantity`` next to every ``Items`` so callers need not count by hand."""
    if isinstance(document, dict):
        result = {key: with_quantities(value) for key, value in document.items()}
        if "Items" in result and isinstance(result["Items"], list):
            result["Quantity"] = len(result["Items"])
            if not result["Items"]:
                # AWS rejects an empty Items list for some types; Quantity 0 alone is accepted.
                del result["Items"]
        return result
    if isinstance(document, list):
        return [with_quantities(item) for item in document]
    return document


def diff_of(before: Any, after: Any, name: str) -> dict[str, Any]:
    """Ansible's diff dict for one resource."""
    return {"before_header": name, "after_header": name, "before": before or {}, "after": after or {}}


def unsupported_hint(error: Exception) -> str:
    """An explanation to add when an endpoint answers 404 to a whole API (moto 5.2.5 does for
    cache and response-headers policies and for function publish/update)."""
    response = getattr(error, "response", None) or {}
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    code = str(response.get("Error", {}).get("Code", ""))
    if status == 404 and code in ("404", "NotFound", "Not Found"):
        return (
            " (the endpoint does not implement this API; against moto, the sandbox's inventory names the "
            "roles/sandbox_* stand-ins, which leave these resources out; see docs/ansible-aws.md)"
        )
    return ""
