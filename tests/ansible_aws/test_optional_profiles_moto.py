"""The optional parts against moto: the sync fleet (queues, worker role, launch template, Auto
Scaling group, the worker's install in the bucket), the custom domain (ACM certificate in us-east-1 validated
through Route 53, alias A/AAAA records), the WAF IP allowlist, and the "Example CDN" profile in
front of pypi.org (both runs on one moto: the second must report changed=0); and, on a moto of its
own, the bucket with S3 Object Lock (governance) and access logging turned off."""

from __future__ import annotations

import base64
import json

import pytest

from ansible_aws.aws_ansible_helpers import BUCKET, REGION, require_ok, run_playbook
from support.motoserver import moto_server

pytestmark = [pytest.mark.moto, pytest.mark.slow, pytest.mark.timeout(2400)]  # two full playbook runs with every option

OPTIONS = (
    "-e",
    "mirror_cdn_custom_domain=pypi.example.test",
    "-e",
    "mirror_cdn_hosted_zone=example.test",
    "-e",
    '{"mirror_cdn_waf_allowed_cidrs": ["192.0.2.0/24", "2001:db8:1::/48"]}',
    "-e",
    "cloudpypi_example_cdn_enabled=true",
)
# The sync fleet too (its role uploads the workers' install, which moto refuses under the bucket policy's
# conditional Deny statements, so they are left out here).
FLEET_OPTIONS = ("-e", "cloudpypi_fleet_enabled=true", "-e", '{"mirror_bucket_policy_guards": []}')
BUCKET_OPTIONS = ("-e", "mirror_bucket_object_lock_enabled=true", "-e", "mirror_bucket_access_logging=false")


@pytest.fixture(scope="module")
def optional_moto():
    # moto issues a requested certificate after MOTO_ACM_VALIDATION_WAIT seconds (60 by default).
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOTO_ACM_VALIDATION_WAIT", "1")
        with moto_server() as server:
            server.client("route53").create_hosted_zone(Name="example.test", CallerReference="tests")
            image = server.client("ec2", region_name=REGION).describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
            options = (*OPTIONS, *FLEET_OPTIONS, "-e", f"sync_fleet_ami_id={image}")
            first = require_ok(run_playbook(server, "playbooks/aws.yml", *options, timeout=1200))
            second = require_ok(run_playbook(server, "playbooks/aws.yml", *options, timeout=1200))
            yield server, first, second


def distributions(moto):
    cloudfront = moto.client("cloudfront", region_name=REGION)
    return {
        d["Comment"]: cloudfront.get_distribution_config(Id=d["Id"])["DistributionConfig"]
        for d in cloudfront.list_distributions()["DistributionList"]["Items"]
    }


def test_optional_profiles_second_run_reports_no_change(optional_moto):
    _, first, second = optional_moto
    assert first.recap["changed"] > 0, f"expected the first run to create, got {first.recap}"
    assert second.recap["changed"] == 0, f"expected changed=0, got {second.recap}; changed: {second.changed_tasks()}"


def test_custom_domain_gets_an_issued_us_east_1_certificate_tls12_and_alias_records(optional_moto):
    moto, _, _ = optional_moto
    config = distributions(moto)[f"cloudpypi mirror {BUCKET}"]
    assert config["Aliases"].get("Items") == ["pypi.example.test"], f"expected the alias, got {config['Aliases']}"
    certificate = config["ViewerCertificate"]
    assert certificate["ACMCertificateArn"].startswith("arn:aws:acm:us-east-1:"), f"got {certificate}"
    assert (certificate["MinimumProtocolVersion"], certificate["SSLSupportMethod"]) == ("TLSv1.2_2021", "sni-only")
    acm = moto.client("acm", region_name="us-east-1").describe_certificate(
        CertificateArn=certificate["ACMCertificateArn"]
    )["Certificate"]
    assert (acm["DomainName"], acm["Status"]) == ("pypi.example.test", "ISSUED"), f"got {acm['Status']}"
    route53 = moto.client("route53")
    zone = route53.list_hosted_zones_by_name(DNSName="example.test")["HostedZones"][0]["Id"]
    records = route53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    aliases = {r["Type"]: r["AliasTarget"] for r in records if r["Name"] == "pypi.example.test." and "AliasTarget" in r}
    assert set(aliases) == {"A", "AAAA"}, f"expected A and AAAA alias records, got {records}"
    assert {a["HostedZoneId"] for a in aliases.values()} == {"Z2FDTNDATAQYW2"}, f"got {aliases}"
    validation = [r for r in records if r["Type"] == "CNAME" and r["Name"].endswith(".pypi.example.test.")]
    assert len(validation) == 1, f"expected the ACM validation CNAME, got {records}"


