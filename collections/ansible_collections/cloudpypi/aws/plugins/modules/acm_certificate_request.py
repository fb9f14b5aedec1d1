#!/usr/bin/python
# Copyright: CloudPyPI contributors
# Apache-2.0
"""Request a DNS-validated ACM certificate and report its validation records."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: acm_certificate_request
short_description: Request a DNS-validated ACM certificate, report its validation records, wait for it
version_added: 0.1.0
description:
  - Finds a usable (issued or pending) ACM certificate for I(domain_name), or requests one with DNS validation.
  - Returns the CNAME records that validate it, for M(amazon.aws.route53) to publish.
  - With I(wait=true), waits until ACM has issued the certificate.
  - community.aws.acm_certificate only imports certificates; it cannot request them.
  - For CloudFront, run it with C(region=us-east-1).
options:
  domain_name:
    description: The certificate's domain name.
    type: str
    required: true
  subject_alternative_names:
    description: Further names on the certificate.
    type: list
    elements: str
    default: []
  tags:
    description: Tags set on a newly requested certificate.
    type: dict
    default: {}
  wait:
    description: Wait until the certificate is issued.
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait.
    type: int
    default: 1800
  state:
    description: C(absent) deletes every certificate for I(domain_name) (fails while one is in use).
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - CloudPyPI contributors
"""

EXAMPLES = r"""
- name: Request the mirror's certificate
  cloudpypi.aws.acm_certificate_request:
    domain_name: pypi.example.com
    region: us-east-1
  register: cert
"""

RETURN = r"""
arn:
  description: Certificate ARN (null in check mode before the request).
  returned: when state is present
  type: str
status:
  description: ACM status, e.g. PENDING_VALIDATION or ISSUED.
  returned: when state is present
  type: str
deleted:
  description: ARNs of the certificates deleted (state absent).
  returned: when state is absent
  type: list
  elements: str
validation_records:
  description: DNS records proving control of the domain (name, type, value); for C(absent), those of the
    deleted certificates, so that they can be removed from DNS.
  returned: always
  type: list
  elements: dict
"""

import hashlib
import time

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

_USABLE = ("ISSUED", "PENDING_VALIDATION")


def find_certificates(client, domain_name, statuses):
    arns = []
    token = None
    while True:
        kwargs = {"CertificateStatuses": list(statuses)}
        if token:
            kwargs["NextToken"] = token
        page = client.list_certificates(**kwargs)
        arns.extend(
            c["CertificateArn"] for c in page.get("CertificateSummaryList", []) if c.get("DomainName") == domain_name
        )
        token = page.get("NextToken")
        if not token:
            return arns


def validation_records(client, arn, deadline):
    """The DNS validation records; ACM fills them in a few seconds after the request."""
    while True:
        certificate = client.describe_certificate(CertificateArn=arn)["Certificate"]
        options = certificate.get("DomainValidationOptions", [])
        records = [o["ResourceRecord"] for o in options if o.get("ResourceRecord")]
        if certificate["Status"] == "ISSUED" or (options and len(records) == len(options)) or time.time() > deadline:
            unique = {(r["Name"], r["Type"], r["Value"]) for r in records}
            return certificate, [{"name": n, "type": t, "value": v} for n, t, v in sorted(unique)]
        time.sleep(2)


def main():
    argument_spec = dict(
        domain_name=dict(type="str", required=True),
        subject_alternative_names=dict(type="list", elements="str", default=[]),
        tags=dict(type="dict", default={}),
        wait=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=1800),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    client = module.client("acm")
    try:
        if params["state"] == "absent":
            arns = find_certificates(client, params["domain_name"], (*_USABLE, "INACTIVE", "EXPIRED", "FAILED"))
            records = []
            for arn in arns:
                records.extend(validation_records(client, arn, time.time())[1])
                if not module.check_mode:
                    client.delete_certificate(CertificateArn=arn)
            module.exit_json(changed=bool(arns), deleted=arns, validation_records=records)

        changed = False
        arns = find_certificates(client, params["domain_name"], _USABLE)
        if not arns:
            changed = True
            if module.check_mode:
                module.exit_json(changed=True, arn=None, status=None, validation_records=[])
            token = hashlib.sha256(params["domain_name"].encode()).hexdigest()[:32]
            kwargs = dict(DomainName=params["domain_name"], ValidationMethod="DNS", IdempotencyToken=token)
            if params["subject_alternative_names"]:
                kwargs["SubjectAlternativeNames"] = params["subject_alternative_names"]
            if params["tags"]:
                kwargs["Tags"] = [{"Key": k, "Value": v} for k, v in params["tags"].items()]
            arns = [client.request_certificate(**kwargs)["CertificateArn"]]
        deadline = time.time() + min(60, params["wait_timeout"])
        certificate, records = validation_records(client, arns[0], deadline)
        if params["wait"] and certificate["Status"] != "ISSUED" and not module.check_mode:
            client.get_waiter("certificate_validated").wait(
                CertificateArn=arns[0],
                WaiterConfig={"Delay": 15, "MaxAttempts": max(1, params["wait_timeout"] // 15)},
            )
            certificate = client.describe_certificate(CertificateArn=arns[0])["Certificate"]
    except (
        botocore.exceptions.ClientError,
        botocore.exceptions.BotoCoreError,
        botocore.exceptions.WaiterError,
    ) as error:
        module.fail_json_aws(error, msg=f"Could not obtain a certificate for {params['domain_name']}")
    module.exit_json(changed=changed, arn=arns[0], status=certificate["Status"], validation_records=records)


if __name__ == "__main__":
    main()
