"""A periodic re-sync of agents into the graph: a safety net behind the write-through."""

from __future__ import annotations

from celery import shared_task

from leadgen.agents.graph_sync import sync_all
from leadgen.core.metrics import TASKS
from leadgen.core.runtime import task_runtime


@shared_task(name="agents.sync_graph")
def sync_graph() -> int:
    runtime = task_runtime()
    graph = runtime.resources.graph
    if graph is None:
        return 0
    synced = runtime.in_transaction(lambda session: sync_all(session, graph))
    TASKS.labels("agents.sync_graph", "ok").inc()
    return synced
