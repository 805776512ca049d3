"""Offering leads to agents: first offer, accept, reject and expiry (each moves to the next agent)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.audit import repository as audit
from leadgen.auth.roles import Principal
from leadgen.compliance import repository as dnc
from leadgen.compliance.rules import BARRED_BECAUSE
from leadgen.core.db import after_commit
from leadgen.core.errors import Conflict, NotFound
from leadgen.core.metrics import OFFERS_ANSWERED, OFFERS_MADE
from leadgen.core.settings import Settings
from leadgen.leads import repository as leads
from leadgen.leads.lifecycle import OPEN_LEAD_STATUSES, AssignmentStatus, LeadStatus
from leadgen.models import Assignment, Lead
from leadgen.models.base import utcnow
from leadgen.outbox import repository as outbox
from leadgen.routing import repository
from leadgen.routing.policy import Policy
from leadgen.routing.rules import (
    Candidate,
    LeadFacts,
    eligible,
    explanation,
    hard_filter,
    licence_day,
    licence_holds,
)
from leadgen.routing.strategies import MatchSignals, Strategy, conversion_rate, line_fit, order

log = logging.getLogger(__name__)
# Per agent id, how well leads like this one went for the agent; None when that cannot be told now
# (the vector store is down), and best match goes without it.
SimilarityLookup = Callable[[Lead, list[str]], Awaitable[dict[str, float] | None]]


async def route(
    session: AsyncSession,
    settings: Settings,
    lead: Lead,
    now: datetime,
    candidate_ids: list[uuid.UUID],
    similarity: SimilarityLookup | None = None,
) -> list[Assignment]:
    """Offer the lead to the next eligible agent(s), or mark it UNASSIGNED (never an ineligible agent).

    ``candidate_ids`` are the agents the graph finds licensed for the lead's state and line; every
    hard filter is checked again here on the database rows. Exclusive leads get one agent; shared
    leads up to the policy's ``max_agents``.
    """
    policy = await repository.policy_for(session, lead.source_id, lead.campaign, settings)
    attempt = lead.route_attempts + 1
    rounds = lead.route_attempts - lead.attempts_before_reopening
    if rounds >= policy.max_attempts:
        # Only the rounds an agent could answer count: one whose offers were all withdrawn before
        # their deadline (their agents deactivated or no longer licensed) gave the lead no chance.
        rounds = await repository.answerable_rounds(session, lead.id, lead.attempts_before_reopening)
    if rounds >= policy.max_attempts:
        unassign(session, lead, f"no agent accepted after {rounds} offers")
        return []
    facts = LeadFacts(lead.id, lead.state, lead.line)
    considered = await repository.candidates(session, lead, now, candidate_ids)
    allowed = eligible(considered, facts, now)
    signals: dict[str, MatchSignals] | None = None
    unavailable: list[str] = []  # the signals best match goes without, for the explanation
    if policy.strategy is Strategy.BEST_MATCH:
        signals, unavailable = await _signals(session, lead, allowed, now, similarity)
    slots = 1 if lead.exclusive else policy.max_agents
    agents = _Agents({c.agent_id: c for c in considered})
    offers: list[Assignment] = []
    while len(offers) < slots:
        chosen = await _next_agent(session, lead, facts, now, policy.strategy, agents, signals)
        if chosen is None:
            break
        candidate, why = chosen
        if unavailable:
            why["unavailable"] = unavailable
        offers.append(await _offer(session, lead, candidate, attempt, len(offers), policy, now, why))
        # Not offered twice in the round; a later slot's explanation says why.
        candidate.already_offered = True
        candidate.rejections = hard_filter(candidate, facts, now)
    if not offers:
        unassign(
            session, lead, "no eligible agent" if considered else f"no agent licensed for {lead.line} in {lead.state}"
        )
        return []
    lead.status = LeadStatus.ROUTED
    lead.status_reason = None
    lead.route_attempts = attempt
    outbox.add(session, outbox.ROUND_TOPIC, f"{lead.id}:{attempt}")
    return offers


AGENT_DELETED = "agent deleted"


@dataclass
class _Agents:
    """The agents a routing round considers, as last read, and the ones it holds locked."""

    pool: dict[uuid.UUID, Candidate]
    locked: set[uuid.UUID] = field(default_factory=set)


async def _next_agent(
    session: AsyncSession,
    lead: Lead,
    facts: LeadFacts,
    now: datetime,
    strategy: Strategy,
    agents: _Agents,
    signals: dict[str, MatchSignals] | None,
) -> tuple[Candidate, dict[str, object]] | None:
    """The agent to offer the lead to next, locked, with why; None when no eligible agent is left.

    The agents were read before any was locked, so routings running at once read the same agent
    first in line. The first in the strategy's order is locked unless another transaction holds it
    (SKIP LOCKED) and read again under the lock, and the agents are ordered again on that: the lead
    goes to an agent only while it comes first on what was read under its lock. When that read
    shows offers made since the agent was last read, the agents not locked are read again too (not
    locked; at most once per agent locked), so that routing does not lock, one by one, agents that
    others' offers put behind, and hold them from routings that would offer them a lead.

    An agent another transaction holds is passed over: most likely it is being offered another lead
    at the moment. When every agent left is held, routing waits for the first of them, so that no
    lead is left unassigned for being routed at a busy moment. Locks stay until the transaction
    ends; only a wait can deadlock, with a routing holding agents it put behind or found ineligible
    (PostgreSQL aborts one, which runs again).
    """
    held: set[uuid.UUID] = set()
    while True:
        in_play = [c for c in agents.pool.values() if not c.rejections]
        ranked, breakdown = order(strategy, [c for c in in_play if c.agent_id not in held], signals)
        if ranked and ranked[0].agent_id in agents.locked:
            return ranked[0], explanation(ranked[0], list(agents.pool.values()), strategy, breakdown, held)
        if ranked:
            first, wait = ranked[0], False
        elif held:
            first, wait = order(strategy, in_play, signals)[0][0], True
            held.clear()  # once waited for, the others may be free again
        else:
            return None
        again = await repository.locked_candidate(session, lead, now, first, wait=wait)
        if again is None and not wait:
            held.add(first.agent_id)
            continue
        if again is None:
            first.rejections = [AGENT_DELETED]
            continue
        agents.locked.add(again.agent_id)
        again.rejections = hard_filter(again, facts, now)
        agents.pool[again.agent_id] = again
        if _offered_since(first, again):
            unlocked = [c.agent_id for c in in_play if c.agent_id not in agents.locked]
            for fresh in await repository.candidates(session, lead, now, unlocked):
                fresh.rejections = hard_filter(fresh, facts, now)
                agents.pool[fresh.agent_id] = fresh


def _offered_since(read: Candidate, read_again: Candidate) -> bool:
    """Whether the agent was offered leads between the two reads (or had their load change)."""
    return (read.last_assigned_at, read.assigned_today, read.open_leads) != (
        read_again.last_assigned_at,
        read_again.assigned_today,
        read_again.open_leads,
    )


async def _offer(
    session: AsyncSession,
    lead: Lead,
    candidate: Candidate,
    attempt: int,
    slot: int,
    policy: Policy,
    now: datetime,
    why: dict[str, object],
) -> Assignment:
    assignment = Assignment(
        id=uuid.uuid4(),
        lead_id=lead.id,
        agent_id=candidate.agent_id,
        attempt=attempt,
        slot=slot,
        strategy=policy.strategy.value,
        explanation=why,
        expires_at=now + timedelta(minutes=policy.sla_minutes),
    )
    session.add(assignment)
    # Round robin's clock: when the agent got the lead, under its lock, not when the routing began
    # (a routing that waited for the agent, or for the lead's pipeline, began before others' offers).
    offered_at = max(now, utcnow())
    await repository.mark_assigned(session, candidate.agent_id, offered_at)
    candidate.last_assigned_at = max(candidate.last_assigned_at or offered_at, offered_at)
    candidate.assigned_today += 1
    after_commit(session, OFFERS_MADE.labels(policy.strategy.value).inc)
    audit.lead_event(
        session,
        lead.id,
        "lead.routed",
        {"agent_id": str(candidate.agent_id), "attempt": attempt, "slot": slot, "strategy": policy.strategy.value},
    )
    return assignment


async def _signals(
    session: AsyncSession, lead: Lead, allowed: list[Candidate], now: datetime, similarity: SimilarityLookup | None
) -> tuple[dict[str, MatchSignals], list[str]]:
    """Best match's signals per agent, and the names of those it goes without (each 0 for every
    agent then): the explanation stored with the offer says so, rather than that no similar lead
    succeeded."""
    ids = [str(c.agent_id) for c in allowed]
    history = await repository.outcome_counts(session, [c.agent_id for c in allowed], lead.line)
    on = licence_day(lead.state, now)
    lines = await repository.licensed_lines(session, [c.agent_id for c in allowed], lead.state, on)
    similar = await similarity(lead, ids) if similarity and ids else None
    signals = {
        str(c.agent_id): MatchSignals(
            line_fit=line_fit(lines.get(c.agent_id, []), lead.line),
            conversion_rate=conversion_rate(*history.get(c.agent_id, (0, 0))),
            similar_success=(similar or {}).get(str(c.agent_id), 0.0),
        )
        for c in allowed
    }
    return signals, ["similar_success"] if similar is None else []


def unassign(session: AsyncSession, lead: Lead, reason: str) -> None:
    """Leave the lead UNASSIGNED for ``reason``, and alert the admins."""
    lead.status = LeadStatus.UNASSIGNED
    lead.status_reason = reason
    audit.lead_event(session, lead.id, "lead.unassigned", {"reason": reason})
    # Admins are alerted: an UNASSIGNED lead is money left on the table. Each time it is left so
    # is its own alert: keyed by the lead, and after a reopening ``<lead id>:<reopenings>``.
    key = f"{lead.id}:{lead.reopenings}" if lead.reopenings else str(lead.id)
    outbox.add(session, "lead.unassigned", key, {"reason": reason})
    log.warning("lead left unassigned: %s", reason, extra={"lead_id": str(lead.id)})


async def reopen(session: AsyncSession, principal: Principal, lead_id: uuid.UUID, note: str | None) -> Lead:
    """Put an UNASSIGNED lead back into routing, with the campaign's attempts counted afresh.

    For staff who added, licensed or freed up agents after the lead ran out of them. The lead is
    SCORED again until the orchestrator's round (outbox event ``lead.reopened``); agents it was
    offered to before are still never offered it twice. A person erased or on the do-not-contact
    list is not offered to anyone: refused here, and checked again by the round.
    """
    lead = await leads.get(session, lead_id, lock=True)
    if lead is None:
        raise NotFound(f"lead {lead_id} not found")
    if lead.status != LeadStatus.UNASSIGNED:
        raise Conflict(f"only an UNASSIGNED lead can be reopened; this one is {lead.status}")
    barred = await dnc.contact_barred(session, lead)
    if barred:
        raise Conflict(BARRED_BECAUSE[barred])
    lead.status = LeadStatus.SCORED
    lead.status_reason = None
    lead.reopenings += 1
    lead.attempts_before_reopening = lead.route_attempts
    details = {"by": principal.label()} | ({"note": note} if note else {})
    audit.lead_event(session, lead.id, "lead.reopened", details)
    await audit.record(session, principal.label(), "lead.reopened", "lead", str(lead.id), details)
    outbox.add(session, outbox.REOPENED_TOPIC, str(lead.id))
    return lead


async def _owned_pending(
    session: AsyncSession, principal: Principal, assignment_id: uuid.UUID
) -> tuple[Assignment, Lead]:
    """The principal's own offer, still PENDING. Answering an offer is the offered agent's own act:
    staff, who see every offer, answer none, as that would record the agent's choice without them;
    they get what any other user gets for an offer not theirs."""
    found = await repository.assignment_with_lead(session, assignment_id)
    if found is None or principal.agent_id != found[0].agent_id:
        raise NotFound(f"assignment {assignment_id} not found")
    if found[0].status != AssignmentStatus.PENDING:
        raise Conflict(f"assignment {assignment_id} is {found[0].status}, not PENDING")
    if found[0].expires_at <= utcnow():
        # Its deadline passed: the SLA sweep times it out (a breach, as reported), whatever the answer.
        raise Conflict("the offer expired; the lead has moved on")
    return found


class OfferWithdrawn(Conflict):
    """The offer was withdrawn instead of accepted: its agent's licence for the lead no longer holds,
    which is not the agent's choice. Unlike any other refusal, what was written meanwhile stands:
    the offer withdrawn, its lead sent on (``_withdraw``). The caller commits it, then answers the
    refusal."""


async def accept(session: AsyncSession, principal: Principal, assignment_id: uuid.UUID) -> Assignment:
    """Accept the agent's offer. Raises ``OfferWithdrawn`` once it withdrew the offer of an agent
    whose licence no longer holds, other refusals ``Conflict`` having changed nothing."""
    assignment, lead = await _owned_pending(session, principal, assignment_id)
    now = utcnow()
    if not await repository.agent_is_active(session, assignment.agent_id):
        # Deactivating an agent withdraws their offers; this refuses any still pending (an agent
        # made inactive some other way, such as in SQL).
        raise Conflict("the agent was deactivated; their offers cannot be accepted")
    expires_on = await repository.licence_expiry(session, assignment.agent_id, lead.state, lead.line)
    if not licence_holds(expires_on, lead.state, now):
        # Removed or shortened by an admin, whose change queued the withdrawal this gets ahead of;
        # or lapsed since the offer (one made at 23:55 of its expiry day), which nothing else
        # withdraws. Either way the lead must move on now, not once the SLA sweep times it out.
        await _withdraw(session, assignment, lead, LICENCE_LAPSED, now)
        raise OfferWithdrawn(
            f"the agent's {lead.line} licence in {lead.state} no longer holds; the offer was withdrawn"
        )
    if barred := await dnc.contact_barred(session, lead):
        # An opt-out withdraws the offers it finds; this catches one listed by another way.
        raise Conflict(f"{BARRED_BECAUSE[barred]}; the lead cannot be taken")
    if lead.status not in OPEN_LEAD_STATUSES:
        # A shared lead its other agents all returned or lost, or one of them converted
        # (``lifecycle.lead_status_of_takers``).
        raise Conflict(f"the lead is {lead.status}; it cannot be taken")
    answer_offer(session, assignment, AssignmentStatus.ACCEPTED, now)
    if lead.status == LeadStatus.ROUTED:
        # On a shared lead another agent may have accepted it and moved it on: that stays.
        lead.status = LeadStatus.ACCEPTED
    audit.lead_event(session, lead.id, "assignment.accepted", {"agent_id": str(assignment.agent_id)})
    await audit.record(session, principal.label(), "assignment.accepted", "assignment", str(assignment.id), {})
    outbox.add(session, "lead.outcome", str(lead.id))  # the search's copy of the lead follows
    return assignment


def answer_offer(session: AsyncSession, offer: Assignment, answer: AssignmentStatus, now: datetime | None) -> None:
    """Move the offer on from PENDING (or an accepted one to RETURNED, ``now`` None: its answer time
    stays the acceptance's, from which the return window runs), counted in
    ``leadgen_offers_answered_total`` once that is committed."""
    offer.status = answer
    if now is not None:
        offer.responded_at = now
    after_commit(session, OFFERS_ANSWERED.labels(answer.lower()).inc)


async def withdraw_offers(session: AsyncSession, lead: Lead, reason: str) -> None:
    """Nobody may take the lead any more (the person opted out, or its takers finished it): offers
    not yet answered are withdrawn, and a lead still being offered ends UNASSIGNED. Admins are not alerted: no agent
    could take it lawfully. A lead already accepted stays with its agent, who sees why not to call."""
    now = utcnow()
    for offer in await repository.pending_offers(session, lead.id):
        answer_offer(session, offer, AssignmentStatus.WITHDRAWN, now)
        audit.lead_event(session, lead.id, "assignment.withdrawn", {"agent_id": str(offer.agent_id)})
    if lead.status == LeadStatus.ROUTED:
        lead.status = LeadStatus.UNASSIGNED
        lead.status_reason = reason
        audit.lead_event(session, lead.id, "lead.unassigned", {"reason": reason})
        outbox.add(session, "lead.outcome", str(lead.id))  # the search's copy of the lead follows


# Why an offer was withdrawn though the person may still be contacted: its agent may no longer take it.
AGENT_DEACTIVATED = "agent deactivated"
LICENCE_LAPSED = "licence no longer holds"


def queue_offer_withdrawal(session: AsyncSession, agent_id: uuid.UUID, now: datetime) -> None:
    """The agent is being deactivated, or their licences changed: their offers not yet answered that
    they may no longer take are withdrawn once that is committed (outbox ``agent.deactivated``,
    named for its first use; ``withdraw_agent_offer`` per offer), not in the same transaction. It
    holds the agent's row, and withdrawing locks each offer's lead: agent, then lead, against every
    other writer's order (routing and the SLA sweep lock a lead, then agents), which deadlocks with
    them. Committed first, the change stops new offers (routing reads the agent again under its
    lock), and the outbox makes the withdrawal survive any process dying in between."""
    outbox.add(session, outbox.AGENT_DEACTIVATED_TOPIC, f"{agent_id}:{now:%Y%m%dT%H%M%S%f}")


def agent_of_withdrawal(event_key: str) -> uuid.UUID:
    """The agent an ``agent.deactivated`` event is about (its key is the same whatever queued it)."""
    return uuid.UUID(event_key.partition(":")[0])


async def offers_to_withdraw(session: AsyncSession, agent_id: uuid.UUID, now: datetime) -> list[uuid.UUID]:
    """The agent's offers not yet answered that they may no longer take: every one while they are
    inactive, else those whose lead their licences no longer cover (``_why_untakeable``). None for
    an agent active again and still licensed: the offers are the agent's to answer then, and a later
    change has an event of its own."""
    active = await repository.agent_is_active(session, agent_id)
    return [
        offer.id
        for offer in await repository.pending_offers_of_agent(session, agent_id)
        if not active or not licence_holds(offer.licence_expires_on, offer.state, now)
    ]


async def _why_untakeable(session: AsyncSession, agent_id: uuid.UUID, lead: Lead, now: datetime) -> str | None:
    """Why the agent may no longer take the lead offered to them (``AGENT_DEACTIVATED`` or
    ``LICENCE_LAPSED``), as committed now; None while they may."""
    if not await repository.agent_is_active(session, agent_id):
        return AGENT_DEACTIVATED
    expires_on = await repository.licence_expiry(session, agent_id, lead.state, lead.line)
    return None if licence_holds(expires_on, lead.state, now) else LICENCE_LAPSED


async def withdraw_agent_offer(session: AsyncSession, agent_id: uuid.UUID, offer_id: uuid.UUID, now: datetime) -> bool:
    """Withdraw one offer its agent may no longer take (``_why_untakeable``), its lead locked first
    and then the offer, as every writer of offers does. Leads the agent accepted stay with them.
    False when the offer was answered or timed out meanwhile, or the agent may take it again
    (reactivated, or licensed anew)."""
    found = await repository.assignment_with_lead(session, offer_id)
    if found is None or found[0].status != AssignmentStatus.PENDING or found[0].agent_id != agent_id:
        return False
    offer, lead = found
    untakeable = await _why_untakeable(session, agent_id, lead, now)
    if untakeable is None:
        return False
    await _withdraw(session, offer, lead, untakeable, now)
    return True


async def _withdraw(session: AsyncSession, offer: Assignment, lead: Lead, reason: str, now: datetime) -> None:
    """Withdraw the pending offer (``WITHDRAWN``, with ``reason``), which the caller locked after its
    lead. The lead moves on to its next round through the outbox (``lead.reroute``) when that
    leaves its round without an open offer, as after a decline; a round whose offers were all
    withdrawn uses none of the lead's attempts (``route``)."""
    answer_offer(session, offer, AssignmentStatus.WITHDRAWN, now)
    offer.reason = reason
    audit.lead_event(session, lead.id, "assignment.withdrawn", {"agent_id": str(offer.agent_id), "reason": reason})
    if await needs_new_round(session, lead, offer):
        outbox.add(session, "lead.reroute", str(lead.id))


async def reject(session: AsyncSession, principal: Principal, assignment_id: uuid.UUID, reason: str) -> Assignment:
    """Decline an offer; the pipeline moves the lead on (outbox event ``lead.reroute``)."""
    assignment, lead = await _owned_pending(session, principal, assignment_id)
    answer_offer(session, assignment, AssignmentStatus.REJECTED, utcnow())
    # An erased person's offers are withdrawn, so a pending one is never about an erased person.
    assignment.reason = reason
    said = {"reason": reason}
    audit.lead_event(session, lead.id, "assignment.rejected", {"agent_id": str(assignment.agent_id), **said})
    await audit.record(session, principal.label(), "assignment.rejected", "assignment", str(assignment.id), said)
    if await needs_new_round(session, lead, assignment):
        outbox.add(session, "lead.reroute", str(lead.id))
    return assignment


async def time_out(session: AsyncSession, assignment_id: uuid.UUID, now: datetime) -> Lead | None:
    """Time out one overdue offer; returns the lead when it must move on to other agents."""
    found = await repository.assignment_with_lead(session, assignment_id)
    if found is None:
        return None
    assignment, lead = found
    if assignment.status != AssignmentStatus.PENDING or assignment.expires_at > now:
        return None  # accepted, declined or extended meanwhile
    answer_offer(session, assignment, AssignmentStatus.TIMED_OUT, now)
    audit.lead_event(session, lead.id, "assignment.timed_out", {"agent_id": str(assignment.agent_id)})
    return lead if await needs_new_round(session, lead, assignment) else None


async def needs_new_round(session: AsyncSession, lead: Lead, closed: Assignment) -> bool:
    """A lead moves on when its last open offer closed unaccepted (shared leads have several)."""
    return lead.status == LeadStatus.ROUTED and not await repository.round_still_open(session, lead.id, closed.attempt)
