"""cloudpypi.aws.cloudfront_origin_access_control (its shared named-resource logic) against botocore's Stubber."""

from __future__ import annotations

from ansible_collections.cloudpypi.aws.plugins.module_utils import cloudfront_named


def test_origin_access_control_absent_deletes_with_if_match(cloudfront):
    client, stubber = cloudfront
    config = {
        "Name": "oac",
        "Description": "",
        "SigningProtocol": "sigv4",
        "SigningBehavior": "always",
        "OriginAccessControlOriginType": "s3",
    }
    stubber.add_response(
        "list_origin_access_controls",
        {
            "OriginAccessControlList": {
                "Marker": "",
                "MaxItems": 100,
                "IsTruncated": False,
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "OAC1",
                        "Description": "",
                        "Name": "oac",
                        "SigningProtocol": "sigv4",
                        "SigningBehavior": "always",
                        "OriginAccessControlOriginType": "s3",
                    }
                ],
            }
        },
        {},
    )
    stubber.add_response(
        "get_origin_access_control",
        {"OriginAccessControl": {"Id": "OAC1", "OriginAccessControlConfig": config}, "ETag": "E9"},
        {"Id": "OAC1"},
    )
    stubber.add_response("delete_origin_access_control", {}, {"Id": "OAC1", "IfMatch": "E9"})
    result = cloudfront_named.ensure(client, cloudfront_named.ORIGIN_ACCESS_CONTROL, "oac", None, False)
    assert result["changed"] is True and result["id"] == "OAC1", f"got {result}"
