"""cloudpypi.aws.cloudfront_distribution_info against botocore's Stubber."""

from __future__ import annotations

import pytest
from ansible_collections.cloudpypi.aws.plugins.modules import cloudfront_distribution as distribution_module
from ansible_collections.cloudpypi.aws.plugins.modules import cloudfront_distribution_info as distribution_info

from ansible_aws.modules.stubbed import (
    COMMENT,
    aws_document,
    mirror_config,
    summary_of,
)


def _listing(*items):
    return {"DistributionList": {"Marker": "", "MaxItems": 100, "IsTruncated": False, "Quantity": len(items),
                                 "Items": list(items)}}


def test_distribution_info_finds_the_mirror_by_its_comment_among_others(cloudfront):
    client, stubber = cloudfront
    mine = summary_of(aws_document(mirror_config()))
    other = {**mine, "Id": "EOTHER", "Comment": "someone else's site"}
    stubber.add_response("list_distributions", _listing(other, mine), {})
    result = distribution_info.describe(client, COMMENT)
    assert result == {"changed": False, "found": True, "id": mine["Id"], "arn": mine["ARN"],
                      "domain_name": mine["DomainName"]}


def test_distribution_info_answers_not_found_without_failing(cloudfront):
    client, stubber = cloudfront
    stubber.add_response("list_distributions", _listing(), {})
    assert distribution_info.describe(client, COMMENT) == {"changed": False, "found": False, "id": ""}


def test_distribution_info_refuses_an_ambiguous_comment(cloudfront):
    client, stubber = cloudfront
    item = summary_of(aws_document(mirror_config()))
    stubber.add_response("list_distributions", _listing(item, {**item, "Id": "E2"}), {})
    with pytest.raises(distribution_module.DistributionError, match="distinct comments"):
        distribution_info.describe(client, COMMENT)
