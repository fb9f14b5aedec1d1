"""The collection's shared helpers (module_utils): comparing desired and current documents, and the hint for
an endpoint without the API."""

from __future__ import annotations

import pytest
from ansible_collections.cloudpypi.aws.plugins.module_utils import cloudfront_named
from ansible_collections.cloudpypi.aws.plugins.module_utils.compare import (
    differences,
    merged,
    unsupported_hint,
    with_quantities,
)
from botocore.exceptions import ClientError


def test_differences_ignore_quantity_server_defaults_and_scalar_order():
    desired = with_quantities({"A": {"Items": ["GET", "HEAD"]}, "B": 1, "C": {"Items": []}})
    current = {"A": {"Quantity": 2, "Items": ["HEAD", "GET"]}, "B": 1, "Extra": "server default"}
    assert differences(desired, current) == [], "expected no difference for reordered scalars and omitted empties"
    assert differences({"B": 2}, current) == ["B"], "expected the changed scalar to be reported"


def test_differences_compare_lists_of_documents_in_order():
    desired = {"Items": [{"PathPattern": "/simple/*"}, {"PathPattern": "/packages/*"}]}
    current = {"Items": [{"PathPattern": "/packages/*"}, {"PathPattern": "/simple/*"}]}
    assert differences(desired, current) == ["Items[0].PathPattern", "Items[1].PathPattern"]


def test_merged_keeps_server_defaults_and_replaces_lists():
    current = {"Keep": 1, "Nested": {"Default": True, "Mine": 1}, "List": [1, 2]}
    assert merged(current, {"Nested": {"Mine": 2}, "List": [3]}) == {
        "Keep": 1,
        "Nested": {"Default": True, "Mine": 2},
        "List": [3],
    }


def test_an_endpoint_without_the_api_gets_an_actionable_hint(cloudfront):
    client, stubber = cloudfront
    stubber.add_client_error("list_cache_policies", "404", "Not Found", http_status_code=404)
    with pytest.raises(ClientError) as caught:
        cloudfront_named.find_id(client, cloudfront_named.CACHE_POLICY, "cloudpypi-simple")
    assert "roles/sandbox_* stand-ins" in unsupported_hint(caught.value), "expected the moto hint for a 404 API"
    stubber.add_client_error("list_cache_policies", "AccessDenied", http_status_code=403)
    with pytest.raises(ClientError) as denied:
        cloudfront_named.find_id(client, cloudfront_named.CACHE_POLICY, "cloudpypi-simple")
    assert unsupported_hint(denied.value) == "", "expected no hint for an ordinary error"
