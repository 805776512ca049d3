"""A person revokes consent: what changes, in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.audit import repository as audit
from leadgen.compliance import repository
from leadgen.compliance.rules import (
    BARRED_BECAUSE,
    DO_NOT_CONTACT,
    IMPORTED_LIST,
    LINKED_TO_IMPORTED_LIST,
    LISTED_BY_MISTAKE,
    OPT_OUT_REASONS,
    OPTED_OUT_EVENT,
    list_entries,
)
from leadgen.core.db import after_commit
from leadgen.core.metrics import DO_NOT_CONTACT_ADDED
from leadgen.core.resources import Resources
from leadgen.core.runtime import make_way_for_waiting_writers, run_in_transaction
from leadgen.core.security import keyed_hash
from leadgen.models import Lead
from leadgen.outbox import repository as outbox
from leadgen.privacy.service import ERASURE_REQUEST
from leadgen.routing import service as routing

LINKED = "linked"
_LINKED_REASONS = {
    LINKED: OPT_OUT_REASONS[LINKED],
    LINKED_TO_IMPORTED_LIST: "gave it with a number or address on the agency's own list",
}
# The reasons an entry is listed by for what the person did (or an erasure): any other is an
# imported list's, whose command takes a reason of its own. The staff's first wording is kept for
# the entries listed with it.
_PERSONS_OWN_REASONS = frozenset(
    {
        *(reason for via, reason in OPT_OUT_REASONS.items() if via != IMPORTED_LIST),
        ERASURE_REQUEST,
        "asked staff or an agent not to be contacted",
    }
)


async def opt_out(session: AsyncSession, hashes: list[tuple[str, str]], via: str, actor: str) -> list[uuid.UUID]:
    """Put the person on the do-not-contact list, by every phone number and e-mail address their
    leads give (a STOP from one number also covers the e-mail address the person gave with it).

    Each lead of theirs that nobody was barred from before gets a ``lead.opted_out`` event, and
    its open offers are withdrawn. Returns those leads: none when the person was already listed
    (a second STOP changes nothing) or gave nothing to list (an erased person)."""
    if not hashes:
        return []
    person = await repository.whole_person(session, hashes)
    values = [value for _, value in person]
    leads = await repository.leads_with_any(session, values)
    # With the leads' own hashes: a lead barred before by an erasure is listed at its extension.
    known = sorted({*values, *(value for lead in leads for _, value in repository.identity_hashes(lead))})
    listed_before = await repository.listed_among(session, known)
    added = await repository.add_many(session, person, OPT_OUT_REASONS[via])
    if not added:
        return []
    after_commit(session, partial(DO_NOT_CONTACT_ADDED.labels(via).inc, len(added)))
    barred = await _bar(session, leads, listed_before, via)
    await audit.record(session, actor, "person.opted_out", "person", None, {"via": via, "leads": len(barred)})
    return [lead.id for lead in barred]


async def _bar(session: AsyncSession, leads: list[Lead], listed_before: set[str], via: str) -> list[Lead]:
    """The leads nobody was barred from before: each gets its event and loses its open offers."""
    barred = [
        lead
        for lead in leads
        if lead.anonymised_at is None
        and listed_before.isdisjoint(value for _, value in repository.identity_hashes(lead))
    ]
    for lead in barred:
        audit.lead_event(session, lead.id, OPTED_OUT_EVENT, {"via": via})
        await routing.withdraw_offers(session, lead, BARRED_BECAUSE[DO_NOT_CONTACT])
    return barred


async def list_given_with(session: AsyncSession, lead: Lead) -> None:
    """Screening found one of the lead's phone and e-mail on the list: the other joins it (an
    opt-out survives merges). Only the lead's own: a vendor's lead may pair a listed number with
    anybody's address, so nothing is widened through other leads, and a test lead lists nothing.
    A number given with an extension joins at that extension (``repository.own_hashes``): a
    colleague at another extension of the switchboard stays contactable.

    No lead is locked here: the screening holds its own, and locking the person's other leads too
    would cross the order every opt-out takes them in (a deadlock). Those other leads, by what was
    listed now, are barred by a worker once this commits (``bar_linked``, outbox ``person.linked``).

    What joins says how (its reason, the audit entry and the metric's ``via``): ``linked``, or
    ``linked-import`` when every entry the lead matched is the agency's imported list's, directly or
    through an earlier ``linked-import``: the list follows the person, who revoked nothing."""
    if lead.is_test:
        return
    via = await _linked_via(session, lead)
    added = await repository.add_many(session, repository.own_hashes(lead), _LINKED_REASONS[via])
    if not added:
        return
    after_commit(session, partial(DO_NOT_CONTACT_ADDED.labels(via).inc, len(added)))
    await audit.record(session, "pipeline", "person.opted_out", "lead", str(lead.id), {"via": via})
    # An extension's entry names no lead's column: its leads are found by the number.
    numbers = [lead.phone_hash] if lead.phone_hash and lead.phone_extension else []
    outbox.add(session, outbox.PERSON_LINKED_TOPIC, str(lead.id), {"hashes": sorted(added), "numbers": numbers})


async def bar_linked(session: AsyncSession, added: list[str], numbers: Sequence[str] = ()) -> list[uuid.UUID]:
    """The leads with one of the hashes ``list_given_with`` listed, barred as an opt-out bars them
    (an event each, offers not yet answered withdrawn): those nobody was barred from before. A
    listed extension's leads are among the leads of its number (``numbers``). Their events say
    how the hashes were listed: ``linked``, or ``linked-import`` when only the agency's list led
    to them (reports do not count those)."""
    listed_now = set(added)
    leads = [
        lead
        for lead in await repository.leads_with_any(session, [*added, *numbers])
        if not listed_now.isdisjoint(value for _, value in repository.identity_hashes(lead))
    ]
    known = [value for lead in leads for _, value in repository.identity_hashes(lead)]
    listed_before = await repository.listed_among(session, known) - set(added)
    # Read from the entries as the screening listed them, whose reason says how: one listed by the
    # release before (or its event) says ``LINKED``, as that release meant.
    reasons = {entry.reason for entry in await repository.entries_for(session, added)}
    via = LINKED_TO_IMPORTED_LIST if reasons == {_LINKED_REASONS[LINKED_TO_IMPORTED_LIST]} else LINKED
    return [lead.id for lead in await _bar(session, leads, listed_before, via)]


async def _linked_via(session: AsyncSession, lead: Lead) -> str:
    """How the entries the lead matched on the list came there: ``LINKED_TO_IMPORTED_LIST`` when
    the agency's list put every one of them there (directly, or through a lead linking to it)."""
    matched = await repository.entries_for(session, [value for _, value in repository.identity_hashes(lead)])
    if matched and all(entry.reason not in _PERSONS_OWN_REASONS for entry in matched):
        return LINKED_TO_IMPORTED_LIST
    return LINKED


async def take_off_list(session: AsyncSession, hashes: list[str], reason: str, actor: str) -> list[str]:
    """Take the hashes off the list, and audit it with ``reason``; returns the kinds of the entries
    that were there. Listed by mistake (``LISTED_BY_MISTAKE``), the person never opted out: each
    lead of theirs whose opt-out stands and that the list no longer bars gets a
    ``lead.opt_out_withdrawn`` event, which reports read as no opt-out (a later one counts again)."""
    # Locked before the list shrinks, in the order an opt-out takes the same locks.
    leads = await repository.leads_with_any(session, hashes) if reason == LISTED_BY_MISTAKE else []
    kinds = await repository.remove(session, hashes)
    withdrawn = await _withdraw_opt_outs(session, leads, reason)
    audited = {"removed": kinds, "reason": reason, "leads": len(withdrawn)}
    await audit.record(session, actor, "person.opt_out_removed", "person", None, audited)
    return kinds


async def _withdraw_opt_outs(session: AsyncSession, leads: list[Lead], reason: str) -> list[Lead]:
    """The leads of an opt-out taken back that the list no longer bars (another entry may still,
    and stands as an opt-out while it does), each with a standing opt-out to withdraw."""
    still_listed = await repository.listed_among(
        session, [value for lead in leads for _, value in repository.identity_hashes(lead)]
    )
    free = [lead for lead in leads if still_listed.isdisjoint(value for _, value in repository.identity_hashes(lead))]
    standing = await repository.opted_out_among(session, [lead.id for lead in free])
    withdrawn = [lead for lead in free if lead.id in standing]
    for lead in withdrawn:
        audit.lead_event(session, lead.id, repository.OPT_OUT_WITHDRAWN_EVENT, {"reason": reason})
    return withdrawn


@dataclass(frozen=True)
class ListImported:
    added: int
    already_listed: int
    invalid_lines: list[int]
    leads: int  # leads of the people added now barred, with their open offers withdrawn


# Entries listed in one transaction at most. On SQLite (laptop mode) a transaction that writes holds
# the one write lock of the whole database, which intake waits 30 s for before a 503, and on
# PostgreSQL the locks of its people's leads: 300,000 lines in one transaction held them 84 s. In
# batches of this size (about half a second each), a writer meanwhile waited 0.2 s on average and
# 3 s at most (measured on SQLite, on a busy 2-CPU machine).
IMPORT_BATCH = 1_000


async def import_list(
    resources: Resources, lines: Iterable[str], hash_key: str, reason: str, actor: str
) -> ListImported:
    """An agency's own do-not-contact list, brought over (``leadgen do-not-contact import``): what
    the list holds is listed, nothing more (each line stands alone).

    The entries are listed IMPORT_BATCH at a time, each batch in a transaction of its own with its
    audit entry (``do_not_contact.imported``, its counts and its place among the batches; the first
    also counts the lines not understood): an import cut off leaves the batches before listed and
    audited, and run again lists the rest (what is listed already is skipped, and its people's leads
    are neither locked nor barred again)."""
    entries, invalid = list_entries(lines)
    hashes = [(kind, keyed_hash(hash_key, kind, value)) for kind, value in entries]
    # At least one batch, even empty: a list of nothing but lines not understood is audited too.
    batches = [hashes[start : start + IMPORT_BATCH] for start in range(0, len(hashes), IMPORT_BATCH)] or [[]]
    added = already_listed = leads = 0
    for number, batch in enumerate(batches, start=1):
        if number > 1:
            await make_way_for_waiting_writers(resources)
        audited = {"invalid_lines": len(invalid) if number == 1 else 0, "batch": number, "batches": len(batches)}
        done = await run_in_transaction(
            resources, partial(_import_batch, hashes=batch, reason=reason, actor=actor, audited=audited)
        )
        added, already_listed, leads = added + done.added, already_listed + done.already_listed, leads + done.leads
    return ListImported(added, already_listed, invalid, leads)


async def _import_batch(
    session: AsyncSession, hashes: list[tuple[str, str]], reason: str, actor: str, audited: dict[str, int]
) -> ListImported:
    """List one batch of an import and bar the leads of the people it adds (its lines not
    understood are the import's, not counted here)."""
    # The leads are locked before the list grows, in the order an opt-out or an erasure takes the
    # same locks: the other way round, an import and a STOP for one person would deadlock. Only the
    # leads of people not listed yet: a list imported again locks nothing.
    listed = await repository.listed_among(session, sorted({value for _, value in hashes}))
    leads = await repository.leads_with_any(session, sorted({value for _, value in hashes} - listed))
    known = [value for lead in leads for _, value in repository.identity_hashes(lead)]
    listed_before = await repository.listed_among(session, known)
    added = await repository.add_many(session, hashes, reason)
    after_commit(session, partial(DO_NOT_CONTACT_ADDED.labels(IMPORTED_LIST).inc, len(added)))
    of_the_added = [lead for lead in leads if any(v in added for _, v in repository.identity_hashes(lead))]
    barred = await _bar(session, of_the_added, listed_before, IMPORTED_LIST)
    done = ListImported(len(added), len(hashes) - len(added), [], len(barred))
    summary = {"added": done.added, "already_listed": done.already_listed, "leads": done.leads, **audited}
    await audit.record(session, actor, "do_not_contact.imported", "do_not_contact", None, summary)
    return done