def test_object_lock_retains_versions_in_governance_mode_and_logging_can_be_off():
    with moto_server() as moto:
        first = require_ok(run_playbook(moto, "playbooks/aws.yml", *BUCKET_OPTIONS))
        second = require_ok(run_playbook(moto, "playbooks/aws.yml", *BUCKET_OPTIONS))
        s3 = moto.client("s3", region_name=REGION)
        lock = s3.get_object_lock_configuration(Bucket=BUCKET)["ObjectLockConfiguration"]
        retention = {k: v for k, v in lock["Rule"]["DefaultRetention"].items() if v}  # moto adds "Years": 0
        assert (lock["ObjectLockEnabled"], retention) == ("Enabled", {"Mode": "GOVERNANCE", "Days": 30}), (
            f"expected governance retention of 30 days, got {lock}"
        )
        assert s3.get_bucket_versioning(Bucket=BUCKET).get("Status") == "Enabled", "expected versioning on"
        assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=BUCKET), "expected access logging off"
        names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
        assert names == [BUCKET], f"expected no log bucket with logging off, got {names}"
    assert first.recap["changed"] > 0, f"expected the first run to create, got {first.recap}"
    # moto stores the default retention with "Years": 0 beside "Days", and amazon.aws.s3_bucket
    # compares the two documents exactly, so against moto the bucket task reports changed again
    # (AWS returns only the field that was set).  Nothing else may change.
    assert set(second.changed_tasks()) <= {"mirror_bucket : Create the private, encrypted, versioned mirror bucket"}, (
        f"expected no other change on the second run, got {second.changed_tasks()}"
    )


def test_waf_allowlist_blocks_everyone_else(optional_moto):
    moto, _, _ = optional_moto
    config = distributions(moto)[f"cloudpypi mirror {BUCKET}"]
    waf = moto.client("wafv2", region_name="us-east-1")
    acls = waf.list_web_acls(Scope="CLOUDFRONT")["WebACLs"]
    assert [a["ARN"] for a in acls] == [config["WebACLId"]], f"expected the distribution to use the ACL, got {acls}"
    acl = waf.get_web_acl(Name=acls[0]["Name"], Scope="CLOUDFRONT", Id=acls[0]["Id"])["WebACL"]
    assert "Block" in acl["DefaultAction"], f"expected block by default, got {acl['DefaultAction']}"
    addresses = set()
    for rule in acl["Rules"]:
        assert "Allow" in rule["Action"], f"expected allow rules only, got {rule}"
        reference = rule["Statement"]["IPSetReferenceStatement"]["ARN"]
        name, set_id = reference.split("/")[-2:]
        addresses.update(waf.get_ip_set(Name=name, Scope="CLOUDFRONT", Id=set_id)["IPSet"]["Addresses"])
    assert addresses == {"192.0.2.0/24", "2001:db8:1::/48"}, f"expected exactly the allowed CIDRs, got {addresses}"


