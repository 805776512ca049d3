"""The lead pipeline: validate, dedupe, do-not-contact, score, embed, match, route (a vendor's
test lead stops after scoring, as ``TEST``).

One transaction per lead; the lead row is locked and only a RECEIVED lead is processed, which is
what makes at-least-once delivery safe. The graph and vector writes are idempotent upserts, so a
retried lead rewrites the same data.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.audit import repository as audit
from leadgen.compliance import repository as dnc
from leadgen.compliance import service as compliance
from leadgen.compliance.rules import BARRED_BECAUSE, ERASED, consent_problem
from leadgen.core.db import after_commit
from leadgen.core.metrics import PIPELINE_FAILED_LEADS, PIPELINE_LATENCY, PIPELINE_OUTCOMES
from leadgen.core.resources import Resources
from leadgen.core.settings import Settings
from leadgen.dedupe import repository as dedupe
from leadgen.dedupe.rules import DUPLICATE_KINDS, line_window_days, why_not_original, window_start
from leadgen.insights.providers import IntentProvider, local_insight
from leadgen.insights.schemas import Insight
from leadgen.insights.service import classify_lead
from leadgen.leads import repository as leads
from leadgen.leads.geography import states_for_zip
from leadgen.leads.lifecycle import LeadStatus, Line
from leadgen.models import ConsentRecord, Lead, Source
from leadgen.models.base import utcnow
from leadgen.outbox import repository as outbox
from leadgen.routing import repository as routing_repository
from leadgen.routing import service as routing
from leadgen.routing.repository import round_still_open
from leadgen.routing.rules import licence_day
from leadgen.scoring.model import LeadScoreModel, default_model
from leadgen.stores.embedding import WordKey, embed_lead, word_key
from leadgen.stores.graph import GraphStore
from leadgen.stores.vectors import VectorStore

log = logging.getLogger(__name__)
TOPIC = "lead.received"
REROUTE_TOPIC, OUTCOME_TOPIC = "lead.reroute", "lead.outcome"
SLA_SWEEP_TASK = "routing.expire_offers"  # what ends a lead whose offer it cannot move on
# Read for every lead: built once. The lead is locked with its consent and source name in one
# round trip; only the lead row is locked.
_CLAIM = (
    select(Lead, ConsentRecord, Source.name)
    .join(Source, Source.id == Lead.source_id)
    .outerjoin(ConsentRecord, ConsentRecord.lead_id == Lead.id)
    .where(Lead.id == bindparam("lead_id"))
    .with_for_update(of=Lead)
)
_SOURCE_NAME = select(Source.name).where(Source.id == bindparam("source_id"))
_CONSENT_OF_LEAD = select(ConsentRecord).where(ConsentRecord.lead_id == bindparam("lead_id"))
TEST_LEAD = "a test lead: screened and scored like a live one, offered to nobody and nobody messaged"


@dataclass
class Pipeline:
    """Everything the stages use besides the session."""

    settings: Settings
    graph: GraphStore
    vectors: VectorStore
    model: LeadScoreModel
    insights: IntentProvider
    # Keys the note words' slots in the vector store (``stores.embedding.word_key``).
    word_key: WordKey


@dataclass(frozen=True)
class NotesToRead:
    """What a provider is asked about a lead: its notes, its line, and the values known to be the
    person's, to mask (``insights.prompt.minimise``)."""

    notes: str
    line: str
    known_pii: tuple[str, ...]


async def notes_to_read(session: AsyncSession, lead_id: uuid.UUID) -> NotesToRead | None:
    """The lead's notes for a remote provider, read in a short transaction of their own: the call may
    take seconds, and holds no connection meanwhile. None when screening will end the lead without
    reading them, and they need not leave the platform: a test lead, one without the consent it
    needs, or a person who must not be contacted. (A duplicate is known only by screening.)"""
    lead = await leads.get(session, lead_id)
    if lead is None or lead.status != LeadStatus.RECEIVED or lead.is_test or not lead.notes:
        return None
    if lead.insights is not None:
        return None  # an earlier try read them (``keep_insight``)
    consent = await session.scalar(_CONSENT_OF_LEAD, {"lead_id": lead_id})
    if _consent_problem(lead, consent) or await dnc.contact_barred(session, lead):
        return None
    return NotesToRead(lead.notes, lead.line, _known_pii(lead))


