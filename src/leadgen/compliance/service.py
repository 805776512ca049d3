"""A person revokes consent: what changes, in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.audit import repository as audit
from leadgen.compliance import repository
from leadgen.compliance.rules import BARRED_BECAUSE, DO_NOT_CONTACT, OPT_OUT_REASONS, OPTED_OUT_EVENT, list_entries
from leadgen.core.db import after_commit
from leadgen.core.metrics import DO_NOT_CONTACT_ADDED
from leadgen.core.security import keyed_hash
from leadgen.models import Lead
from leadgen.outbox import repository as outbox
from leadgen.routing import service as routing

LINKED = "linked"


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
    listed now, are barred by a worker once this commits (``bar_linked``, outbox ``person.linked``)."""
    if lead.is_test:
        return
    added = await repository.add_many(session, repository.own_hashes(lead), OPT_OUT_REASONS[LINKED])
    if not added:
        return
    after_commit(session, partial(DO_NOT_CONTACT_ADDED.labels(LINKED).inc, len(added)))
    await audit.record(session, "pipeline", "person.opted_out", "lead", str(lead.id), {"via": LINKED})
    # An extension's entry names no lead's column: its leads are found by the number.
    numbers = [lead.phone_hash] if lead.phone_hash and lead.phone_extension else []
    outbox.add(session, outbox.PERSON_LINKED_TOPIC, str(lead.id), {"hashes": sorted(added), "numbers": numbers})


async def bar_linked(session: AsyncSession, added: list[str], numbers: Sequence[str] = ()) -> list[uuid.UUID]:
    """The leads with one of the hashes ``list_given_with`` listed, barred as an opt-out bars them
    (an event each, offers not yet answered withdrawn): those nobody was barred from before. A
    listed extension's leads are among the leads of its number (``numbers``)."""
    listed_now = set(added)
    leads = [
        lead
        for lead in await repository.leads_with_any(session, [*added, *numbers])
        if not listed_now.isdisjoint(value for _, value in repository.identity_hashes(lead))
    ]
    known = [value for lead in leads for _, value in repository.identity_hashes(lead)]
    listed_before = await repository.listed_among(session, known) - set(added)
    return [lead.id for lead in await _bar(session, leads, listed_before, LINKED)]


@dataclass(frozen=True)
class ListImported:
    added: int
    already_listed: int
    invalid_lines: list[int]
    leads: int  # leads of the people added now barred, with their open offers withdrawn


async def import_list(
    session: AsyncSession, lines: Iterable[str], hash_key: str, reason: str, actor: str
) -> ListImported:
    """An agency's own do-not-contact list, brought over (``leadgen do-not-contact import``): what
    the list holds is listed, nothing more (each line stands alone)."""
    entries, invalid = list_entries(lines)
    hashes = [(kind, keyed_hash(hash_key, kind, value)) for kind, value in entries]
    # The leads are locked before the list grows, in the order an opt-out or an erasure takes the
    # same locks: the other way round, an import and a STOP for one person would deadlock. Only the
    # leads of people not listed yet: a list imported again locks nothing.
    listed = await repository.listed_among(session, sorted({value for _, value in hashes}))
    leads = await repository.leads_with_any(session, sorted({value for _, value in hashes} - listed))
    known = [value for lead in leads for _, value in repository.identity_hashes(lead)]
    listed_before = await repository.listed_among(session, known)
    added = await repository.add_many(session, hashes, reason)
    after_commit(session, partial(DO_NOT_CONTACT_ADDED.labels("import").inc, len(added)))
    of_the_added = [lead for lead in leads if any(v in added for _, v in repository.identity_hashes(lead))]
    barred = await _bar(session, of_the_added, listed_before, "import")
    result = ListImported(len(added), len(hashes) - len(added), invalid, len(barred))
    summary = {**asdict(result), "invalid_lines": len(invalid)}  # the count: a bad file has thousands
    await audit.record(session, actor, "do_not_contact.imported", "do_not_contact", None, summary)
    return result
