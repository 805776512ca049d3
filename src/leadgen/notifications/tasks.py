"""Notification jobs: render, check the rules again at send time, send, record; retried with backoff."""

from __future__ import annotations

import logging
import smtplib
import uuid
from collections.abc import Callable

from celery import shared_task
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.core.metrics import TASKS
from leadgen.core.runtime import TaskRuntime, task_runtime
from leadgen.core.settings import Settings
from leadgen.models import Lead, Notification
from leadgen.models.base import utcnow
from leadgen.notifications import service
from leadgen.notifications.email import send_email
from leadgen.notifications.service import Outbound
from leadgen.notifications.sms import SmsError, send_sms
from leadgen.outbox import repository as outbox
from leadgen.outbox.repository import ROUND_TOPIC

log = logging.getLogger(__name__)
RETRY = {
    "autoretry_for": (OSError, smtplib.SMTPException, SmsError),
    "retry_backoff": 5,
    "retry_backoff_max": 300,
    "max_retries": 6,
    "dont_autoretry_for": (),
}


def deliver(settings: Settings, message: Outbound) -> None:
    if message.channel == "email":
        send_email(settings.smtp, message.to, message.subject or "", message.body)
    else:
        try:
            send_sms(settings.sms, message.to, message.body)
        except SmsError as exc:
            if exc.retryable:
                raise
            log.warning("SMS refused by the provider, not retried: %s", exc)
            raise _Refused(str(exc)) from exc


class _Refused(Exception):
    pass


def _send_all(runtime: TaskRuntime, messages: list[Outbound], topic: str, key: str) -> int:
    """Send, then record every outcome and finish the outbox event in one transaction.

    When a send fails and the task is retried, what was sent before it is recorded all the same,
    so that a retried round sends only what is left (``service.round_messages``)."""
    outcomes: list[tuple[Outbound, str, str | None]] = []
    finished = False
    try:
        for message in messages:
            try:
                deliver(runtime.settings, message)
                outcomes.append((message, "sent", None))
            except _Refused as exc:
                outcomes.append((message, "failed", str(exc)[:255]))
        finished = True
    finally:
        now = utcnow()

        async def record(session: AsyncSession) -> None:
            for message, status, detail in outcomes:
                service.record(session, message, status, detail, sent_at=now if status == "sent" else None)
            if finished:
                await outbox.mark_processed(session, topic, key)

        if outcomes or finished:
            runtime.in_transaction(record)
    return sum(1 for _, status, _ in outcomes if status == "sent")


def _task(name: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    def wrap(fn: Callable[..., int]) -> Callable[..., int]:
        def run(*args: str) -> int:
            sent = fn(task_runtime(), *args)
            TASKS.labels(name, "ok").inc()
            return sent

        run.__name__ = fn.__name__
        run.__doc__ = fn.__doc__
        return shared_task(name=name, **RETRY)(run)  # type: ignore[no-any-return]

    return wrap


@_task("notifications.notify_round")
def notify_round(runtime: TaskRuntime, key: str) -> int:
    """One routing round (``key`` is ``<lead id>:<attempt>``): each new offer to its agent (no lead
    contact data in it) and, after the first round, the person's acknowledgement. That goes only
    if they are not on the do-not-contact list and inside their contact window; outside the window
    it waits (durably) until the window opens."""
    lead_id, attempt = key.rsplit(":", 1)
    now = utcnow()

    async def decide(session: AsyncSession) -> list[Outbound]:
        found = await service.round_messages(session, runtime.settings, uuid.UUID(lead_id), int(attempt), now)
        status = "scheduled" if found.not_before else "blocked"
        for message in found.held:
            service.record(session, message, status, found.reason, not_before=found.not_before)
        if not found.send:
            await outbox.mark_processed(session, ROUND_TOPIC, key)
        return found.send

    messages = runtime.in_transaction(decide)
    return _send_all(runtime, messages, ROUND_TOPIC, key) if messages else 0


@_task("notifications.alert_unassigned")
def alert_unassigned(runtime: TaskRuntime, lead_id: str) -> int:
    """E-mail every admin that a lead found no eligible agent."""

    async def load(session: AsyncSession) -> list[Outbound]:
        lead = await session.get(Lead, uuid.UUID(lead_id))
        return await service.unassigned_alerts(session, uuid.UUID(lead_id), lead.status_reason or "") if lead else []

    return _send_all(runtime, runtime.in_transaction(load), "lead.unassigned", lead_id)


@_task("notifications.send_due")
def send_due(runtime: TaskRuntime) -> int:
    """Send lead messages whose contact window has opened, re-checking every rule first."""
    now = utcnow()

    async def due(session: AsyncSession) -> list[tuple[uuid.UUID, list[Outbound]]]:
        ready = []
        for held in await service.due_for_lead(session, now, 100):
            lead = await session.get(Lead, held.lead_id) if held.lead_id else None
            reason, not_before = await service.lead_block_reason(session, lead, now) if lead else ("gone", None)
            if reason is None and lead is not None:
                held.status = "sending"
                ready.append((held.id, await service.acknowledgement(session, runtime.settings, lead.id)))
            elif not_before is not None:
                held.detail, held.not_before = reason, not_before
            else:
                held.status, held.detail = "blocked", reason
        return ready

    sent = 0
    for held_id, messages in runtime.in_transaction(due):
        status = "sent"
        try:
            for message in messages:
                deliver(runtime.settings, message)
        except (_Refused, *RETRY["autoretry_for"]) as exc:  # type: ignore[misc]
            status = "scheduled"  # tried again at the next sweep
            log.warning("held lead message not sent yet: %s", type(exc).__name__)

        async def mark(session: AsyncSession, hid: uuid.UUID = held_id, st: str = status) -> None:
            held = await session.get(Notification, hid)
            if held is not None:
                held.status, held.sent_at = st, now if st == "sent" else None

        runtime.in_transaction(mark)
        sent += status == "sent"
    return sent
