"""Audit log, transactional outbox, do-not-contact list, sent notifications and sweep cursors."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from leadgen.models.base import Base, IdMixin, TimestampMixin, utcnow


class AuditEntry(IdMixin, TimestampMixin, Base):
    __tablename__ = "audit_log"
    # The log is read newest first, a page at a time after (created_at, id), whole or by one of
    # these filters: each index returns a page in that order, however many lead views are logged.
    __table_args__ = (
        Index("ix_audit_log_created_at_id", "created_at", "id"),
        Index("ix_audit_log_action_created_at_id", "action", "created_at", "id"),
        Index("ix_audit_log_actor_created_at_id", "actor", "created_at", "id"),
        Index("ix_audit_log_subject_type_subject_id_created_at_id", "subject_type", "subject_id", "created_at", "id"),
    )

    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class OutboxEvent(IdMixin, TimestampMixin, Base):
    """Work written in the same transaction as the change that caused it.

    ``processed_at`` is set by the consumer once the work is done; until then the relay hands the
    event to the queue again whenever its lease (``dispatched_at``) is older than the lease time.
    Nothing reads a processed event: ``outbox.prune`` deletes it some days later.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_processed_at_dispatched_at", "processed_at", "dispatched_at"),
        Index("ix_outbox_topic_key", "topic", "key"),
    )

    topic: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    dispatched_at: Mapped[datetime | None] = mapped_column()
    dispatch_count: Mapped[int] = mapped_column(Integer, default=0)
    processed_at: Mapped[datetime | None] = mapped_column()
    # A delivery that sends messages holds the event until then, so that a second delivery of it
    # (the queue's or the relay's) cannot send the same messages before the first records them.
    claimed_until: Mapped[datetime | None] = mapped_column()
    # Deliveries that failed in a way worth a retry: after enough, the message is recorded failed.
    failed_tries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Deliveries that claimed the event, counted as they claim it: those that neither finished it
    # nor counted a failed try died in it (an OOM kill, a segfault), and count as tries too.
    claims: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The class of the last failed try's error, or ``WORKER_LOST`` when its delivery died in it.
    last_error: Mapped[str | None] = mapped_column(String(64))


class DoNotContact(IdMixin, TimestampMixin, Base):
    """A keyed hash of a phone number or e-mail address that must never be contacted."""

    __tablename__ = "do_not_contact"

    value_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(255))


class Notification(IdMixin, TimestampMixin, Base):
    __tablename__ = "notifications"
    # Staff page through the messages newest first, after (created_at, id), all or by agent or
    # status (a lead has few: its own index serves it).
    __table_args__ = (
        Index("ix_notifications_created_at_id", "created_at", "id"),
        Index("ix_notifications_agent_id_created_at_id", "agent_id", "created_at", "id"),
        Index("ix_notifications_status_created_at_id", "status", "created_at", "id"),
    )

    channel: Mapped[str] = mapped_column(String(8))
    recipient_kind: Mapped[str] = mapped_column(String(8))
    agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agents.id"))
    # The admin an alert went to, and the outbox event it was for: a retried alert skips those it reached.
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    event_key: Mapped[str | None] = mapped_column(String(64))
    # Indexed: each routing round reads what the lead was already sent, and privacy exports read it.
    lead_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("leads.id"), index=True)
    template: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(String(255))
    not_before: Mapped[datetime | None] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
    # How often a message held for the person's contact window met a fault worth a retry.
    failed_sends: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class SweepCursor(Base):
    """Where a job that walks the leads oldest first, a stretch a run, stopped: the last lead it
    looked at, by (received_at, id). Its next run goes on after it; no row, from the oldest."""

    __tablename__ = "sweep_cursors"

    job: Mapped[str] = mapped_column(String(64), primary_key=True)  # the task's name
    received_at: Mapped[datetime] = mapped_column()
    # Not a foreign key: a place in the order, which holds whether or not the lead still does.
    lead_id: Mapped[uuid.UUID] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)  # when the job last moved on: is it running?
