"""What moto cannot prove, rendered from the shipped inventories with no AWS call
(tests/ansible_aws/playbooks/render-documents.yml):

- the mirror bucket's policy of inventory/aws: exactly the TLS-only and write-once Deny
  statements, and CloudFront's read grant, which never reaches .cloudpypi/;
- the log bucket's policy: S3's log delivery for this bucket and account only, TLS only;
- the sandbox inventory leaves the Deny statements out (moto would apply them unconditionally)
  and keeps the same grants;
- the distribution's production branch (moto drops OAC ids and function associations, and lacks
  cache and response-headers policies): OAC on the origin, the function on index pages, a cache
  policy and a response-headers policy on every behaviour, packages included, and TLSv1.2_2021
  with a custom domain."""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = "tests/ansible_aws/playbooks/render-documents.yml"
AWS_BUCKET = "my-cloudpypi-mirror"  # inventory/aws/group_vars/all/main.yml
SANDBOX_BUCKET = "cloudpypi-sandbox-mirror"  # inventory/sandbox/group_vars/all/sandbox.yml
DISTRIBUTION_ARN = "arn:aws:cloudfront::111122223333:distribution/EDFDVBD6EXAMPLE"  # as in the playbook
ACCOUNT = "111122223333"


def render(tmp_path_factory: pytest.TempPathFactory, inventory: str, *extra: str) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("rendered")
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    proc = subprocess.run(
        ["ansible-playbook", "-i", inventory, PLAYBOOK, "-e", f"render_dir={out}", *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"expected {PLAYBOOK} to render with {inventory}, got:\n{proc.stdout[-4000:]}"
    return {path.stem: json.loads(path.read_text()) for path in out.glob("*.json")}


@pytest.fixture(scope="module")
def aws_rendered(tmp_path_factory):
    # hosts.yml alone: the shipped group_vars without the EC2 inventory plugin (no AWS call).
    return render(tmp_path_factory, "inventory/aws/hosts.yml")


@pytest.fixture(scope="module")
def aws_custom_domain_rendered(tmp_path_factory):
    return render(
        tmp_path_factory,
        "inventory/aws/hosts.yml",
        "-e",
        "mirror_cdn_custom_domain=pypi.example.com",
        "-e",
        "mirror_cdn_hosted_zone=example.com",
    )


@pytest.fixture(scope="module")
def sandbox_rendered(tmp_path_factory):
    return render(tmp_path_factory, "inventory/sandbox/hosts.yml")


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def by_sid(policy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {statement["Sid"]: statement for statement in policy["Statement"]}


def cloudfront_may(policy: dict[str, Any], action: str, resource: str, source_arn: str) -> bool:
    """Whether the policy lets CloudFront (the distribution source_arn) perform action on resource:
    an Allow for the cloudfront.amazonaws.com principal matches, and no Deny does."""

    def matches(statement: dict[str, Any]) -> bool:
        principal = statement["Principal"]
        principal_ok = principal == "*" or "cloudfront.amazonaws.com" in as_list(principal.get("Service", []))
        action_ok = any(fnmatch.fnmatchcase(action, pattern) for pattern in as_list(statement["Action"]))
        resource_ok = any(fnmatch.fnmatchcase(resource, pattern) for pattern in as_list(statement["Resource"]))
        return principal_ok and action_ok and resource_ok

    def applies(statement: dict[str, Any]) -> bool:
        condition = statement.get("Condition", {})
        # A read through CloudFront is over TLS, signed by the distribution, and carries no If-None-Match.
        if condition.get("Bool", {}).get("aws:SecureTransport") == "false":
            return False
        if condition.get("Bool", {}).get("s3:ObjectCreationOperation") == "true":
            return False
        source = condition.get("StringEquals", {}).get("AWS:SourceArn")
        return source is None or source == source_arn

    relevant = [s for s in policy["Statement"] if matches(s) and applies(s)]
    return any(s["Effect"] == "Allow" for s in relevant) and not any(s["Effect"] == "Deny" for s in relevant)


# ---------------------------------------------------------------- the mirror bucket's policy (AWS)


def test_aws_bucket_policy_denies_every_request_without_tls(aws_rendered):
    statement = by_sid(aws_rendered["bucket-policy"])["DenyInsecureTransport"]
    expected = {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{AWS_BUCKET}", f"arn:aws:s3:::{AWS_BUCKET}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    assert statement == expected, f"expected {expected}, got {statement}"


def test_aws_bucket_policy_makes_packages_write_once(aws_rendered):
    statement = by_sid(aws_rendered["bucket-policy"])["PackagesAreWriteOnce"]
    # Null s3:if-none-match: the request carries no If-None-Match.  ObjectCreationOperation limits
    # the Deny to PutObject/CompleteMultipartUpload/CopyObject, so multipart parts still upload.
    expected = {
        "Sid": "PackagesAreWriteOnce",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:PutObject",
        "Resource": [f"arn:aws:s3:::{AWS_BUCKET}/packages/*"],
        "Condition": {"Null": {"s3:if-none-match": "true"}, "Bool": {"s3:ObjectCreationOperation": "true"}},
    }
    assert statement == expected, f"expected {expected}, got {statement}"


def test_aws_bucket_policy_has_exactly_two_denies_and_the_cloudfront_grants(aws_rendered):
    statements = by_sid(aws_rendered["bucket-policy"])
    effects = {sid: s["Effect"] for sid, s in statements.items()}
    expected = {
        "DenyInsecureTransport": "Deny",
        "PackagesAreWriteOnce": "Deny",
        "CloudFrontReadsMirrorFiles": "Allow",
        "CloudFrontListsForNotFound": "Allow",
    }
    assert effects == expected, f"expected {expected}, got {effects}"
    for sid in ("CloudFrontReadsMirrorFiles", "CloudFrontListsForNotFound"):
        statement = statements[sid]
        assert statement["Principal"] == {"Service": "cloudfront.amazonaws.com"}, f"{sid}: got {statement}"
        assert statement["Condition"] == {"StringEquals": {"AWS:SourceArn": DISTRIBUTION_ARN}}, f"{sid}: {statement}"


@pytest.mark.parametrize("key", [".cloudpypi/state.sqlite", ".cloudpypi/tmp/x", ".cloudpypi/lock"])
def test_cloudfront_can_never_read_the_sync_state(aws_rendered, sandbox_rendered, key):
    for name, rendered, bucket in (
        ("aws", aws_rendered, AWS_BUCKET),
        ("sandbox", sandbox_rendered, SANDBOX_BUCKET),
    ):
        resource = f"arn:aws:s3:::{bucket}/{key}"
        assert not cloudfront_may(rendered["bucket-policy"], "s3:GetObject", resource, DISTRIBUTION_ARN), (
            f"expected CloudFront never to read {resource} ({name} inventory)"
        )


@pytest.mark.parametrize("key", ["simple/index.html", "simple/requests/index.v1_json", "packages/ab/cd/x.whl"])
def test_cloudfront_reads_pages_and_files_only_for_its_own_distribution(aws_rendered, key):
    policy = aws_rendered["bucket-policy"]
    resource = f"arn:aws:s3:::{AWS_BUCKET}/{key}"
    assert cloudfront_may(policy, "s3:GetObject", resource, DISTRIBUTION_ARN), f"expected CloudFront to read {key}"
    other = "arn:aws:cloudfront::111122223333:distribution/EOTHER"
    assert not cloudfront_may(policy, "s3:GetObject", resource, other), "expected another distribution refused"


# ---------------------------------------------------------------- the log bucket's policy (AWS)


def test_aws_log_bucket_accepts_only_this_buckets_access_logs_over_tls(aws_rendered):
    statements = by_sid(aws_rendered["log-bucket-policy"])
    delivery = {
        "Sid": "S3ServerAccessLogsDelivery",
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{AWS_BUCKET}-logs/s3-access/*",
        "Condition": {
            "ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{AWS_BUCKET}"},
            "StringEquals": {"aws:SourceAccount": ACCOUNT},
        },
    }
    assert statements.get("S3ServerAccessLogsDelivery") == delivery, f"expected {delivery}, got {statements}"
    tls = statements.get("DenyInsecureTransport", {})
    assert (tls.get("Effect"), tls.get("Condition"), tls.get("Resource")) == (
        "Deny",
        {"Bool": {"aws:SecureTransport": "false"}},
        [f"arn:aws:s3:::{AWS_BUCKET}-logs", f"arn:aws:s3:::{AWS_BUCKET}-logs/*"],
    ), f"expected the log bucket TLS only, got {tls}"
    assert set(statements) == {"S3ServerAccessLogsDelivery", "DenyInsecureTransport"}, f"got {set(statements)}"


# ---------------------------------------------------------------- the sandbox inventory


def test_sandbox_inventory_leaves_the_deny_statements_out_and_keeps_the_grants(sandbox_rendered, aws_rendered):
    sandbox = by_sid(sandbox_rendered["bucket-policy"])
    assert [s["Effect"] for s in sandbox.values()] == ["Allow", "Allow"], f"expected only the grants, got {sandbox}"
    aws_grants = {sid: s for sid, s in by_sid(aws_rendered["bucket-policy"]).items() if s["Effect"] == "Allow"}
    renamed = json.loads(json.dumps(aws_grants).replace(AWS_BUCKET, SANDBOX_BUCKET))
    assert sandbox == renamed, f"expected the sandbox grants to equal AWS's, got {sandbox} against {renamed}"
    log_sids = [s["Sid"] for s in sandbox_rendered["log-bucket-policy"]["Statement"]]
    assert log_sids == ["S3ServerAccessLogsDelivery"], f"expected the log delivery grant only, got {log_sids}"


# ---------------------------------------------------------------- the distribution's production branch


def behaviours(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {"default": config["DefaultCacheBehavior"]}
    found.update({b["PathPattern"]: b for b in config["CacheBehaviors"]["Items"]})
    return found


def test_distribution_origin_is_the_bucket_through_the_oac(aws_rendered):
    origins = aws_rendered["distribution-config"]["Origins"]["Items"]
    assert len(origins) == 1, f"expected one origin, got {origins}"
    origin = origins[0]
    assert origin["DomainName"] == f"{AWS_BUCKET}.s3.us-east-1.amazonaws.com", f"got {origin}"
    assert origin["OriginAccessControlId"] == "OAC-EXAMPLE", f"expected the OAC on the origin, got {origin}"
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}, f"expected no legacy OAI, got {origin}"


def test_every_behaviour_has_a_cache_policy_and_a_security_headers_policy(aws_rendered):
    found = behaviours(aws_rendered["distribution-config"])
    assert set(found) == {"default", "/simple/*", "/packages/*"}, f"got {set(found)}"
    expected = {
        "default": ("CACHE-SIMPLE", "HEADERS-SIMPLE"),
        "/simple/*": ("CACHE-SIMPLE", "HEADERS-SIMPLE"),
        "/packages/*": ("CACHE-PACKAGES", "HEADERS-PACKAGES"),
    }
    got = {name: (b.get("CachePolicyId"), b.get("ResponseHeadersPolicyId")) for name, b in found.items()}
    assert got == expected, f"expected {expected}, got {got}"
    for name, behaviour in found.items():
        legacy = {"ForwardedValues", "MinTTL", "DefaultTTL", "MaxTTL"} & set(behaviour)
        assert not legacy, f"{name}: expected no legacy cache settings next to a cache policy, got {legacy}"
        assert behaviour["ViewerProtocolPolicy"] == "redirect-to-https", f"{name}: got {behaviour}"
        assert behaviour["AllowedMethods"]["Items"] == ["GET", "HEAD"], f"{name}: got {behaviour['AllowedMethods']}"


def test_the_function_runs_on_index_pages_and_not_on_package_files(aws_rendered):
    found = behaviours(aws_rendered["distribution-config"])
    function = [
        {
            "EventType": "viewer-request",
            "FunctionARN": "arn:aws:cloudfront::111122223333:function/cloudpypi-viewer-request",
        }
    ]
    for name in ("default", "/simple/*"):
        assert found[name]["FunctionAssociations"]["Items"] == function, f"{name}: got {found[name]}"
    assert found["/packages/*"]["FunctionAssociations"]["Items"] == [], f"got {found['/packages/*']}"


def test_without_a_custom_domain_the_default_certificate_is_used(aws_rendered):
    config = aws_rendered["distribution-config"]
    assert config["ViewerCertificate"] == {"CloudFrontDefaultCertificate": True}, f"got {config['ViewerCertificate']}"
    assert config["Aliases"]["Items"] == [], f"expected no alias, got {config['Aliases']}"


def test_a_custom_domain_requires_tls_1_2_with_sni(aws_custom_domain_rendered):
    config = aws_custom_domain_rendered["distribution-config"]
    expected = {
        "ACMCertificateArn": "arn:aws:acm:us-east-1:111122223333:certificate/EXAMPLE",
        "SSLSupportMethod": "sni-only",
        "MinimumProtocolVersion": "TLSv1.2_2021",
    }
    assert config["ViewerCertificate"] == expected, f"expected {expected}, got {config['ViewerCertificate']}"
    assert config["Aliases"]["Items"] == ["pypi.example.com"], f"got {config['Aliases']}"
