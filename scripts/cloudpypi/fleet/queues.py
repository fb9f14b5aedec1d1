"""The queues of a sync fleet, by name: created idempotently, found again by name, measured.

A fleet named ``NAME`` has three queues:

- ``cloudpypi-NAME-work.fifo``: one message per project to sync.  FIFO, with the normalised project
  name as MessageGroupId, so no two workers ever hold the same project at once.
- ``cloudpypi-NAME-dead.fifo``: where a work message lands after ``max_receives`` deliveries that no
  worker completed (a worker killed on it each time, or a project that crashes its worker).
- ``cloudpypi-NAME-results``: one message per finished project, read by the coordinator.  A standard
  queue: order does not matter there and duplicates are discarded by the coordinator.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from cloudpypi.errors import ConfigError

FLEET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}\Z")
DEFAULT_VISIBILITY_TIMEOUT = 900  # a project's files may take minutes; workers extend it while they work
DEFAULT_MAX_RECEIVES = 5
RETENTION_SECONDS = 14 * 24 * 3600  # the longest SQS allows: a first sync of PyPI takes days
LONG_POLL_SECONDS = 20


def checked_fleet_name(name: str) -> str:
    """A fleet name fits in the queue names SQS accepts (80 characters, [A-Za-z0-9_-])."""
    if not FLEET_NAME.match(name or ""):
        raise ConfigError(f"fleet name {name!r}: use 1 to 40 letters, digits, '-' or '_', starting with a "
                          "letter or digit")
    return name


@dataclass(frozen=True)
class QueueNames:
    work: str
    dead: str
    results: str

    @classmethod
    def for_fleet(cls, fleet: str) -> QueueNames:
        fleet = checked_fleet_name(fleet)
        return cls(work=f"cloudpypi-{fleet}-work.fifo", dead=f"cloudpypi-{fleet}-dead.fifo",
                   results=f"cloudpypi-{fleet}-results")


@dataclass(frozen=True)
class FleetQueues:
    """The URLs of one fleet's queues, and the SQS client that reaches them."""

    fleet: str
    work: str
    dead: str
    results: str
    client: Any

    @classmethod
    def init(cls, fleet: str, *, client: Any = None, visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT,
             max_receives: int = DEFAULT_MAX_RECEIVES) -> FleetQueues:
        """Create the queues, or bring existing ones to these settings.  Safe to run again."""
        if not 30 <= visibility_timeout <= 12 * 3600:
            raise ConfigError(f"visibility timeout {visibility_timeout}: choose 30 to 43200 seconds")
        if not 1 <= max_receives <= 1000:
            raise ConfigError(f"max receives {max_receives}: choose 1 to 1000")
        client = client or sqs_client()
        names = QueueNames.for_fleet(fleet)
        retention = str(RETENTION_SECONDS)
        dead = _ensure(client, names.dead, {"FifoQueue": "true", "MessageRetentionPeriod": retention})
        dead_arn = client.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        work = _ensure(client, names.work, {
            "FifoQueue": "true",
            "MessageRetentionPeriod": retention,
            "VisibilityTimeout": str(visibility_timeout),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": str(max_receives)}),
        })
        results = _ensure(client, names.results, {"MessageRetentionPeriod": retention,
                                                  "ReceiveMessageWaitTimeSeconds": str(LONG_POLL_SECONDS)})
        return cls(fleet=fleet, work=work, dead=dead, results=results, client=client)

    @classmethod
    def find(cls, fleet: str, *, client: Any = None) -> FleetQueues:
        """The queues of a fleet that `cloudpypi fleet init` created; a clear error when they are missing."""
        client = client or sqs_client()
        names = QueueNames.for_fleet(fleet)
        urls = {}
        for role, name in (("work", names.work), ("dead", names.dead), ("results", names.results)):
            try:
                urls[role] = client.get_queue_url(QueueName=name)["QueueUrl"]
            except client.exceptions.QueueDoesNotExist:
                raise ConfigError(f"fleet {fleet!r}: queue {name} does not exist; run "
                                  f"`cloudpypi fleet init --fleet {fleet}` (or `fab deploy` with the fleet on)"
                                  ) from None
        return cls(fleet=fleet, client=client, **urls)

    def visibility_timeout(self) -> int:
        attributes = self.client.get_queue_attributes(QueueUrl=self.work, AttributeNames=["VisibilityTimeout"])
        return int(attributes["Attributes"]["VisibilityTimeout"])

    def depths(self) -> dict[str, dict[str, int]]:
        """Messages waiting and in flight (received, not yet deleted) on each queue."""
        wanted = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        out = {}
        for role in ("work", "dead", "results"):
            attributes = self.client.get_queue_attributes(QueueUrl=getattr(self, role),
                                                          AttributeNames=wanted)["Attributes"]
            out[role] = {"waiting": int(attributes.get(wanted[0], 0)), "in_flight": int(attributes.get(wanted[1], 0))}
        return out


def _ensure(client: Any, name: str, attributes: dict[str, str]) -> str:
    """Create the queue, or update the settings of the one that exists (CreateQueue refuses other values)."""
    try:
        return client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    except client.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("QueueAlreadyExists", "QueueNameExists"):
            raise
    url = client.get_queue_url(QueueName=name)["QueueUrl"]
    mutable = {key: value for key, value in attributes.items() if key != "FifoQueue"}
    client.set_queue_attributes(QueueUrl=url, Attributes=mutable)
    return url


def sqs_client() -> Any:
    """An SQS client from the usual AWS settings (region, credentials, AWS_ENDPOINT_URL)."""
    import boto3
    from botocore.config import Config as BotoConfig

    return boto3.session.Session().client("sqs", config=BotoConfig(retries={"mode": "standard", "max_attempts": 8}))
