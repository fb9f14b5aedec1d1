"""Least-privilege assertions over an IAM policy document (the dev server's), shared by the
rendering test and the moto test.  The rules: no "*" in any action; a "*" resource
only for actions whose service has no resource-level permissions."""

from __future__ import annotations

from typing import Any

# Actions that accept no narrower resource than "*" (AWS service authorization reference).
STAR_RESOURCE_ALLOWED = frozenset({"ce:GetCostAndUsage", "ce:GetCostForecast", "cloudwatch:PutMetricData"})


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return as_list(policy["Statement"])


def actions_by_resource(policy: dict[str, Any]) -> dict[str, set[str]]:
    """Every Allow action, grouped by resource."""
    grants: dict[str, set[str]] = {}
    for statement in statements(policy):
        if statement.get("Effect") != "Allow":
            continue
        for resource in as_list(statement["Resource"]):
            grants.setdefault(resource, set()).update(as_list(statement["Action"]))
    return grants


def problems(policy: dict[str, Any]) -> list[str]:
    """Human-readable violations of the rules (empty when the policy is least privilege)."""
    found = []
    for statement in statements(policy):
        if "NotAction" in statement or "NotResource" in statement:
            found.append(f"statement {statement.get('Sid')} uses NotAction/NotResource")
        for action in as_list(statement.get("Action", [])):
            if "*" in action:
                found.append(f"statement {statement.get('Sid')} has a wildcard action {action!r}")
        if "*" in as_list(statement.get("Resource", [])):
            broad = set(as_list(statement["Action"])) - STAR_RESOURCE_ALLOWED
            if broad:
                found.append(f"statement {statement.get('Sid')} grants {sorted(broad)} on '*'")
    return found


def assert_least_privilege(policy: dict[str, Any], bucket: str, distribution_arn: str) -> None:
    """The dev server's policy: exactly the grants it needs, nothing wider."""
    issues = problems(policy)
    assert not issues, f"expected a least-privilege policy, got: {issues}"
    grants = actions_by_resource(policy)
    expected_s3 = {
        f"arn:aws:s3:::{bucket}": {"s3:ListBucket"},
        f"arn:aws:s3:::{bucket}/*": {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"},
    }
    for resource, actions in expected_s3.items():
        assert grants.get(resource) == actions, f"expected {sorted(actions)} on {resource}, got {grants.get(resource)}"
    assert grants.get(distribution_arn, set()) >= {"cloudfront:CreateInvalidation", "cloudfront:GetInvalidation"}, (
        f"expected Create/GetInvalidation on {distribution_arn}, got {grants.get(distribution_arn)}"
    )
    assert grants[distribution_arn] <= {
        "cloudfront:CreateInvalidation",
        "cloudfront:GetInvalidation",
        "cloudfront:ListInvalidations",
    }, f"got {grants[distribution_arn]}"
    assert grants.get("*") == STAR_RESOURCE_ALLOWED, (
        f"expected only {sorted(STAR_RESOURCE_ALLOWED)} on '*', got {grants.get('*')}"
    )
    budget = [r for r in grants if r.startswith("arn:aws:budgets::")]
    assert len(budget) == 1 and grants[budget[0]] == {"budgets:ViewBudget"}, (
        f"expected ViewBudget on one budget, got {budget}"
    )
    s3_resources = {r for r in grants if r.startswith("arn:aws:s3:::")}
    assert s3_resources == set(expected_s3), f"expected S3 grants on this bucket only, got {s3_resources}"
    metric = [s for s in statements(policy) if "cloudwatch:PutMetricData" in as_list(s["Action"])]
    assert all("cloudwatch:namespace" in s.get("Condition", {}).get("StringEquals", {}) for s in metric), (
        f"expected PutMetricData limited by a cloudwatch:namespace condition, got {metric}"
    )
