"""The Celery app: Redis (or Sentinel) in production, kombu's in-process transport embedded."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from celery import Celery

from leadgen.core.settings import Settings

log = logging.getLogger(__name__)

# Every module that defines tasks, registered in one place (Celery's ``include``).
TASK_MODULES = [
    "leadgen.pipeline.tasks",
    "leadgen.outbox.tasks",
    "leadgen.routing.tasks",
    "leadgen.notifications.tasks",
    "leadgen.agents.tasks",
    "leadgen.privacy.tasks",
    "leadgen.compliance.tasks",
]
PIPELINE_QUEUE = "pipeline"
DEFAULT_QUEUE = "default"
# kombu waits on a Redis socket forever by default: a broker gone without closing the connection
# (a failover, a lost node) would hold a publish, and with it the api's one publishing thread,
# until the kernel gives up. Bounded waits hand such a message to the outbox relay instead. The
# health check also finds a consumer's BRPOP connection half-open within about 21 s (kombu: the
# BRPOP timeout, 1 s, plus twice the interval) rather than 51 s. No retry_on_timeout: a command
# whose reply timed out may have run, so a publish retried would be queued twice. (They do not
# keep kombu from ending a worker when a dropped connection fails its close half-way: measured the
# same with and without; the process exits and is restarted.)
REDIS_TRANSPORT_OPTIONS: dict[str, Any] = {
    "socket_timeout": 5.0,
    "socket_connect_timeout": 5.0,
    "health_check_interval": 10,
}


def broker_url(settings: Settings) -> tuple[str, dict[str, Any]]:
    """The kombu URL and transport options for the configured Redis."""
    redis = settings.redis
    if redis.sentinels:
        password = redis.password.get_secret_value() if redis.password else None
        url = ";".join(f"sentinel://{host}:{port}/0" for host, port in redis.sentinel_hosts())
        options: dict[str, Any] = {**REDIS_TRANSPORT_OPTIONS, "master_name": redis.sentinel_master}
        if password:
            options["sentinel_kwargs"] = {"password": password}
            # Escaped: kombu reads the URL's parts, and a "/", "#" or "@" in a password would end it.
            escaped = quote(password, safe="")
            url = ";".join(f"sentinel://:{escaped}@{host}:{port}/0" for host, port in redis.sentinel_hosts())
        return url, options
    if redis.url is None:
        # The in-process transport polls; 50 ms keeps the embedded pipeline snappy. Its host is named:
        # kombu warns of a URL without one at every connection, once per lead posted.
        return "memory://localhost/", {"polling_interval": 0.05}
    return redis.url.get_secret_value(), dict(REDIS_TRANSPORT_OPTIONS)


# A periodic run that waited in the queue this long is dropped unrun (Celery's ``expires``): while
# workers are down, beat goes on sending, and every run would otherwise be waiting for them when
# they are back, ahead of the offers in ``default`` (some 1,000 an hour, each doing what the last of
# them does). The worker acknowledges a run it drops (``acks_late`` makes no difference), and a
# retry of a run keeps its expiry: a countdown past it drops the retry, which the next run
# replaces. No shorter than a minute: the runs share ``default`` with the notifications, and a run
# dropped whenever a burst queued more than its interval of work ahead of it would, through a long
# enough burst, never run at all (the relay every 5 s, the SLA sweep every 15 s).
SHORTEST_EXPIRY_SECONDS = 60.0


def periodic(task: str, every_seconds: float) -> dict[str, Any]:
    """A beat entry sending ``task`` every ``every_seconds``; a run not started by the time the
    next is due, or a minute for the frequent ones, is dropped: a later run does its work."""
    return {
        "task": task,
        "schedule": every_seconds,
        "options": {"expires": max(every_seconds, SHORTEST_EXPIRY_SECONDS)},
    }


def create_celery(settings: Settings) -> Celery:
    url, transport_options = broker_url(settings)
    app = Celery("leadgen", broker=url, include=TASK_MODULES)
    app.conf.update(
        broker_transport_options={**transport_options, "visibility_timeout": 3600},
        broker_connection_retry_on_startup=True,
        # A broker outage is waited out, however long (readiness reports it meanwhile): Celery's
        # default gives up after 100 tries and stops consuming while the process lives on.
        broker_connection_max_retries=None,
        task_default_queue=DEFAULT_QUEUE,
        task_routes={"pipeline.*": {"queue": PIPELINE_QUEUE}},
        # A task is acknowledged after it ran, so a killed worker's task is delivered again;
        # every task is idempotent, and the outbox relay re-sends anything still unfinished.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        worker_prefetch_multiplier=4,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        enable_utc=True,
        # Beat sleeps until its next task, up to this; stopping waits out that sleep (the relay's 5 s).
        beat_max_loop_interval=1.0,
        beat_schedule={
            "outbox-relay": periodic("outbox.relay", 5.0),
            "expire-offers": periodic("routing.expire_offers", 15.0),
            "send-due-lead-messages": periodic("notifications.send_due", 60.0),
            "sync-agents-into-graph": periodic("agents.sync_graph", 300.0),
            # Duplicates whose original was screened out, left, returned or lost its agent.
            "release-duplicates": periodic("pipeline.release_duplicates", 60.0),
            # People inactive past LEADGEN_PRIVACY_RETENTION_DAYS, a batch an hour; nothing while it is 0.
            "purge-inactive-people": periodic("privacy.purge", 3600.0),
            # What anonymised leads' consent records kept until five years old; whatever the setting.
            "clear-expired-consent-evidence": periodic("privacy.consent_evidence", 3600.0),
            # Processed outbox events past LEADGEN_WORKER_OUTBOX_KEEP_PROCESSED_DAYS.
            "prune-outbox": periodic("outbox.prune", 600.0),
        },
    )
    return app
