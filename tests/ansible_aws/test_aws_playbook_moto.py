"""playbooks/aws.yml (and the dev server instance play) against a real moto server: the first run
creates, the second reports changed=0, and the resources are locked down as the security model requires."""

from __future__ import annotations

import json
import logging

import pytest

from ansible_aws.aws_ansible_helpers import BUCKET, REGION, require_ok, run_playbook
from support.motoserver import moto_server

pytestmark = [pytest.mark.moto, pytest.mark.slow]
log = logging.getLogger(__name__)

AWS_PLAYBOOK = "playbooks/aws.yml"
INSTANCE_PLAYBOOK = "tests/ansible_aws/playbooks/devserver-instance.yml"


@pytest.fixture(scope="module")
def provisioned(aws_moto):
    """aws.yml and the instance play, each run twice, on a fresh moto."""
    aws_moto.reset()
    runs = {
        "aws_first": require_ok(run_playbook(aws_moto, AWS_PLAYBOOK)),
        "aws_second": require_ok(run_playbook(aws_moto, AWS_PLAYBOOK, "--diff")),
        "instance_first": require_ok(run_playbook(aws_moto, INSTANCE_PLAYBOOK)),
        "instance_second": require_ok(run_playbook(aws_moto, INSTANCE_PLAYBOOK)),
    }
    for name, run in runs.items():
        log.info("%s: %.1f s, %s", name, run.seconds, run.recap)
    return runs


def client(moto, service, region=REGION):
    return moto.client(service, region_name=region)


def test_first_aws_run_creates_resources(provisioned):
    recap = provisioned["aws_first"].recap
    assert recap["changed"] > 0 and recap["failed"] == 0, f"expected changes and no failure, got {recap}"


@pytest.mark.parametrize("run", ["aws_second", "instance_second"])
def test_second_run_reports_no_change(provisioned, run):
    result = provisioned[run]
    assert result.recap["changed"] == 0, (
        f"expected changed=0 on the second run of {run}, got {result.recap}; changed tasks: {result.changed_tasks()}"
    )