def test_example_cdn_caches_pypi_org_over_https(optional_moto):
    moto, _, _ = optional_moto
    config = distributions(moto)["cloudpypi example CDN for pypi.org"]
    origin = config["Origins"]["Items"][0]
    assert origin["DomainName"] == "pypi.org", f"got {origin}"
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only", f"got {origin['CustomOriginConfig']}"
    behaviour = config["DefaultCacheBehavior"]
    assert behaviour["ViewerProtocolPolicy"] == "redirect-to-https", f"got {behaviour['ViewerProtocolPolicy']}"
    assert behaviour["AllowedMethods"]["Items"] and set(behaviour["AllowedMethods"]["Items"]) == {"GET", "HEAD"}
    # moto profile: legacy cache settings; PyPI negotiates on Accept, so Accept is in the key.
    assert behaviour["ForwardedValues"]["Headers"]["Items"] == ["Accept"], f"got {behaviour['ForwardedValues']}"


def test_teardown_removes_the_domain_records_certificate_and_waf():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOTO_ACM_VALIDATION_WAIT", "1")
        with moto_server() as moto:
            zone = moto.client("route53").create_hosted_zone(Name="example.test", CallerReference="t")["HostedZone"]
            require_ok(run_playbook(moto, "playbooks/aws.yml", *OPTIONS))
            require_ok(
                run_playbook(moto, "playbooks/teardown.yml", *OPTIONS, "-e", f"cloudpypi_teardown_confirm={BUCKET}")
            )
            records = moto.client("route53").list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]
            assert {r["Type"] for r in records} == {"NS", "SOA"}, f"expected only the zone's own records, got {records}"
            certificates = moto.client("acm", region_name="us-east-1").list_certificates()["CertificateSummaryList"]
            assert certificates == [], f"expected the requested certificate deleted, got {certificates}"
            waf = moto.client("wafv2", region_name="us-east-1")
            assert waf.list_web_acls(Scope="CLOUDFRONT")["WebACLs"] == [], "expected the web ACL deleted"
            assert waf.list_ip_sets(Scope="CLOUDFRONT")["IPSets"] == [], "expected the IP sets deleted"
            cloudfront = moto.client("cloudfront", region_name=REGION)
            assert not cloudfront.list_distributions()["DistributionList"].get("Items"), "expected no distribution"


def test_work_queue_is_fifo_and_dead_letters_after_the_configured_receives(optional_moto):
    moto, _, _ = optional_moto
    sqs = moto.client("sqs", region_name=REGION)
    work = sqs.get_queue_url(QueueName="cloudpypi-main-work.fifo")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=work, AttributeNames=["All"])["Attributes"]
    assert attributes["FifoQueue"] == "true"
    assert attributes["VisibilityTimeout"] == "900"
    redrive = json.loads(attributes["RedrivePolicy"])
    dead = sqs.get_queue_url(QueueName="cloudpypi-main-dead.fifo")["QueueUrl"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert (redrive["deadLetterTargetArn"], int(redrive["maxReceiveCount"])) == (dead_arn, 5)
    assert sqs.get_queue_url(QueueName="cloudpypi-main-results")["QueueUrl"]


def test_launch_template_requires_imdsv2_and_installs_the_worker_from_the_bucket(optional_moto):
    moto, _, _ = optional_moto
    ec2 = moto.client("ec2", region_name=REGION)
    versions = ec2.describe_launch_template_versions(LaunchTemplateName="cloudpypi-main-worker")[
        "LaunchTemplateVersions"
    ]
    data = max(versions, key=lambda v: v["VersionNumber"])["LaunchTemplateData"]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    profile = data["IamInstanceProfile"]
    assert (profile.get("Name") or profile["Arn"].rsplit("/", 1)[-1]) == "cloudpypi-main-worker", profile
    user_data = base64.b64decode(data["UserData"]).decode()
    assert "cloudpypi worker --fleet main" in user_data
    assert "--require-hashes" in user_data
    s3 = moto.client("s3", region_name=REGION)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=".cloudpypi/fleet/dist/")["Contents"]}
    wheel = next(k for k in keys if k.endswith(".whl"))
    assert wheel.rsplit("/", 1)[1] in user_data, "the user data installs the wheel the deploy uploaded"
    assert ".cloudpypi/fleet/dist/dependencies.tar" in keys


