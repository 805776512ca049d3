"""The funnel, performance and return reports, and the audit log (data-service)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import AwareDatetime
from sqlalchemy import func, select

from leadgen.audit import repository as audit
from leadgen.audit.schemas import AuditEntryPublic, AuditPageQuery
from leadgen.auth.deps import AdminPrincipal, StaffPrincipal
from leadgen.core.deps import SessionDep
from leadgen.core.errors import InvalidInput
from leadgen.core.http import newest_first_page_answers, next_page
from leadgen.models import Lead, Source
from leadgen.models.base import utcnow
from leadgen.reports import repository, rules
from leadgen.reports.rules import Grouping
from leadgen.reports.schemas import ReturnsReport, SourceReturnsPublic

router = APIRouter(prefix="/api/v1", tags=["reports"])


@router.get("/reports/funnel")
async def funnel(_: StaffPrincipal, session: SessionDep) -> list[dict[str, Any]]:
    """Lead counts by source, line and status (test leads left out, as in the other reports)."""
    rows = await session.execute(
        select(Source.name, Lead.line, Lead.status, func.count())
        .join(Source, Source.id == Lead.source_id)
        .where(Lead.is_test.is_(False))
        .group_by(Source.name, Lead.line, Lead.status)
        .order_by(Source.name, Lead.line, Lead.status)
    )
    return [{"source": s, "line": line, "status": st, "leads": n} for s, line, st, n in rows]


@router.get("/reports/performance")
async def performance(
    _: StaffPrincipal,
    session: SessionDep,
    by: Grouping = "source",
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
) -> dict[str, Any]:
    """Per source, campaign, line or agent, for the leads received in the period (the last 30 days
    unless given): what became of them, SLA breaches (offers left to time out), speed to first
    contact, spend and cost per lead and per conversion."""
    start, end = rules.period(since, until, utcnow())
    groups = await repository.performance(session, by, start, end)
    return {"by": by, "since": start, "until": end, "rows": [group.as_row() for group in groups]}


@router.get("/reports/returns")
async def return_rates(
    _: StaffPrincipal,
    session: SessionDep,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
) -> ReturnsReport:
    """Per source, for the leads received in the period (the last 30 days unless given, as the
    performance report's): the leads agents accepted, those credited (returned by every agent who
    took them) and the return rate between them, the offers accepted and returned (a shared lead's
    once per agent), and the top reason. A source's credits for a month are the credited leads
    among that month's leads."""
    start, end = rules.period(since, until, utcnow())
    rows = await repository.return_rates(session, start, end)
    return ReturnsReport(since=start, until=end, rows=[SourceReturnsPublic.model_validate(row) for row in rows])


@router.get("/audit", responses=newest_first_page_answers("entries"))
async def audit_log(
    _: AdminPrincipal,
    session: SessionDep,
    query: Annotated[AuditPageQuery, Query()],
    request: Request,
    response: Response,
) -> list[AuditEntryPublic]:
    """The audit log (admin actions and access to personal data), newest first, ``limit`` entries at
    a time, filtered by time, actor, action and subject. The next page is ``before`` the ``id`` of
    the last entry, with the same filters: the ``Link`` header names it while there are more."""
    before = None if query.before is None else await audit.position(session, query.before)
    if query.before is not None and before is None:
        raise InvalidInput("before names no audit entry", [{"field": "query.before", "reason": "names no audit entry"}])
    # One entry more than the page says whether another page follows.
    entries = await audit.listing(session, query, query.limit + 1, before)
    return [AuditEntryPublic.model_validate(entry) for entry in next_page(request, response, entries, query.limit)]
