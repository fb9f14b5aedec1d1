"""CloudWatch metrics after each sync: the alarm fires when no run has succeeded for too long.

No dimensions: one namespace per mirror (the config names it), so the alarm needs no matching dimension.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cloudpypi.report import Report

log = logging.getLogger(__name__)


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


def publish_run_metrics(namespace: str, report: Report) -> None:
    """Best effort: a monitoring outage must not turn a good sync into a failed one."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        boto3.client("cloudwatch").put_metric_data(Namespace=namespace, MetricData=run_metrics(report))
    except (BotoCoreError, ClientError) as exc:
        log.warning("could not publish CloudWatch metrics to %s: %s", namespace, exc)
