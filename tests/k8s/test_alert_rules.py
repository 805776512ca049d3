"""The alerts (PrometheusRule) ship where the scrape configuration does, ask only for metrics and
tasks the platform has, and each names a runbook section that exists."""

from __future__ import annotations

import re

import pytest
from celery import current_app
from prometheus_client import REGISTRY

import leadgen.core.metrics  # registers the platform's metrics
import leadgen.stores.ratelimit  # noqa: F401  (and the rate limits' own)
from leadgen.stores.broker import TASK_MODULES

from .render import DEPLOYABLE, REPO, Resource, of_kind, render

RUNBOOK = REPO / "docs" / "KUBERNETES_TROUBLESHOOTING.md"
MONITORED = [target for target in DEPLOYABLE if any(of_kind(render(target), "ServiceMonitor"))]
ALERTS = {
    "LeadgenOutboxEventsWaiting",
    "LeadgenOutboxRelayStopped",
    "LeadgenPipelineTaskErrors",
    "LeadgenLeadsEndedByPipelineFailure",
    "LeadgenWorkerDiedInTask",
    "LeadgenRateLimitStoreErrors",
    "LeadgenOffersTimingOut",
    "LeadgenNotificationsFailing",
    "LeadgenNotificationTaskErrors",
}
# The series each kind of metric exports, by the suffix on its name.
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}


def _rules(resources: list[Resource]) -> list[dict[str, object]]:
    return [
        rule
        for prometheus_rule in of_kind(resources, "PrometheusRule")
        for group in prometheus_rule["spec"]["groups"]
        for rule in group["rules"]
    ]


def _exported_series() -> set[str]:
    """Names of the series the platform's metrics export, whether or not any was counted yet."""
    return {
        metric.name + suffix
        for metric in REGISTRY.collect()
        if metric.name.startswith("leadgen_")
        for suffix in SUFFIXES[metric.type]
    }


def _task_names() -> set[str]:
    for module in TASK_MODULES:
        __import__(module)
    return set(current_app.tasks)


def _headings() -> set[str]:
    """GitHub's anchors of the runbook's headings."""
    titles = re.findall(r"^#+ (.+)$", RUNBOOK.read_text(), flags=re.MULTILINE)
    return {re.sub(r"[^a-z0-9 -]", "", title.lower()).replace(" ", "-") for title in titles}


def test_every_environment_scraped_by_the_operator_has_the_alerts() -> None:
    assert {"overlays/staging", "overlays/prod"} <= set(MONITORED)
    for target in MONITORED:
        assert {rule.get("alert") for rule in _rules(render(target))} >= ALERTS, target


@pytest.mark.parametrize("target", MONITORED)
def test_alerts_ask_for_exported_metrics_and_existing_tasks_and_name_their_runbook(target: str) -> None:
    series, tasks, headings = _exported_series(), _task_names(), _headings()
    for rule in _rules(render(target)):
        expr = str(rule["expr"])
        metrics = set(re.findall(r"\bleadgen_[a-z_]+", expr))
        assert metrics and metrics <= series, (rule["alert"], metrics - series)
        for name in re.findall(r'task="([^"]+)"', expr):
            assert name in tasks, (rule["alert"], name)
        for pattern in re.findall(r'task=~"([^"]+)"', expr):
            assert any(re.fullmatch(pattern.replace("\\\\", "\\"), name) for name in tasks), (rule["alert"], pattern)
        annotations = rule["annotations"]
        assert isinstance(annotations, dict)
        page, _, anchor = str(annotations["runbook"]).partition("#")
        assert REPO / page == RUNBOOK and anchor in headings, (rule["alert"], annotations["runbook"])