def test_auto_scaling_group_starts_empty_with_spot_allowed(optional_moto):
    moto, _, _ = optional_moto
    groups = moto.client("autoscaling", region_name=REGION).describe_auto_scaling_groups(
        AutoScalingGroupNames=["cloudpypi-main-workers"])["AutoScalingGroups"]
    assert len(groups) == 1
    group = groups[0]
    assert (group["MinSize"], group["DesiredCapacity"], group["MaxSize"]) == (0, 0, 50)
    policy = group["MixedInstancesPolicy"]
    assert policy["InstancesDistribution"]["OnDemandPercentageAboveBaseCapacity"] == 0
    overrides = [o["InstanceType"] for o in policy["LaunchTemplate"]["Overrides"]]
    assert overrides[0] == "c7i.large"


def test_worker_role_may_not_delete_or_read_the_state(optional_moto):
    moto, _, _ = optional_moto
    iam = moto.client("iam", region_name=REGION)
    document = iam.get_role_policy(RoleName="cloudpypi-main-worker", PolicyName="cloudpypi-fleet-worker")
    policy = document["PolicyDocument"]
    policy = json.loads(policy) if isinstance(policy, str) else policy
    actions = {a for s in policy["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert "s3:DeleteObject" not in actions
    assert not any(a.endswith("*") for a in actions)
    resources = [r for s in policy["Statement"] for r in s["Resource"]]
    assert not any(r.endswith((".cloudpypi/state.db", "/.cloudpypi/*")) for r in resources)
    assert f"arn:aws:s3:::{BUCKET}/packages/*" in resources


def test_s3_gateway_endpoint_keeps_worker_traffic_off_a_nat(optional_moto):
    moto, _, _ = optional_moto
    endpoints = moto.client("ec2", region_name=REGION).describe_vpc_endpoints()["VpcEndpoints"]
    gateways = [e for e in endpoints if e["ServiceName"] == f"com.amazonaws.{REGION}.s3"]
    assert len(gateways) == 1, f"expected one S3 gateway endpoint after two runs, got {len(gateways)}"


def test_fab_fleet_scales_the_group_the_role_made_and_refuses_beyond_its_bounds(optional_moto):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from ansible_aws.aws_ansible_helpers import ROOT, ansible_env

    moto, _, _ = optional_moto
    env = dict(ansible_env(moto), CLOUDPYPI_INVENTORY=os.path.relpath(ROOT / "tests/ansible_aws/inventory", ROOT))
    autoscaling = moto.client("autoscaling", region_name=REGION)

    def fab(*args: str) -> subprocess.CompletedProcess[str]:
        fab_binary = str(Path(sys.executable).parent / "fab")
        return subprocess.run([fab_binary, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                              check=False)

    def group() -> dict:
        return autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["cloudpypi-main-workers"])[
            "AutoScalingGroups"
        ][0]

    up = fab("fleet", "--workers", "2")
    assert up.returncode == 0, up.stdout + up.stderr
    assert group()["DesiredCapacity"] == 2
    status = fab("fleet-status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "workers wanted     2" in status.stdout
    too_many = fab("fleet", "--workers", "51")
    assert too_many.returncode == 2, too_many.stdout + too_many.stderr
    assert "outside the group's bounds 0..50" in too_many.stdout + too_many.stderr
    assert group()["DesiredCapacity"] == 2, "a refused scaling changes nothing"
    down = fab("fleet", "--workers", "0")
    assert down.returncode == 0, down.stdout + down.stderr
    assert group()["DesiredCapacity"] == 0