async def read_notes(pipe: Pipeline, asked: NotesToRead) -> Insight | None:
    """Intent and urgency from the notes, before and outside the lead's transaction."""
    return await classify_lead(pipe.insights, asked.notes, asked.line, known_pii=asked.known_pii)


async def keep_insight(session: AsyncSession, lead_id: uuid.UUID, insight: Insight) -> None:
    """Keep what a remote provider read from the lead's notes before the lead's own transaction, in
    one of its own: should that transaction fail (Qdrant or Neo4j down), the next try uses it
    rather than send the notes out again and spend another call of the day's budget. Not once the
    person was erased during the call: the answer quotes or describes the notes the erasure removed."""
    await session.execute(
        update(Lead)
        .where(Lead.id == lead_id, Lead.status == LeadStatus.RECEIVED, Lead.anonymised_at.is_(None))
        .values(insights=insight.model_dump(mode="json"))
    )


def _known_pii(lead: Lead) -> tuple[str, ...]:
    """The person's own values as they may be written in their notes."""
    values = [lead.first_name, lead.last_name, lead.street, lead.city, lead.email, lead.ip_address]
    if lead.date_of_birth is not None:
        born = lead.date_of_birth
        values += [
            f"{born:%m/%d/%Y}", f"{born.month}/{born.day}/{born.year}", born.isoformat(),
            f"{born:%B} {born.day}, {born.year}", f"{born:%b} {born.day}, {born.year}",
            f"{born.day} {born:%B} {born.year}",
        ]  # fmt: skip
    return tuple(value for value in values if value)


def _consent_problem(lead: Lead, consent: ConsentRecord | None) -> str | None:
    web_traces = any((lead.landing_page, lead.ip_address, lead.user_agent))
    return consent_problem(lead.origin, consent is not None, None, lead.received_at, web_traces=web_traces)


async def process_lead(
    session: AsyncSession, pipe: Pipeline, lead_id: uuid.UUID, now: datetime, insight: Insight | None = None
) -> LeadStatus | None:
    """Run every stage for a RECEIVED lead; a lead already past RECEIVED is left alone.

    ``insight`` is what ``read_notes`` found with a remote provider; the local rules answer here.
    The stages' writes reach the database once, at commit: every query the stages make reads
    rows this transaction does not change, so flushing before each would only cost round trips.
    """
    with session.no_autoflush:
        claimed = (await session.execute(_CLAIM, {"lead_id": lead_id})).first()
        if claimed is None or claimed[0].status != LeadStatus.RECEIVED:
            await outbox.mark_processed(session, TOPIC, str(lead_id))
            return None
        lead, consent, source = claimed
        if await _screen(session, pipe, lead, consent, source) is None:
            if insight is None and lead.insights is not None:
                insight = Insight.model_validate(lead.insights)  # kept by an earlier try (``keep_insight``)
            elif insight is None and not pipe.insights.remote:
                insight = await classify_lead(pipe.insights, lead.notes, lead.line, known_pii=_known_pii(lead))
            elif insight is None and lead.is_test and lead.notes and lead.notes.strip():
                # Not sent to the remote provider (``notes_to_read``): the rules read it, as they
                # would without one, so the vendor sees what the live lead would get from them.
                insight = local_insight(lead.notes, lead.line)
            if insight is not None:
                lead.insights = insight.model_dump(mode="json")
                event = {"intent": insight.intent, "urgency": insight.urgency}
                audit.lead_event(session, lead.id, "lead.enriched", event)
            row = _score(session, pipe, lead, source, consent, now)
            if lead.is_test:
                # Nothing past the score: no offer, no message, and no embedding either, so search
                # and best match learn only from live leads.
                _stop(session, lead, LeadStatus.TEST, TEST_LEAD)
            else:
                embedding = embed_lead(row, pipe.word_key)
                agent_id = await _route(session, pipe, lead, now, embedding.vector)
                await pipe.vectors.upsert(lead.id, embedding, vector_payload(lead, row, agent_id))
        await outbox.mark_processed(session, TOPIC, str(lead_id), now)
    # Counted once committed: a transaction run again after a deadlock counts once.
    after_commit(session, PIPELINE_OUTCOMES.labels(lead.status).inc)
    after_commit(session, partial(PIPELINE_LATENCY.observe, max(0.0, (now - lead.received_at).total_seconds())))
    return LeadStatus(lead.status)


