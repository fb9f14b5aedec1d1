"""cloudpypi.aws.cloudfront_distribution against botocore's Stubber (moto 5.2.5 drops OAC ids and function
associations from a distribution)."""

from __future__ import annotations

import pytest
from ansible_collections.cloudpypi.aws.plugins.module_utils.compare import (
    with_quantities,
)
from ansible_collections.cloudpypi.aws.plugins.modules import cloudfront_distribution as distribution_module
from botocore.stub import ANY

from ansible_aws.modules.stubbed import (
    ARN,
    COMMENT,
    DIST_ARN,
    NOW,
    aws_document,
    mirror_config,
    summary_of,
)


def stub_found(stubber, document):
    stubber.add_response(
        "list_distributions",
        {
            "DistributionList": {
                "Marker": "",
                "MaxItems": 100,
                "IsTruncated": False,
                "Quantity": 1,
                "Items": [summary_of(document)],
            }
        },
        {},
    )


def stub_get(stubber, document, status="Deployed"):
    stubber.add_response(
        "get_distribution",
        {
            "Distribution": {
                "Id": "EDIST",
                "ARN": DIST_ARN,
                "Status": status,
                "LastModifiedTime": NOW,
                "InProgressInvalidationBatches": 0,
                "DomainName": "d1.cloudfront.net",
                "DistributionConfig": document,
            },
            "ETag": "E1",
        },
        {"Id": "EDIST"},
    )


def test_distribution_is_created_with_caller_reference_and_comment(cloudfront):
    client, stubber = cloudfront
    stubber.add_response(
        "list_distributions",
        {"DistributionList": {"Marker": "", "MaxItems": 100, "IsTruncated": False, "Quantity": 0}},
        {},
    )
    document = aws_document(mirror_config())
    stubber.add_response(
        "create_distribution",
        {
            "Distribution": {
                "Id": "EDIST",
                "ARN": DIST_ARN,
                "Status": "InProgress",
                "LastModifiedTime": NOW,
                "InProgressInvalidationBatches": 0,
                "DomainName": "d1.cloudfront.net",
                "DistributionConfig": document,
            }
        },
        {"DistributionConfig": {**with_quantities(mirror_config()), "Comment": COMMENT, "CallerReference": COMMENT}},
    )
    stub_get(stubber, document, "InProgress")
    result = distribution_module.ensure_distribution(client, COMMENT, mirror_config(), None, {}, True, False)
    assert (result["changed"], result["id"], result["arn"]) == (True, "EDIST", DIST_ARN), f"got {result}"


def test_distribution_second_run_ignores_server_defaults(cloudfront):
    client, stubber = cloudfront
    document = aws_document(mirror_config())
    stub_found(stubber, document)
    stubber.add_response("get_distribution_config", {"DistributionConfig": document, "ETag": "E1"}, {"Id": "EDIST"})
    stub_get(stubber, document)
    result = distribution_module.ensure_distribution(client, COMMENT, mirror_config(), None, {}, True, False)
    assert result["changed"] is False, f"expected no change, got {result.get('differences')}"


def test_distribution_update_attaches_oac_function_and_drops_legacy_ttls(cloudfront):
    client, stubber = cloudfront
    # What a moto-provisioned (or hand-made) distribution looks like: no OAC, no function, legacy TTLs.
    legacy = mirror_config(with_function=False)
    del legacy["Origins"]["Items"][0]["OriginAccessControlId"]
    legacy["DefaultCacheBehavior"].pop("CachePolicyId")
    legacy["DefaultCacheBehavior"].update(
        ForwardedValues={"QueryString": False, "Cookies": {"Forward": "none"}}, MinTTL=0, DefaultTTL=600, MaxTTL=600
    )
    current = aws_document(legacy)
    stub_found(stubber, current)
    stubber.add_response("get_distribution_config", {"DistributionConfig": current, "ETag": "E1"}, {"Id": "EDIST"})
    stub_get(stubber, current)
    sent = {}

    def capture(request, **_):
        sent.update(request)

    stubber.add_response(
        "update_distribution",
        {
            "Distribution": {
                "Id": "EDIST",
                "ARN": DIST_ARN,
                "Status": "InProgress",
                "LastModifiedTime": NOW,
                "InProgressInvalidationBatches": 0,
                "DomainName": "d1.cloudfront.net",
                "DistributionConfig": current,
            },
            "ETag": "E2",
        },
        {"Id": "EDIST", "IfMatch": "E1", "DistributionConfig": ANY},
    )
    client.meta.events.register(
        "before-parameter-build.cloudfront.UpdateDistribution", lambda params, **_: capture(params)
    )
    result = distribution_module.ensure_distribution(client, COMMENT, mirror_config(), None, {}, True, False)
    assert result["changed"] is True, "expected the missing OAC and function to trigger an update"
    assert {
        "Origins.Items[0].OriginAccessControlId",
        "DefaultCacheBehavior.CachePolicyId",
        "DefaultCacheBehavior.FunctionAssociations.Items",
    } <= set(result["differences"]), result["differences"]
    behaviour = sent["DistributionConfig"]["DefaultCacheBehavior"]
    assert behaviour["FunctionAssociations"]["Items"][0]["FunctionARN"] == ARN, f"got {behaviour}"
    assert not {"ForwardedValues", "MinTTL", "DefaultTTL", "MaxTTL"} & set(behaviour), (
        f"expected legacy cache settings removed next to a cache policy, got {sorted(behaviour)}"
    )
    assert sent["DistributionConfig"]["Logging"]["Enabled"] is False, "expected server defaults kept in the update"


def test_distribution_check_mode_reports_the_drift_without_writing(cloudfront):
    client, stubber = cloudfront
    current = aws_document(mirror_config())
    current["PriceClass"] = "PriceClass_All"
    stub_found(stubber, current)
    stubber.add_response("get_distribution_config", {"DistributionConfig": current, "ETag": "E1"}, {"Id": "EDIST"})
    stub_get(stubber, current)
    result = distribution_module.ensure_distribution(client, COMMENT, mirror_config(), None, {}, True, True)
    assert (result["changed"], result["differences"]) == (True, ["PriceClass"]), f"got {result}"
    assert (result["diff"]["before"]["PriceClass"], result["diff"]["after"]["PriceClass"]) == (
        "PriceClass_All",
        "PriceClass_100",
    )


def test_distribution_refuses_an_ambiguous_comment(cloudfront):
    client, stubber = cloudfront
    item = summary_of(aws_document(mirror_config()))
    stubber.add_response(
        "list_distributions",
        {
            "DistributionList": {
                "Marker": "",
                "MaxItems": 100,
                "IsTruncated": False,
                "Quantity": 2,
                "Items": [item, {**item, "Id": "E2"}],
            }
        },
        {},
    )
    with pytest.raises(distribution_module.DistributionError, match="distinct comments"):
        distribution_module.find(client, COMMENT)
