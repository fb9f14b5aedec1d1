"""CloudWatch metrics: after each sync, and a heartbeat while a sync makes progress.

The stale-sync alarm (roles/monitoring) fires when, for two timer intervals in a row, no run succeeded
and no long run was making progress: a first sync that takes days keeps it quiet with its heartbeat, a
stuck run (no heartbeat, then stopped by the watchdog) or runs that keep failing set it off.

No dimensions: one namespace per mirror (the config names it), so the alarm needs no matching dimension.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cloudpypi.report import Report

log = logging.getLogger(__name__)

# Every metric the sync publishes (the cost model counts them: CloudWatch bills each custom metric).
RUN_METRICS = ("FailedFiles", "FailedProjects", "SerialLag", "LastSuccessTime")
HEARTBEAT_METRIC = "ProgressHeartbeat"  # value: seconds the run in progress has been running
METRIC_NAMES = (*RUN_METRICS, HEARTBEAT_METRIC)


def run_metrics(report: Report, now: float | None = None) -> list[dict[str, object]]:
    now = time.time() if now is None else now
    metrics: list[dict[str, object]] = [
        {"MetricName": "FailedFiles", "Value": float(report.files_failed), "Unit": "Count"},
        {"MetricName": "FailedProjects", "Value": float(report.projects_failed), "Unit": "Count"},
    ]
    if report.origin_serial is not None and report.serial_after is not None:
        metrics.append({"MetricName": "SerialLag", "Value": float(max(0, report.origin_serial - report.serial_after)),
                        "Unit": "Count"})
    if report.ok:
        metrics.append({"MetricName": "LastSuccessTime", "Value": float(int(now)), "Unit": "Seconds"})
    return metrics


def heartbeat_metrics(running_seconds: float) -> list[dict[str, object]]:
    return [{"MetricName": HEARTBEAT_METRIC, "Value": float(int(running_seconds)), "Unit": "Seconds"}]


def publish_run_metrics(namespace: str, report: Report) -> None:
    """Best effort: a monitoring outage must not turn a good sync into a failed one."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        boto3.client("cloudwatch").put_metric_data(Namespace=namespace, MetricData=run_metrics(report))
    except (BotoCoreError, ClientError) as exc:
        log.warning("could not publish CloudWatch metrics to %s: %s", namespace, exc)


class Heartbeat:
    """Publishes ProgressHeartbeat; called by the run monitor about once a minute while the run progresses."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self._client: Any = None

    def __call__(self, running_seconds: float) -> None:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            if self._client is None:
                self._client = boto3.client("cloudwatch")
            self._client.put_metric_data(Namespace=self.namespace, MetricData=heartbeat_metrics(running_seconds))
        except (BotoCoreError, ClientError) as exc:
            log.warning("could not publish the progress heartbeat to %s: %s", self.namespace, exc)