async def _screen(
    session: AsyncSession, pipe: Pipeline, lead: Lead, consent: ConsentRecord | None, source: str | None
) -> LeadStatus | None:
    """Validation, duplicates (from the graph's identity links) and do-not-contact.

    A test lead is validated and checked against the list like a live one, but takes no part in
    dedupe: it is nobody's original and nobody's duplicate, and links nobody's history."""
    if lead.anonymised_at is not None:
        # Erased while it waited for the pipeline: its hashes are gone, so no list would find it.
        return _stop(session, lead, LeadStatus.REJECTED, BARRED_BECAUSE[ERASED])
    problem = _consent_problem(lead, consent)
    if problem or lead.state not in states_for_zip(lead.zip_code):
        return _stop(session, lead, LeadStatus.INVALID, problem or "ZIP and state disagree")
    identities = lead_identities(lead)
    original = None if lead.is_test else await _original(session, pipe, lead, identities)
    # As the list knows the person: with the number at its extension, which an erasure lists.
    contact = [value for _, value in dnc.identity_hashes(lead)]
    # Before the duplicate's return: a duplicate giving a listed number lists its address too.
    listed = await dnc.listed(session, contact)
    if listed:
        await compliance.list_given_with(session, lead)
    if original is not None:
        lead.duplicate_of_id = original.id
        status = _stop(session, lead, LeadStatus.DUPLICATE, f"same person as lead {original.id}")
        if pipe.settings.routing.duplicates_to_owner and not listed:
            await _pass_to_owners(session, lead, original, source, contact)
        return status
    if listed:
        return _stop(session, lead, LeadStatus.REJECTED, "on the do-not-contact list")
    return None


def lead_identities(lead: Lead) -> list[tuple[str, str]]:
    """The lead's identities as the graph links them: its keyed hashes, by kind. A phone is linked
    by its number alone, the extension left out: leads of one switchboard are linked, and
    ``leads.repository.earliest_original`` tells their people apart (``dedupe.rules.phones_match``)."""
    hashes = (("phone", lead.phone_hash), ("email", lead.email_hash), ("address", lead.address_hash))
    return [(kind, value) for kind, value in hashes if value]


async def _original(
    session: AsyncSession, pipe: Pipeline, lead: Lead, identities: list[tuple[str, str]]
) -> Lead | None:
    """Link the lead's identities in the graph; the person's earlier lead it repeats, if any.

    Held for the person first: another screening of theirs waits for this transaction to end
    before it reads the graph or the leads."""
    await dedupe.hold_person(session, [value for kind, value in identities if kind in DUPLICATE_KINDS])
    await pipe.graph.link_lead(lead.id, lead.line, lead.state, identities, received_at=lead.received_at)
    since = window_start(lead.received_at, dedupe_window_days(pipe.settings, lead.line))
    linked = {uuid.UUID(i) for i in await pipe.graph.duplicates_of(lead.id, DUPLICATE_KINDS, lead.line, since=since)}
    # Leads accepted but not yet through the pipeline are not in the graph yet; their hashes are.
    linked.update(await leads.waiting_matches(session, lead, identities, since))
    return await leads.earliest_original(session, lead, list(linked))


async def _pass_to_owners(
    session: AsyncSession, lead: Lead, original: Lead, source: str | None, contact: list[str]
) -> None:
    """A duplicate goes to the original's owner (the brief): the agents who accepted the person's
    earlier lead hear that the person asked again, and nobody else is offered the new lead. Not
    when the person asked not to be contacted, under either lead's phone or e-mail."""
    agents = await routing_repository.owners(session, original.id)
    if not agents or original.anonymised_at is not None:
        return
    if await dnc.listed(session, contact + [value for _, value in dnc.identity_hashes(original)]):
        return
    passed = {"original": str(original.id), "agents": [str(a.id) for a in agents]}
    audit.lead_event(session, lead.id, "lead.passed_to_owner", passed)
    again = {"lead": str(lead.id), "source": source, "campaign": lead.campaign}
    audit.lead_event(session, original.id, "lead.requested_again", again)
    outbox.add(session, outbox.REQUESTED_AGAIN_TOPIC, str(lead.id))


