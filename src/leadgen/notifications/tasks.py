"""Notification jobs, retried with backoff."""

from __future__ import annotations

import logging
import smtplib
import uuid

from celery import Task, shared_task
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.metrics import TASKS
from leadgen.core.runtime import task_runtime
from leadgen.models import Agent, Notification
from leadgen.models.base import utcnow
from leadgen.notifications import templates
from leadgen.notifications.email import send_email
from leadgen.outbox import repository as outbox
from leadgen.routing import repository as routing

log = logging.getLogger(__name__)
TOPIC = "assignment.offered"


@shared_task(
    name="notifications.offer_to_agent",
    bind=True,
    autoretry_for=(OSError, smtplib.SMTPException),
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=5,
)
def offer_to_agent(self: Task, assignment_id: str) -> str:
    runtime = task_runtime()

    async def load(session: AsyncSession) -> tuple[str, str, str] | None:
        found = await routing.assignment_with_lead(session, uuid.UUID(assignment_id), lock=False)
        if found is None:
            return None
        assignment, lead = found
        agent = await session.get(Agent, assignment.agent_id)
        assert agent is not None
        subject, body = templates.offer(
            agent.name, lead.line, lead.state, lead.score, assignment.expires_at,
            f"{runtime.settings.services.api_url}".rstrip("/") + "/inbox",
        )
        return agent.email, subject, body

    message = runtime.in_transaction(load)
    if message is None:
        return "gone"
    to, subject, body = message
    send_email(runtime.settings.smtp, to, subject, body)

    async def record(session: AsyncSession) -> None:
        found = await routing.assignment_with_lead(session, uuid.UUID(assignment_id), lock=False)
        assert found is not None
        session.add(
            Notification(
                channel="email", recipient_kind="agent", agent_id=found[0].agent_id, lead_id=found[1].id,
                template="offer", status="sent", sent_at=utcnow(),
            )
        )
        await outbox.mark_processed(session, TOPIC, assignment_id)

    runtime.in_transaction(record)
    TASKS.labels("notifications.offer_to_agent", "sent").inc()
    return "sent"
