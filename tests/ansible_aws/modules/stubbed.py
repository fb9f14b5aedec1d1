"""What the Stubber tests of the project's modules share: dummy-credential clients, fixed values, and the
distribution documents that both the distribution and the distribution_info tests stub."""

from __future__ import annotations

import copy
import datetime

import boto3
from ansible_collections.cloudpypi.aws.plugins.module_utils.compare import (
    with_quantities,
)

NOW = datetime.datetime(2026, 11, 29, tzinfo=datetime.UTC)
ACCOUNT = "123456789012"


def make_client(service: str):
    return boto3.client(
        service,
        region_name="us-east-1",
        aws_access_key_id="AKIATESTSTUBBER00000",
        aws_secret_access_key="stubber-test-secret-key-not-real-0000000000",  # noqa: S106 (dummy)
    )


def as_aws_returns(config):
    """What AWS gives back: Quantity 0 lists without Items, keys in another order."""
    returned = copy.deepcopy(config)
    return dict(reversed(list(returned.items())))


# The viewer-request function, as its ARN appears on a distribution's behaviour.
ARN = f"arn:aws:cloudfront::{ACCOUNT}:function/cloudpypi-viewer-request"


# The mirror's distribution: its desired config, and the document AWS returns for it.
COMMENT = "cloudpypi mirror example"
DIST_ARN = f"arn:aws:cloudfront::{ACCOUNT}:distribution/EDIST"


def mirror_config(with_function=True):
    behaviour = {
        "TargetOriginId": "mirror-bucket",
        "ViewerProtocolPolicy": "redirect-to-https",
        "Compress": True,
        "CachePolicyId": "CP1",
        "ResponseHeadersPolicyId": "RH1",
        "AllowedMethods": {"Items": ["GET", "HEAD"], "CachedMethods": {"Items": ["GET", "HEAD"]}},
    }
    if with_function:
        behaviour["FunctionAssociations"] = {"Items": [{"EventType": "viewer-request", "FunctionARN": ARN}]}
    return {
        "Enabled": True,
        "PriceClass": "PriceClass_100",
        "Origins": {
            "Items": [
                {
                    "Id": "mirror-bucket",
                    "DomainName": "b.s3.eu-west-1.amazonaws.com",
                    "OriginAccessControlId": "OAC1",
                    "S3OriginConfig": {"OriginAccessIdentity": ""},
                }
            ]
        },
        "DefaultCacheBehavior": behaviour,
        "ViewerCertificate": {"CloudFrontDefaultCertificate": True},
    }


def aws_document(config):
    """The DistributionConfig as AWS returns it: the desired one plus server defaults."""
    document = with_quantities(copy.deepcopy(config))
    document.update(
        CallerReference=COMMENT,
        Comment=COMMENT,
        DefaultRootObject="",
        WebACLId="",
        HttpVersion="http2",
        IsIPV6Enabled=True,
        Aliases={"Quantity": 0},
        CacheBehaviors={"Quantity": 0},
        CustomErrorResponses={"Quantity": 0},
        Restrictions={"GeoRestriction": {"RestrictionType": "none", "Quantity": 0}},
        Logging={"Enabled": False, "IncludeCookies": False, "Bucket": "", "Prefix": ""},
    )
    document["DefaultCacheBehavior"].update(
        SmoothStreaming=False,
        FieldLevelEncryptionId="",
        LambdaFunctionAssociations={"Quantity": 0},
        TrustedSigners={"Enabled": False, "Quantity": 0},
    )
    document["DefaultCacheBehavior"].setdefault("FunctionAssociations", {"Quantity": 0})
    return document


def summary_of(document):
    keys = (
        "Aliases",
        "Origins",
        "DefaultCacheBehavior",
        "CacheBehaviors",
        "CustomErrorResponses",
        "Comment",
        "PriceClass",
        "Enabled",
        "ViewerCertificate",
        "Restrictions",
        "WebACLId",
        "HttpVersion",
        "IsIPV6Enabled",
    )
    return {
        "Id": "EDIST",
        "ARN": DIST_ARN,
        "Status": "Deployed",
        "LastModifiedTime": NOW,
        "DomainName": "d1.cloudfront.net",
        "Staging": False,
        **{k: document[k] for k in keys},
    }