def dedupe_window_days(settings: Settings, line: str) -> int:
    intake = settings.intake
    return line_window_days(line, intake.dedupe_window_days, intake.dedupe_window_days_by_line)


async def duplicates_to_release(
    session: AsyncSession, settings: Settings, now: datetime, limit: int
) -> list[uuid.UUID]:
    """Duplicates received within their line's dedupe window whose original no longer counts as one."""
    since_by_line = {line: window_start(now, dedupe_window_days(settings, line)) for line in Line}
    return await leads.duplicates_to_release(session, since_by_line, limit)


async def release_duplicate(session: AsyncSession, settings: Settings, lead_id: uuid.UUID, now: datetime) -> bool:
    """Send a duplicate through the pipeline again when its original no longer counts as one: it
    ended screened out, UNASSIGNED or RETURNED, was erased, or no active agent holds it any more.
    Nothing else would ever look at the duplicate again, and the person's request would reach
    nobody.

    Checked again under the lead's lock, so a second run, or a lead screened again meanwhile, is
    left alone. The lead is RECEIVED again with no original, a ``lead.released`` event names the
    original and why it no longer counts, and the outbox hands it to the pipeline, which screens it
    from the start: it may be a duplicate of another lead, rejected (a person erased or on the
    do-not-contact list is offered to nobody and sent nothing), or routed. Returns whether it was
    released.
    """
    lead = await leads.get(session, lead_id, lock=True)
    if lead is None or lead.status != LeadStatus.DUPLICATE or lead.duplicate_of_id is None:
        return False
    if lead.anonymised_at is not None or lead.received_at < window_start(now, dedupe_window_days(settings, lead.line)):
        return False
    original = await leads.get(session, lead.duplicate_of_id)
    if original is None:
        return False
    why = why_not_original(
        LeadStatus(original.status),
        is_test=original.is_test,
        erased=original.anonymised_at is not None,
        held_by_active_agent=bool(await routing_repository.owners(session, original.id)),
    )
    if why is None:
        return False
    lead.status = LeadStatus.RECEIVED
    lead.status_reason = None
    lead.duplicate_of_id = None
    audit.lead_event(session, lead.id, "lead.released", {"original": str(original.id), "reason": why})
    outbox.add(session, TOPIC, str(lead.id))
    return True


def _stop(session: AsyncSession, lead: Lead, status: LeadStatus, reason: str) -> LeadStatus:
    lead.status = status
    lead.status_reason = reason
    audit.lead_event(session, lead.id, f"lead.{status.lower()}", {"reason": reason})
    return status


SCORED_COLUMNS = (
    "line",
    "state",
    "campaign",
    "origin",
    "exclusive",
    "phone",
    "email",
    "street",
    "currently_insured",
    "policy_expires_on",
    "is_test",
    "details",
    "received_at",
    "notes",
)


def _score(
    session: AsyncSession, pipe: Pipeline, lead: Lead, source: str | None, consent: ConsentRecord | None, now: datetime
) -> dict[str, Any]:
    row = lead_row(lead, source)
    row["consent_verified"] = bool(consent and (consent.trustedform_cert_url or consent.jornaya_leadid))
    # A test lead is scored as a live one (the model gives a row marked test 0): its vendor sees
    # the score and factors the live lead would get, and the score sends it to nobody.
    result = pipe.model.score(row | {"is_test": False}, now)
    lead.score = result.score
    lead.score_factors = result.as_payload()
    lead.status = LeadStatus.SCORED
    row["score"] = result.score
    audit.lead_event(session, lead.id, "lead.scored", {"score": result.score, "model": result.model})
    return row


def lead_row(lead: Lead, source: str | None) -> dict[str, Any]:
    """The lead's non-contact columns as the scoring model and the embedder read them."""
    row = {c: getattr(lead, c) for c in SCORED_COLUMNS}
    row["source"] = source
    row["score"] = lead.score
    return row


async def _source_name(session: AsyncSession, lead: Lead) -> str | None:
    return await session.scalar(_SOURCE_NAME, {"source_id": lead.source_id})


def vector_payload(lead: Lead, row: dict[str, Any], agent_id: str | None) -> dict[str, Any]:
    """The lead's vector payload (``stores.vectors.base`` describes it): its status as its outcome,
    and ``agent_id`` when given one."""
    payload = {
        "line": lead.line,
        "state": lead.state,
        "outcome": lead.status,
        "source": row["source"],
        "score": lead.score,
        "received_at": lead.received_at,
    }
    return payload | {"agent_id": agent_id} if agent_id else payload


