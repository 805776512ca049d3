"""Leads, their consent records and their event history."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from leadgen.leads.lifecycle import LeadStatus
from leadgen.models.base import Base, IdMixin, TimestampMixin, utcnow


class Lead(IdMixin, TimestampMixin, Base):
    __tablename__ = "leads"
    __table_args__ = (
        Index("ix_leads_phone_hash_received_at", "phone_hash", "received_at"),
        Index("ix_leads_email_hash_received_at", "email_hash", "received_at"),
        Index("ix_leads_status_received_at", "status", "received_at"),
        # The lead list (newest first) and the reports' periods.
        Index("ix_leads_received_at_id", "received_at", "id"),
        # The retention purge reads the leads not anonymised oldest first (``privacy.repository``),
        # without passing over every lead it anonymised before, which pile up at the oldest end.
        Index(
            "ix_leads_received_at_id_unanonymised",
            "received_at",
            "id",
            postgresql_where=text("anonymised_at IS NULL"),
            sqlite_where=text("anonymised_at IS NULL"),
        ),
        # A source's own id names one lead: a vendor's retry finds the lead stored the first time,
        # and of two sent at once only one is stored (``leads.service.receive``).
        Index(
            "uq_leads_source_id_external_id",
            "source_id",
            "external_id",
            unique=True,
            postgresql_where=text("external_id IS NOT NULL"),
            sqlite_where=text("external_id IS NOT NULL"),
        ),
    )

    source_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sources.id"), index=True)
    # What the agency pays its source for the lead: the source's price when the lead was received
    # (``leads.service.receive``), so a later change of the price applies to later leads only.
    price_cents: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    external_id: Mapped[str | None] = mapped_column(String(128))
    campaign: Mapped[str | None] = mapped_column(String(128))
    sub_id: Mapped[str | None] = mapped_column(String(128))
    line: Mapped[str] = mapped_column(String(16))
    origin: Mapped[str] = mapped_column(String(16))
    exclusive: Mapped[bool] = mapped_column(Boolean, default=True)
    is_test: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[LeadStatus] = mapped_column(String(16), default=LeadStatus.RECEIVED)
    status_reason: Mapped[str | None] = mapped_column(String(255))
    duplicate_of_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("leads.id"))

    # Contact (PII: exported and anonymised by the privacy tools, never logged).
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(20))
    # Digits only (``normalize.PHONE_EXTENSION_MAX_DIGITS``); ``phone`` is the number alone, in E.164.
    phone_extension: Mapped[str | None] = mapped_column(String(10))
    street: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(2), index=True)
    zip_code: Mapped[str] = mapped_column(String(10))
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    phone_hash: Mapped[str | None] = mapped_column(String(64))
    email_hash: Mapped[str | None] = mapped_column(String(64))
    address_hash: Mapped[str | None] = mapped_column(String(64), index=True)

    currently_insured: Mapped[bool | None] = mapped_column(Boolean)
    current_carrier: Mapped[str | None] = mapped_column(String(100))
    policy_expires_on: Mapped[date | None] = mapped_column(Date)
    landing_page: Mapped[str | None] = mapped_column(String(2048))
    ip_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    notes: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)

    score: Mapped[int | None] = mapped_column(Integer)
    score_factors: Mapped[dict[str, Any] | None] = mapped_column()
    insights: Mapped[dict[str, Any] | None] = mapped_column()
    route_attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Staff put an UNASSIGNED lead back into routing: how often, and the rounds it had by the last
    # time (the policy's attempt limit counts the rounds after it).
    reopenings: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    attempts_before_reopening: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    anonymised_at: Mapped[datetime | None] = mapped_column()


class ConsentRecord(IdMixin, TimestampMixin, Base):
    """The consent exactly as captured; written once and kept unchanged (five years)."""

    __tablename__ = "consent_records"
    __table_args__ = (
        # The consent records of erased people waiting for their evidence to be cleared: few, and
        # read every hour by ``privacy.tasks.clear_expired_consent_evidence``.
        Index(
            "ix_consent_records_evidence_kept_until",
            "evidence_kept_until",
            postgresql_where=text("evidence_kept_until IS NOT NULL"),
            sqlite_where=text("evidence_kept_until IS NOT NULL"),
        ),
    )

    lead_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("leads.id"), unique=True)
    # Declared so one flush inserts the lead before the rows that point at it.
    lead: Mapped[Lead] = relationship(lazy="raise")
    # The words agreed to; None once the evidence went, unless they are the quote form's
    # (``privacy.rules.consent_text_kept``): a vendor's may name the person. The digest stays.
    text: Mapped[str | None] = mapped_column(Text)
    text_sha256: Mapped[str] = mapped_column(String(64))
    captured_at: Mapped[datetime] = mapped_column()
    ip_address: Mapped[str | None] = mapped_column(String(45))
    page_url: Mapped[str | None] = mapped_column(String(2048))
    trustedform_cert_url: Mapped[str | None] = mapped_column(String(2048))
    jornaya_leadid: Mapped[str | None] = mapped_column(String(64))
    # The lead's keyed hashes and the phone's extension, as intake stored them: a complaint about a
    # call names the number, and finds the consent given for it after the lead was erased too.
    phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    email_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    phone_extension: Mapped[str | None] = mapped_column(String(10))
    # Set when the lead is anonymised before the record is five years old: what ties the consent to
    # the person (``privacy.rules.CONSENT_EVIDENCE``) stays until then, and is cleared then.
    evidence_kept_until: Mapped[datetime | None] = mapped_column()


# The events the reports find by name, over a period's leads (``reports.repository``): contacts,
# conversions and opt-outs (and those withdrawn as listed by mistake), a few of every lead's events.
REPORTED_EVENTS = "name IN ('lead.contacted', 'lead.converted', 'lead.opted_out', 'lead.opt_out_withdrawn')"


class LeadEvent(IdMixin, TimestampMixin, Base):
    """One row per lifecycle event (``lead.received``, ``lead.routed``, ...)."""

    __tablename__ = "lead_events"
    __table_args__ = (
        # Only the reported events, so the index stays a small part of the table and of its writes;
        # with their time, a lead's first contact is read from the index alone.
        Index(
            "ix_lead_events_reported_name_lead_id_created_at",
            "name",
            "lead_id",
            "created_at",
            postgresql_where=text(REPORTED_EVENTS),
            sqlite_where=text(REPORTED_EVENTS),
        ),
    )

    lead_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("leads.id"), index=True)
    lead: Mapped[Lead] = relationship(lazy="raise")
    name: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
