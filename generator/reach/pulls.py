"""The image pulls of a deployed platform, as ``diagnose`` and the acceptance run show them.

The monitoring stack records every task start's pull in the platform's metric namespace
(generator/stacks/_image_pulls.py: ``ImagePullSucceeded``, ``ImagePullSeconds``; monitoring.py:
``ImagePullFailures``). ``pull_figures`` reads them back with CloudWatch
``GetMetricStatistics``, platform-wide (the dimensionless series), over a window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

PULL_WINDOW = timedelta(hours=1)
PULL_ALARMS = ("PullFailureAlarm", "PullSlowAlarm")  # logical ids in the monitoring stack


@dataclass
class PullFigures:
    """The image pulls of one window, from the platform's metric namespace."""

    namespace: str
    pulls: int
    failures: int
    max_seconds: float | None
    avg_seconds: float | None
    threshold: float | None = None  # PullSlowAlarm's, when the stack has it

    def line(self) -> str:
        took = (
            f"max {self.max_seconds:.1f} s, avg {self.avg_seconds:.1f} s"
            if self.max_seconds is not None and self.avg_seconds is not None
            else "no duration recorded"
        )
        limit = f" (alarm above {self.threshold:g} s)" if self.threshold is not None else ""
        return f"{self.pulls} pull(s), {self.failures} failure(s), {took}{limit}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "window_seconds": int(PULL_WINDOW.total_seconds()),
            "pulls": self.pulls,
            "failures": self.failures,
            "max_seconds": self.max_seconds,
            "avg_seconds": self.avg_seconds,
            "threshold_seconds": self.threshold,
        }


def pull_figures(
    cw: Any, namespace: str, end: datetime, window: timedelta = PULL_WINDOW, threshold: float | None = None
) -> PullFigures:
    """Platform-wide (dimensionless) ImagePullSucceeded, ImagePullFailures and ImagePullSeconds
    over ``window`` before ``end``, whatever the number of datapoints CloudWatch returns."""

    def points(metric: str, stats: list[str]) -> list[dict[str, Any]]:
        return cw.get_metric_statistics(
            Namespace=namespace, MetricName=metric, StartTime=end - window, EndTime=end, Period=60, Statistics=stats
        ).get("Datapoints", [])

    pulls = sum(p.get("Sum", 0.0) for p in points("ImagePullSucceeded", ["Sum"]))
    failures = sum(p.get("Sum", 0.0) for p in points("ImagePullFailures", ["Sum"]))
    took = points("ImagePullSeconds", ["Sum", "SampleCount", "Maximum"])
    count = sum(p.get("SampleCount", 0.0) for p in took)
    return PullFigures(
        namespace,
        int(round(pulls)),
        int(round(failures)),
        max(p["Maximum"] for p in took) if count else None,
        sum(p.get("Sum", 0.0) for p in took) / count if count else None,
        threshold,
    )