async def _route(session: AsyncSession, pipe: Pipeline, lead: Lead, now: datetime, vector: list[float]) -> str | None:
    """Match and offer: candidates from the graph, similar-lead success from the vectors.

    Returns the agent the lead went to first, if any, for its vector's payload.
    """
    # The graph only narrows the candidates; it asks of expiry what the hard filter asks.
    on = licence_day(lead.state, now)
    candidate_ids = [uuid.UUID(i) for i in await pipe.graph.candidates(lead.state, lead.line, on)]

    async def similar_success(target: Lead, agent_ids: list[str]) -> dict[str, float] | None:
        try:
            return await pipe.vectors.agent_success(vector, agent_ids, target.line)
        except Exception as exc:
            # One signal among several: while the vector store is down, leads are still offered,
            # matched on the others (the offer's explanation names it unavailable), rather than
            # every round failing until it is back.
            log.warning("similar-lead success unavailable, matching without it: %s", type(exc).__name__)
            return None

    offers = await routing.route(session, pipe.settings, lead, now, candidate_ids, similar_success)
    return str(offers[0].agent_id) if offers else None


async def _route_again(session: AsyncSession, pipe: Pipeline, lead: Lead, now: datetime) -> None:
    """A later round for a lead already embedded: route; its payload follows after the commit
    (``sync_outcome``), so that no round waits for the vector store, or fails while it is down.

    The person may have been erased or asked not to be contacted since the last round: then no
    agent is offered the lead (admins are not alerted: no agent could take it lawfully)."""
    barred = await dnc.contact_barred(session, lead)
    if barred:
        _stop(session, lead, LeadStatus.UNASSIGNED, BARRED_BECAUSE[barred])
    else:
        embedding = embed_lead(lead_row(lead, await _source_name(session, lead)), pipe.word_key)
        await _route(session, pipe, lead, now, embedding.vector)
    outbox.add(session, OUTCOME_TOPIC, str(lead.id))


async def _waits_for(session: AsyncSession, topic: str, lead: Lead) -> bool:
    """Whether the lead still waits for the work of an event of ``topic``: still RECEIVED for the
    pipeline; ROUTED with no open offer left in its round for a reroute; SCORED for the round of a
    reopening."""
    if topic == TOPIC:
        return lead.status == LeadStatus.RECEIVED
    if topic == REROUTE_TOPIC:
        return lead.status == LeadStatus.ROUTED and not await round_still_open(session, lead.id, lead.route_attempts)
    return topic == outbox.REOPENED_TOPIC and lead.status == LeadStatus.SCORED


async def reroute(session: AsyncSession, pipe: Pipeline, lead_id: uuid.UUID, now: datetime) -> LeadStatus | None:
    """Offer a lead again after its offers were declined; idempotent like every stage."""
    lead = await leads.get(session, lead_id, lock=True)
    if lead is not None and await _waits_for(session, REROUTE_TOPIC, lead):
        await _route_again(session, pipe, lead, now)
    await outbox.mark_processed(session, REROUTE_TOPIC, str(lead_id), now)
    return LeadStatus(lead.status) if lead else None


async def reopen(session: AsyncSession, pipe: Pipeline, lead_id: uuid.UUID, now: datetime) -> LeadStatus | None:
    """The round staff asked for by reopening an UNASSIGNED lead: a committed lead is SCORED only
    then, and only until this round, so a second delivery finds it past SCORED and does nothing.

    A lead with no score never got through screening (the pipeline kept failing on it,
    ``end_failed``): it goes through the pipeline from the start instead, validated, de-duplicated
    and checked against the do-not-contact list like a new one."""
    lead = await leads.get(session, lead_id, lock=True)
    if lead is not None and await _waits_for(session, outbox.REOPENED_TOPIC, lead):
        if lead.score is None:
            lead.status = LeadStatus.RECEIVED
            outbox.add(session, TOPIC, str(lead.id))
        else:
            await _route_again(session, pipe, lead, now)
    await outbox.mark_processed(session, outbox.REOPENED_TOPIC, str(lead_id), now)
    return LeadStatus(lead.status) if lead else None