def test_bucket_blocks_all_public_access(provisioned, aws_moto):
    block = client(aws_moto, "s3").get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    expected = {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    assert block == expected, f"expected all four public-access blocks on, got {block}"


def test_bucket_has_default_encryption_and_enforced_ownership(provisioned, aws_moto):
    s3 = client(aws_moto, "s3")
    rules = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    algorithms = [r["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] for r in rules]
    assert algorithms == ["AES256"], f"expected SSE-S3 (AES256) default encryption, got {algorithms}"
    ownership = s3.get_bucket_ownership_controls(Bucket=BUCKET)["OwnershipControls"]["Rules"]
    assert ownership == [{"ObjectOwnership": "BucketOwnerEnforced"}], f"expected BucketOwnerEnforced, got {ownership}"


def test_bucket_lifecycle_aborts_incomplete_multipart_uploads(provisioned, aws_moto):
    rules = client(aws_moto, "s3").get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    aborts = [r for r in rules if r.get("Status") == "Enabled" and "AbortIncompleteMultipartUpload" in r]
    assert aborts and aborts[0]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 7, (
        f"expected an enabled rule aborting multipart uploads after 7 days, got {rules}"
    )


def test_bucket_is_versioned_and_expires_old_versions_after_30_days(provisioned, aws_moto):
    s3 = client(aws_moto, "s3")
    status = s3.get_bucket_versioning(Bucket=BUCKET).get("Status")
    assert status == "Enabled", f"expected versioning Enabled, got {status}"
    rules = s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    expiring = [r for r in rules if r.get("Status") == "Enabled" and "NoncurrentVersionExpiration" in r]
    assert len(expiring) == 1, f"expected one enabled rule expiring noncurrent versions, got {rules}"
    rule = expiring[0]
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30, f"expected 30 days, got {rule}"
    assert rule["Filter"] == {"Prefix": ""} and rule["Expiration"] == {"ExpiredObjectDeleteMarker": True}, (
        f"expected the whole bucket, lone delete markers removed, got {rule}"
    )


def test_access_logs_go_to_a_private_log_bucket_with_lifecycle(provisioned, aws_moto):
    s3 = client(aws_moto, "s3")
    logs = f"{BUCKET}-logs"
    enabled = s3.get_bucket_logging(Bucket=BUCKET).get("LoggingEnabled")
    assert enabled == {"TargetBucket": logs, "TargetPrefix": "s3-access/"}, (
        f"expected logging into {logs}, got {enabled}"
    )
    block = s3.get_public_access_block(Bucket=logs)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4, f"expected the log bucket fully private, got {block}"
    rules = s3.get_bucket_encryption(Bucket=logs)["ServerSideEncryptionConfiguration"]["Rules"]
    assert [r["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] for r in rules] == ["AES256"], f"got {rules}"
    lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=logs)["Rules"]
    got = [(r["ID"], r["Status"], r.get("Expiration"), r.get("AbortIncompleteMultipartUpload")) for r in lifecycle]
    expected = [("expire-access-logs", "Enabled", {"Days": 365}, {"DaysAfterInitiation": 7})]
    assert got == expected, f"expected {expected}, got {got}"
    policy = json.loads(s3.get_bucket_policy(Bucket=logs)["Policy"])
    delivery = [s for s in policy["Statement"] if s["Principal"] == {"Service": "logging.s3.amazonaws.com"}]
    assert [(s["Effect"], s["Action"], s["Resource"]) for s in delivery] == [
        ("Allow", "s3:PutObject", f"arn:aws:s3:::{logs}/s3-access/*")
    ], f"expected the log delivery grant on the log prefix only, got {policy}"
    assert delivery[0]["Condition"]["ArnLike"] == {"aws:SourceArn": f"arn:aws:s3:::{BUCKET}"}, f"got {delivery}"


def test_bucket_policy_lets_only_the_distribution_read_over_tls_with_packages_write_once(provisioned, aws_moto):
    from ansible_aws.test_rendered_documents import cloudfront_may

    policy = json.loads(client(aws_moto, "s3").get_bucket_policy(Bucket=BUCKET)["Policy"])
    distributions = client(aws_moto, "cloudfront").list_distributions()["DistributionList"]["Items"]
    mirror = [d for d in distributions if d["Comment"] == f"cloudpypi mirror {BUCKET}"]
    assert len(mirror) == 1, f"expected one mirror distribution, got {[d['Comment'] for d in distributions]}"
    denies = {s["Sid"]: s["Condition"] for s in policy["Statement"] if s["Effect"] == "Deny"}
    expected_denies = {
        "DenyInsecureTransport": {"Bool": {"aws:SecureTransport": "false"}},
        "PackagesAreWriteOnce": {"Null": {"s3:if-none-match": "true"}, "Bool": {"s3:ObjectCreationOperation": "true"}},
    }
    assert denies == expected_denies, f"expected the TLS-only and write-once Deny statements, got {denies}"
    actions = set()
    for statement in policy["Statement"]:
        if statement["Effect"] == "Deny":
            continue
        assert statement["Principal"] == {"Service": "cloudfront.amazonaws.com"}, (
            f"expected the CloudFront service principal only, got {statement['Principal']}"
        )
        assert statement["Condition"] == {"StringEquals": {"AWS:SourceArn": mirror[0]["ARN"]}}, (
            f"expected AWS:SourceArn = {mirror[0]['ARN']}, got {statement['Condition']}"
        )
        actions.update([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        assert all(r.startswith(f"arn:aws:s3:::{BUCKET}") for r in resources), (
            f"expected this bucket only, got {resources}"
        )
    assert actions == {"s3:GetObject", "s3:ListBucket"}, f"expected GetObject and ListBucket, got {actions}"
    state = f"arn:aws:s3:::{BUCKET}/.cloudpypi/state.sqlite"
    assert not cloudfront_may(policy, "s3:GetObject", state, mirror[0]["ARN"]), "expected .cloudpypi/ unreadable"
    page = f"arn:aws:s3:::{BUCKET}/simple/index.html"
    assert cloudfront_may(policy, "s3:GetObject", page, mirror[0]["ARN"]), "expected index pages readable"


def test_distribution_serves_the_bucket_with_https_and_per_path_behaviours(provisioned, aws_moto):
    cloudfront = client(aws_moto, "cloudfront")
    summary = next(
        d
        for d in cloudfront.list_distributions()["DistributionList"]["Items"]
        if d["Comment"] == f"cloudpypi mirror {BUCKET}"
    )
    config = cloudfront.get_distribution_config(Id=summary["Id"])["DistributionConfig"]
    origin = config["Origins"]["Items"][0]
    assert origin["DomainName"] == f"{BUCKET}.s3.{REGION}.amazonaws.com", f"expected the regional domain, got {origin}"
    behaviours = {b["PathPattern"]: b for b in config["CacheBehaviors"]["Items"]}
    assert set(behaviours) == {"/simple/*", "/packages/*"}, f"expected /simple/* and /packages/*, got {set(behaviours)}"
    assert behaviours["/simple/*"]["Compress"] is True and behaviours["/packages/*"]["Compress"] is False, (
        "expected compression on for /simple/* and off for /packages/*"
    )
    policies = {config["DefaultCacheBehavior"]["ViewerProtocolPolicy"]} | {
        b["ViewerProtocolPolicy"] for b in behaviours.values()
    }
    assert policies == {"redirect-to-https"}, f"expected redirect-to-https everywhere, got {policies}"


def test_origin_access_control_and_function_exist(provisioned, aws_moto):
    cloudfront = client(aws_moto, "cloudfront")
    controls = cloudfront.list_origin_access_controls()["OriginAccessControlList"].get("Items", [])
    assert [(c["SigningProtocol"], c["SigningBehavior"], c["OriginAccessControlOriginType"]) for c in controls] == [
        ("sigv4", "always", "s3")
    ], f"expected one sigv4/always/s3 OAC, got {controls}"
    functions = cloudfront.list_functions()["FunctionList"].get("Items", [])
    runtimes = [f["FunctionConfig"]["Runtime"] for f in functions]
    assert runtimes == ["cloudfront-js-2.0"], f"expected one cloudfront-js-2.0 function, got {runtimes}"


def test_security_group_allows_ssh_only_from_admin_cidrs(provisioned, aws_moto):
    group = client(aws_moto, "ec2").describe_security_groups(GroupNames=["cloudpypi-devserver-ssh"])["SecurityGroups"][
        0
    ]
    ranges = [r["CidrIp"] for p in group["IpPermissions"] for r in p.get("IpRanges", [])]
    ranges6 = [r["CidrIpv6"] for p in group["IpPermissions"] for r in p.get("Ipv6Ranges", [])]
    assert "0.0.0.0/0" not in ranges and "::/0" not in ranges6, f"expected no SSH from anywhere, got {ranges} {ranges6}"
    assert (ranges, ranges6) == (["198.51.100.0/24"], ["2001:db8::/32"]), (
        f"expected the admin CIDRs, got {ranges} {ranges6}"
    )
    ports = {(p["FromPort"], p["ToPort"], p["IpProtocol"]) for p in group["IpPermissions"]}
    assert ports == {(22, 22, "tcp")}, f"expected only tcp/22, got {ports}"


def test_instance_requires_imdsv2_uses_gp3_profile_and_tags(provisioned, aws_moto):
    ec2 = client(aws_moto, "ec2")
    instances = [
        i
        for r in ec2.describe_instances(Filters=[{"Name": "tag:Role", "Values": ["devserver"]}])["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] == "running"
    ]
    assert len(instances) == 1, f"expected one running dev server after two runs, got {len(instances)}"
    instance = instances[0]
    assert instance["MetadataOptions"]["HttpTokens"] == "required", (
        f"expected IMDSv2, got {instance['MetadataOptions']}"
    )
    assert instance["IamInstanceProfile"]["Arn"].endswith(":instance-profile/cloudpypi-devserver"), (
        f"expected the dev server instance profile, got {instance.get('IamInstanceProfile')}"
    )
    tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
    assert {"Name": "cloudpypi-devserver", "Project": "cloudpypi", "Role": "devserver"}.items() <= tags.items(), (
        f"expected Name/Project/Role tags, got {tags}"
    )
    volume_id = instance["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    volume = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
    assert (volume["VolumeType"], volume["Size"]) == ("gp3", 30), f"expected a 30 GiB gp3 root volume, got {volume}"


def test_instance_metadata_is_imdsv2_with_hop_limit_1_and_the_root_volume_is_encrypted(provisioned, aws_moto):
    ec2 = client(aws_moto, "ec2")
    reservations = ec2.describe_instances(Filters=[{"Name": "tag:Role", "Values": ["devserver"]},
                                                   {"Name": "instance-state-name", "Values": ["running"]}])
    instance = reservations["Reservations"][0]["Instances"][0]
    options = instance["MetadataOptions"]
    got = {key: options.get(key) for key in ("HttpTokens", "HttpPutResponseHopLimit", "HttpEndpoint")}
    assert got == {"HttpTokens": "required", "HttpPutResponseHopLimit": 1, "HttpEndpoint": "enabled"}, (
        f"expected IMDSv2 only, with a hop limit of 1 (no container or forwarded hop reaches it), got {options}")
    mappings = instance["BlockDeviceMappings"]
    root = next((m for m in mappings if m["DeviceName"] == instance.get("RootDeviceName")), mappings[0])
    volume = ec2.describe_volumes(VolumeIds=[root["Ebs"]["VolumeId"]])["Volumes"][0]
    assert volume.get("Encrypted") is True, f"expected the root volume encrypted, got {volume}"


def test_budget_alerts_at_50_80_100_actual_and_100_forecast(provisioned, aws_moto):
    budgets = client(aws_moto, "budgets", "us-east-1")
    budget = budgets.describe_budget(AccountId="123456789012", BudgetName="cloudpypi-monthly")["Budget"]
    assert (
        float(budget["BudgetLimit"]["Amount"]),
        budget["BudgetLimit"]["Unit"],
        budget["TimeUnit"],
        budget["BudgetType"],
    ) == (500.0, "USD", "MONTHLY", "COST"), f"expected 500 USD monthly cost, got {budget}"
    notes = budgets.describe_notifications_for_budget(AccountId="123456789012", BudgetName="cloudpypi-monthly")
    got = sorted((n["NotificationType"], float(n["Threshold"])) for n in notes["Notifications"])
    expected = [("ACTUAL", 50.0), ("ACTUAL", 80.0), ("ACTUAL", 100.0), ("FORECASTED", 100.0)]
    assert got == expected, f"expected {expected}, got {got}"


def test_stale_sync_alarm_notifies_the_topic(provisioned, aws_moto):
    alarm = client(aws_moto, "cloudwatch").describe_alarms(AlarmNames=["cloudpypi-sync-stale"])["MetricAlarms"]
    assert len(alarm) == 1, "expected the cloudpypi-sync-stale alarm"
    alarm = alarm[0]
    got = (
        alarm["EvaluationPeriods"],
        alarm["DatapointsToAlarm"],
        alarm["ComparisonOperator"],
        alarm["Threshold"],
        alarm["TreatMissingData"],
    )
    # Test inventory: a 900 s timer -> 900 s periods, two breaching periods = 30 minutes.
    expected = (2, 2, "LessThanThreshold", 1.0, "breaching")
    assert got == expected, f"expected {expected}, got {got}"
    # No success and no long run making progress: success datapoints, or a heartbeat of a run at least a
    # period old, keep a period healthy.
    queries = {q["Id"]: q for q in alarm["Metrics"]}
    stats = {qid: (q["MetricStat"]["Metric"]["Namespace"], q["MetricStat"]["Metric"]["MetricName"],
                   q["MetricStat"]["Stat"], q["MetricStat"]["Period"], q.get("ReturnData"))
             for qid, q in queries.items() if "MetricStat" in q}
    assert stats == {"success": ("CloudPyPI", "LastSuccessTime", "SampleCount", 900, False),
                     "heartbeat": ("CloudPyPI", "ProgressHeartbeat", "Maximum", 900, False)}, stats
    assert queries["healthy"]["Expression"] == "FILL(success, 0) + IF(FILL(heartbeat, 0) >= 900, 1, 0)"
    assert queries["healthy"].get("ReturnData") is True
    topics = [t["TopicArn"] for t in client(aws_moto, "sns").list_topics()["Topics"]]
    assert alarm["AlarmActions"] == [t for t in topics if t.endswith(":cloudpypi-alerts")], (
        f"expected the alarm to notify cloudpypi-alerts, got {alarm['AlarmActions']}"
    )
    subscriptions = client(aws_moto, "sns").list_subscriptions_by_topic(TopicArn=alarm["AlarmActions"][0])
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions["Subscriptions"]] == [("email", "alarms@example.com")]


def test_deployed_iam_policy_is_least_privilege(provisioned, aws_moto):
    from ansible_aws.iam_checks import assert_least_privilege

    iam = client(aws_moto, "iam")
    document = iam.get_role_policy(RoleName="cloudpypi-devserver", PolicyName="cloudpypi-mirror-access")
    policy = document["PolicyDocument"]
    policy = json.loads(policy) if isinstance(policy, str) else policy
    distribution = next(
        d
        for d in client(aws_moto, "cloudfront").list_distributions()["DistributionList"]["Items"]
        if d["Comment"] == f"cloudpypi mirror {BUCKET}"
    )
    assert_least_privilege(policy, BUCKET, distribution["ARN"])
    profiles = iam.list_instance_profiles_for_role(RoleName="cloudpypi-devserver")["InstanceProfiles"]
    assert [p["InstanceProfileName"] for p in profiles] == ["cloudpypi-devserver"], f"got {profiles}"


def test_check_mode_on_a_fresh_account_succeeds_and_creates_nothing():
    with moto_server() as fresh:
        run = require_ok(run_playbook(fresh, AWS_PLAYBOOK, "--check", "--diff"))
        assert run.recap["changed"] > 0, f"expected check mode to predict changes, got {run.recap}"
        assert fresh.client("s3", region_name=REGION).list_buckets()["Buckets"] == [], "expected no bucket"
        cloudfront = fresh.client("cloudfront", region_name=REGION)
        assert not cloudfront.list_distributions()["DistributionList"].get("Items"), "expected no distribution"
        assert not cloudfront.list_functions()["FunctionList"].get("Items"), "expected no function"
        assert not cloudfront.list_origin_access_controls()["OriginAccessControlList"].get("Items"), "expected no OAC"
        assert fresh.client("iam").list_roles()["Roles"] == [], "expected no IAM role"
        assert fresh.client("sns", region_name=REGION).list_topics()["Topics"] == [], "expected no topic"
        budgets = fresh.client("budgets", region_name="us-east-1").describe_budgets(AccountId="123456789012")
        assert not budgets.get("Budgets"), "expected no budget"


def test_teardown_refuses_without_confirmation_and_removes_everything_with_it():
    with moto_server() as moto:
        require_ok(run_playbook(moto, AWS_PLAYBOOK))
        require_ok(run_playbook(moto, INSTANCE_PLAYBOOK))
        refused = run_playbook(moto, "playbooks/teardown.yml")
        assert refused.returncode != 0 and f"cloudpypi_teardown_confirm={BUCKET}" in refused.output, (
            f"expected teardown to refuse and name the confirmation, got exit {refused.returncode}:\n"
            f"{refused.output[-2000:]}"
        )
        buckets = sorted(b["Name"] for b in moto.client("s3").list_buckets()["Buckets"])
        assert buckets == [BUCKET, f"{BUCKET}-logs"], f"refusal must delete nothing, got {buckets}"
        wrong = run_playbook(moto, "playbooks/teardown.yml", "-e", "cloudpypi_teardown_confirm=other-bucket")
        assert wrong.returncode != 0, "expected a wrong confirmation to be refused"
        confirmed = require_ok(
            run_playbook(moto, "playbooks/teardown.yml", "-e", f"cloudpypi_teardown_confirm={BUCKET}")
        )
        kept = [b["Name"] for b in moto.client("s3").list_buckets()["Buckets"]]
        assert kept == [f"{BUCKET}-logs"], f"expected the mirror bucket gone and its access logs kept, got {kept}"
        said = " ".join(confirmed.output.split())  # the YAML callback wraps long messages
        assert f"Kept the access-log bucket s3://{BUCKET}-logs" in said, "expected the teardown to say what it kept"
        assert "-e cloudpypi_teardown_keep_logs=false" in said, "expected it to say how to remove the logs"
        cloudfront = moto.client("cloudfront", region_name=REGION)
        assert not cloudfront.list_distributions()["DistributionList"].get("Items"), "expected no distribution"
        assert not cloudfront.list_functions()["FunctionList"].get("Items"), "expected no function"
        assert moto.client("iam").list_roles()["Roles"] == [], "expected no IAM role"
        assert moto.client("iam").list_instance_profiles()["InstanceProfiles"] == [], "expected no instance profile"
        ec2 = moto.client("ec2", region_name=REGION)
        states = [i["State"]["Name"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
        assert set(states) <= {"terminated", "shutting-down"}, f"expected the dev server terminated, got {states}"
        assert ec2.describe_key_pairs()["KeyPairs"] == [], "expected no key pair"
        alarms = moto.client("cloudwatch", region_name=REGION).describe_alarms()["MetricAlarms"]
        assert alarms == [], "expected no alarm"
        budgets = moto.client("budgets", region_name="us-east-1").describe_budgets(AccountId="123456789012")
        assert not budgets.get("Budgets"), "expected no budget"


def test_teardown_deletes_the_access_logs_too_when_told():
    with moto_server() as moto:
        s3 = moto.client("s3", region_name=REGION)
        location = {"LocationConstraint": REGION}
        for name in (BUCKET, f"{BUCKET}-logs"):
            s3.create_bucket(Bucket=name, CreateBucketConfiguration=location)
        s3.put_object(Bucket=f"{BUCKET}-logs", Key="s3-access/2026-12-06-00-00-00-EXAMPLE", Body=b"a log line\n")
        run = require_ok(
            run_playbook(
                moto,
                "playbooks/teardown.yml",
                "-e",
                f"cloudpypi_teardown_confirm={BUCKET}",
                "-e",
                "cloudpypi_teardown_keep_logs=false",
            )
        )
        assert s3.list_buckets()["Buckets"] == [], "expected both buckets gone, the log bucket with its logs"
        assert "Kept the access-log bucket" not in " ".join(run.output.split()), "expected no claim to keep them"


def test_index_policy_change_handler_invalidates_the_index_pages(provisioned, aws_moto):
    cloudfront = client(aws_moto, "cloudfront")
    distribution = next(
        d
        for d in cloudfront.list_distributions()["DistributionList"]["Items"]
        if d["Comment"] == f"cloudpypi mirror {BUCKET}"
    )
    require_ok(
        run_playbook(
            aws_moto,
            "tests/ansible_aws/playbooks/invalidate-handler.yml",
            "-e",
            f"mirror_cdn_distribution_id={distribution['Id']}",
        )
    )
    listed = cloudfront.list_invalidations(DistributionId=distribution["Id"])["InvalidationList"].get("Items", [])
    assert listed, "expected the handler to create an invalidation"
    batch = cloudfront.get_invalidation(DistributionId=distribution["Id"], Id=listed[0]["Id"])["Invalidation"]
    assert batch["InvalidationBatch"]["Paths"]["Items"] == ["/simple/*"], f"got {batch['InvalidationBatch']}"
