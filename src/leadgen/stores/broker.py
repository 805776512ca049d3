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
        # The in-process transport polls; 50 ms keeps the embedded pipeline snappy.
        return "memory://", {"polling_interval": 0.05}
    return redis.url.get_secret_value(), dict(REDIS_TRANSPORT_OPTIONS)


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
        beat_schedule={
            "outbox-relay": {"task": "outbox.relay", "schedule": 5.0},
            "expire-offers": {"task": "routing.expire_offers", "schedule": 15.0},
            "send-due-lead-messages": {"task": "notifications.send_due", "schedule": 60.0},
            "sync-agents-into-graph": {"task": "agents.sync_graph", "schedule": 300.0},
            # Duplicates whose original was screened out, left, returned or lost its agent.
            "release-duplicates": {"task": "pipeline.release_duplicates", "schedule": 60.0},
            # People inactive past LEADGEN_PRIVACY_RETENTION_DAYS, a batch an hour; nothing while it is 0.
            "purge-inactive-people": {"task": "privacy.purge", "schedule": 3600.0},
            # What anonymised leads' consent records kept until five years old; whatever the setting.
            "clear-expired-consent-evidence": {"task": "privacy.consent_evidence", "schedule": 3600.0},
        },
    )
    return app
