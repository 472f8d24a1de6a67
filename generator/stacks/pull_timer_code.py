"""Pull timer: ECS Task State Change (RUNNING) -> ImagePullSeconds, ImagePullSucceeded.

Inline Lambda code of the monitoring stack (ZipFile, at most 4096 characters: keep short).
Event fields, per the ECS task state change event docs: pullStartedAt and pullStoppedAt
are ISO timestamps; group is service:NAME or family:NAME.
"""

import os
from datetime import UTC, datetime

NAMESPACE = "METRIC_NAMESPACE"


def stamp(text):
    """An event timestamp ('2026-12-01T10:00:00.123Z') as an aware datetime."""
    head, _, frac = text.rstrip("Z").partition(".")
    when = datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    digits = "".join(c for c in frac if c.isdigit())[:6]
    return when.replace(microsecond=int(digits.ljust(6, "0")) if digits else 0)


def task_dimension(detail):
    """ServiceName for a service's task, else TaskFamily."""
    kind, _, name = (detail.get("group") or "").partition(":")
    if kind == "service" and name:
        return {"Name": "ServiceName", "Value": name}
    if kind != "family" or not name:
        name = (detail.get("taskDefinitionArn") or "").rsplit("/", 1)[-1].split(":")[0]
    return {"Name": "TaskFamily", "Value": name or "unknown"}


def metric_data(event):
    """The datapoints of one event: each metric per task and for the platform."""
    detail = event.get("detail") or {}
    start, stop = detail.get("pullStartedAt"), detail.get("pullStoppedAt")
    if detail.get("lastStatus") != "RUNNING" or not start or not stop:
        return []
    when = stamp(stop)
    took = max(0.0, (when - stamp(start)).total_seconds())
    data = []
    for dims in ([], [task_dimension(detail)]):
        data.append(
            {"MetricName": "ImagePullSeconds", "Dimensions": dims, "Timestamp": when, "Value": took, "Unit": "Seconds"}
        )
        data.append(
            {"MetricName": "ImagePullSucceeded", "Dimensions": dims, "Timestamp": when, "Value": 1.0, "Unit": "Count"}
        )
    return data


def handler(event, context, client=None):
    data = metric_data(event)
    if data:
        if client is None:
            import boto3

            client = boto3.client("cloudwatch")
        client.put_metric_data(Namespace=os.environ[NAMESPACE], MetricData=data)
    print(f"pull timer: {len(data)} datapoints for {(event.get('detail') or {}).get('taskArn', '?')}")
    return {"datapoints": len(data)}