async def expire_offer(session: AsyncSession, pipe: Pipeline, assignment_id: uuid.UUID, now: datetime) -> bool:
    """Time out an overdue offer and move its lead on; False when someone got there first."""
    lead = await routing.time_out(session, assignment_id, now)
    if lead is None:
        return False
    await _route_again(session, pipe, lead, now)
    return True


async def end_stuck_offer(session: AsyncSession, assignment_id: uuid.UUID, now: datetime, error: str) -> bool:
    """Time out an overdue offer the SLA sweep kept failing to move on (its lead's next round fails
    every time), without a next round: its lead ends UNASSIGNED as ``end_failed`` ends one, rather
    than wait for good with an offer nobody may accept. Returns whether the lead was ended (not
    when the offer was answered meanwhile, or another offer of its round is still open)."""
    lead = await routing.time_out(session, assignment_id, now)
    if lead is None:
        return False
    routing.unassign(session, lead, f"re-routing failed: {error}")
    outbox.add(session, OUTCOME_TOPIC, str(lead.id))
    after_commit(session, PIPELINE_FAILED_LEADS.labels(SLA_SWEEP_TASK).inc)
    return True


def pipeline_for(resources: Resources) -> Pipeline:
    """The pipeline of a process whose resources include the graph and the vector store."""
    if resources.graph is None or resources.vectors is None:
        raise RuntimeError(f"{resources.process_name} was built without the graph or vector store")
    if resources.insights is None:
        raise RuntimeError(f"{resources.process_name} was built without the notes reader")
    words = word_key(resources.settings.security.pii_hash_key.get_secret_value())
    return Pipeline(resources.settings, resources.graph, resources.vectors, default_model(), resources.insights, words)


async def sync_outcome(session: AsyncSession, pipe: Pipeline, lead_id: uuid.UUID) -> None:
    """Carry a lead's new outcome into its vector payload (so CONVERTED leads teach best match):
    its status, which for a shared lead is derived from all its agents' outcomes, and the agent it
    is credited to (``leads.repository.credited_agent``: on a shared lead, the one who converted it).

    Only the events held before the lead is read are finished: each was committed with its change,
    which the read then sees, and one committed meanwhile is left for its own delivery. Holding
    them, not the lead, keeps agents' work on the lead from waiting for the vector store."""
    events = await outbox.hold_unfinished(session, OUTCOME_TOPIC, str(lead_id))
    lead = await leads.get(session, lead_id)
    if lead is not None:
        fields: dict[str, Any] = {"outcome": lead.status}
        if agent_id := await leads.credited_agent(session, lead.id):
            fields["agent_id"] = str(agent_id)
        await pipe.vectors.set_payload(lead.id, fields)
    await outbox.finish(session, events, utcnow())


async def end_failed(session: AsyncSession, topic: str, lead_id: uuid.UUID, task: str, error: str) -> bool:
    """End a lead its pipeline task (``task``, consuming events of ``topic``) kept failing on: it is
    UNASSIGNED, the reason naming only the error's class (a message may quote the lead's data), and
    admins are alerted as for any lead left unassigned, so staff can reopen it once the fault is
    fixed. It then no longer holds the person in flight: later leads of theirs are not its
    duplicates, and those it held are released by ``release_duplicates``.

    Nothing when the lead no longer waits for that work (another delivery got through). Returns
    whether the lead was ended."""
    lead = await leads.get(session, lead_id, lock=True)
    if lead is None or not await _waits_for(session, topic, lead):
        return False
    # Routing's own ending, so that the alert's event key stays the one notifications expect.
    routing.unassign(session, lead, f"pipeline failed: {error}")
    outbox.add(session, OUTCOME_TOPIC, str(lead.id))  # the search's copy of an embedded lead follows
    after_commit(session, PIPELINE_FAILED_LEADS.labels(task).inc)
    return True


async def forget(session: AsyncSession, pipe: Pipeline, lead_id: uuid.UUID) -> None:
    """Privacy erasure in the derived stores: the lead's vectors, in the collection of every embedding
    version (a rollout's two releases each fill their own), and its identity links."""
    await pipe.vectors.delete(lead_id)
    await pipe.graph.forget_lead(lead_id)
    await outbox.mark_processed(session, "lead.erased", str(lead_id))
