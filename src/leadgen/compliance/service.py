"""A person revokes consent: what changes, in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from leadgen.audit import repository as audit
from leadgen.compliance import repository
from leadgen.compliance.rules import BARRED_BECAUSE, DO_NOT_CONTACT, OPT_OUT_REASONS, list_entries
from leadgen.core.security import keyed_hash
from leadgen.routing import service as routing


async def opt_out(session: AsyncSession, hashes: list[tuple[str, str]], via: str, actor: str) -> list[uuid.UUID]:
    """Put the person on the do-not-contact list, by every phone number and e-mail address their
    leads give (a STOP from one number also covers the e-mail address the person gave with it).

    Each lead of theirs that nobody was barred from before gets a ``lead.opted_out`` event, and
    its open offers are withdrawn (``routing.service.withdraw_offers``). Returns those leads: none
    when the person was already listed, so a second STOP changes nothing."""
    leads = await repository.leads_of(session, hashes)
    person = sorted(set(hashes).union(*(repository.identity_hashes(lead) for lead in leads)))
    if len(person) > len(hashes):
        leads = await repository.leads_of(session, person)
    listed_before = await repository.listed_among(session, [value for _, value in person])
    added = [await repository.add(session, value, kind, OPT_OUT_REASONS[via]) for kind, value in person]
    if not any(added):
        return []
    newly_barred = [
        lead
        for lead in leads
        if lead.anonymised_at is None
        and listed_before.isdisjoint(value for _, value in repository.identity_hashes(lead))
    ]
    for lead in newly_barred:
        audit.lead_event(session, lead.id, "lead.opted_out", {"via": via})
        await routing.withdraw_offers(session, lead, BARRED_BECAUSE[DO_NOT_CONTACT])
    summary = {"via": via, "leads": len(newly_barred)}
    await audit.record(session, actor, "person.opted_out", "person", None, summary)
    return [lead.id for lead in newly_barred]


@dataclass(frozen=True)
class ListImported:
    added: int
    already_listed: int
    invalid_lines: list[int]
    leads: int  # leads of the people added that are now barred, with their open offers withdrawn


async def import_list(
    session: AsyncSession, lines: Iterable[str], hash_key: str, reason: str, actor: str
) -> ListImported:
    """An agency's own do-not-contact list, brought over (``leadgen do-not-contact import``)."""
    entries, invalid = list_entries(lines)
    hashes = [(kind, keyed_hash(hash_key, kind, value)) for kind, value in entries]
    added = await repository.add_many(session, hashes, reason)
    barred = [lead for lead in await repository.leads_with_any(session, sorted(added)) if lead.anonymised_at is None]
    for lead in barred:
        audit.lead_event(session, lead.id, "lead.opted_out", {"via": "import"})
        await routing.withdraw_offers(session, lead, BARRED_BECAUSE[DO_NOT_CONTACT])
    result = ListImported(len(added), len(hashes) - len(added), invalid, len(barred))
    await audit.record(session, actor, "do_not_contact.imported", "do_not_contact", None, asdict(result))
    return result
