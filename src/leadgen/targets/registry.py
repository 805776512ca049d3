"""The service targets: what each one serves and which resources it needs.

One image, one CLI; ``leadgen serve --target api`` runs one pod's worth, ``leadgen up`` runs
``all``. The Kubernetes manifests, the image tests and the code read this table (a test checks
that they agree).
"""

from __future__ import annotations

from dataclasses import dataclass

# Resources a target can need; only these are built, and only their settings are validated.
DB = "db"
REDIS = "redis"
BROKER = "broker"
VECTORS = "vectors"
GRAPH = "graph"
SMTP = "smtp"
API_PEER = "api-peer"


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    http_port: int | None
    needs: frozenset[str]
    app_factory: str | None = None


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            "api",
            "Public REST API: users, API keys, lead intake, lead status, assignments.",
            3000,
            frozenset({DB, REDIS, BROKER}),
            "leadgen.targets.api:create_app",
        ),
        Target(
            "data-service",
            "Data access for the other services: agents, licences, assignments, audit, reports.",
            3001,
            frozenset({DB, REDIS, GRAPH}),
            "leadgen.targets.data_service:create_app",
        ),
        Target(
            "orchestrator",
            "Lead pipeline: validate, dedupe, consent, score, embed, match, route.",
            3002,
            frozenset({DB, REDIS, BROKER, VECTORS, GRAPH}),
            "leadgen.targets.orchestrator:create_app",
        ),
        Target(
            "backend",
            "Notifications, reports and admin jobs; enqueues background work.",
            8000,
            # It lists messages and enqueues jobs; the worker sends them.
            frozenset({DB, REDIS, BROKER}),
            "leadgen.targets.backend:create_app",
        ),
        Target(
            "frontend",
            "Server-rendered dashboard and public quote form.",
            8080,
            frozenset({API_PEER}),
            "leadgen.targets.frontend:create_app",
        ),
        Target(
            "worker",
            "Celery worker: pipeline stages, notifications, SLA re-routing, outbox relay.",
            None,
            frozenset({DB, REDIS, BROKER, VECTORS, GRAPH, SMTP}),
        ),
        Target(
            "scheduler",
            "Celery beat: the one process that sends periodic jobs.",
            None,
            frozenset({BROKER}),
        ),
    )
}

HTTP_TARGETS = tuple(name for name, t in TARGETS.items() if t.http_port is not None)
ALL = "all"


def resolve(spec: str) -> list[Target]:
    """Targets named by a comma-separated spec; ``all`` means every target."""
    names = [part.strip() for part in spec.split(",") if part.strip()]
    if ALL in names:
        return list(TARGETS.values())
    unknown = [n for n in names if n not in TARGETS]
    if unknown or not names:
        raise ValueError(
            f"unknown target(s) {', '.join(unknown) or '(none)'}; choose from {', '.join([*TARGETS, ALL])}"
        )
    return [TARGETS[n] for n in dict.fromkeys(names)]


def needs_of(targets: list[Target]) -> frozenset[str]:
    return frozenset().union(*(t.needs for t in targets))
