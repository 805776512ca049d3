"""offers record each taker's outcome

A shared lead (a policy's ``max_agents`` above 1) may be accepted by several agents, but the
outcomes they recorded were the lead's one status: the second agent to record CONTACTED was refused,
and one agent's return took the lead from the others. ``assignments.outcome`` keeps what each agent
recorded on their own offer (CONTACTED, QUOTED, CONVERTED or LOST; NULL before any), with
``outcome_at``; the lead's status is derived from its takers' (``lifecycle.lead_status_of_takers``).

Each accepted offer gets the furthest outcome its own agent recorded on the lead (the ``lead.<outcome>``
events name the agent), dated by that event. An accepted offer of an exclusive lead with no such
event gets the lead's status, as before. An agent who only accepted a shared lead that another
agent worked keeps no outcome. Returned offers keep no outcome. With ``--sql`` only the exclusive
leads are filled in: the events are read here, in Python (``agent_id`` is JSON text, compared with
a UUID column stored differently by each database).

Accepted offers no longer being worked are closed (``closed_at``), as recording CONVERTED or LOST
now closes its own offer: before, only the recording agent's offer was closed, and the open-lead
cap then read the lead's status, which it no longer does. That covers the other takers of a
CONVERTED, LOST or (by another agent) RETURNED lead, and offers whose outcome is final.

NULL defaults: PostgreSQL adds the columns without rewriting the table. They are committed on their
own, so their lock on ``assignments`` is held for a moment only; the outcomes are then written in
batches, each committed on its own, while routing keeps writing offers. The agents' events are read
a batch of leads at a time (a lead's events all fall in its batch): all of them at once outgrew the
migration Job's memory at some 150,000 worked leads, and every retry read them all again. A run
stopped part-way is completed by the next upgrade: the columns are added only when missing, the
events give the same outcomes again, and only offers with no outcome, or not closed, are written
from the leads. A downgrade drops the columns and the outcomes with them; the leads' statuses are
left as they are.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 23:40:00.000000
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import context, op

import leadgen.models.base
from leadgen.core.migrate import BATCH_ROWS, add_column_if_missing, id_batches

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OUTCOMES = ('CONTACTED', 'QUOTED', 'CONVERTED', 'LOST')  # in the order an agent moves through them
ASSIGNMENTS = sa.table(
    'assignments',
    sa.column('id', sa.Uuid()),
    sa.column('lead_id', sa.Uuid()),
    sa.column('agent_id', sa.Uuid()),
    sa.column('status', sa.String()),
    sa.column('outcome', sa.String()),
    sa.column('outcome_at', leadgen.models.base.UTCDateTime(timezone=True)),
    sa.column('closed_at', leadgen.models.base.UTCDateTime(timezone=True)),
)
LEADS = sa.table(
    'leads', sa.column('id', sa.Uuid()), sa.column('status', sa.String()), sa.column('exclusive', sa.Boolean())
)
LEAD_EVENTS = sa.table(
    'lead_events',
    sa.column('lead_id', sa.Uuid()),
    sa.column('name', sa.String()),
    sa.column('data', sa.JSON()),
    sa.column('created_at', leadgen.models.base.UTCDateTime(timezone=True)),
)
EVENT_OF = {f'lead.{outcome.lower()}': outcome for outcome in OUTCOMES}


def _from_each_agents_events(connection: sa.Connection, leads: sa.ColumnElement[bool]) -> None:
    """The furthest outcome each agent recorded on each of ``leads`` (a batch of them), onto that
    agent's accepted offer. A lead's events are all in its batch, so a batch holds all it needs."""
    events = connection.execute(
        sa.select(LEAD_EVENTS.c.lead_id, LEAD_EVENTS.c.name, LEAD_EVENTS.c.data, LEAD_EVENTS.c.created_at)
        .join(LEADS, LEADS.c.id == LEAD_EVENTS.c.lead_id)
        .where(leads, LEAD_EVENTS.c.name.in_(list(EVENT_OF)))
        .order_by(LEAD_EVENTS.c.created_at)
    )
    furthest: dict[tuple[uuid.UUID, uuid.UUID], tuple[str, datetime]] = {}
    for lead_id, name, data, at in events:
        agent = (data or {}).get('agent_id')
        if not agent:
            continue
        outcome, key = EVENT_OF[name], (lead_id, uuid.UUID(agent))
        if key not in furthest or OUTCOMES.index(outcome) >= OUTCOMES.index(furthest[key][0]):
            furthest[key] = (outcome, at)
    recorded = [
        {'the_lead': lead, 'the_agent': agent, 'the_outcome': outcome, 'recorded_at': at}
        for (lead, agent), (outcome, at) in furthest.items()
    ]
    by_lead_and_agent = (
        ASSIGNMENTS.update()
        .where(
            ASSIGNMENTS.c.lead_id == sa.bindparam('the_lead'),
            ASSIGNMENTS.c.agent_id == sa.bindparam('the_agent'),
            ASSIGNMENTS.c.status == 'ACCEPTED',
        )
        .values(outcome=sa.bindparam('the_outcome'), outcome_at=sa.bindparam('recorded_at'))
    )
    for start in range(0, len(recorded), BATCH_ROWS):
        connection.execute(by_lead_and_agent, recorded[start:start + BATCH_ROWS])


def _exclusive_taken_to(outcome: str, batch: sa.ColumnElement[bool]) -> sa.Update:
    """Accepted offers of the batch's exclusive leads in ``outcome`` that no event filled in, given
    it, dated by the lead's event of it."""
    recorded_at = (
        sa.select(sa.func.max(LEAD_EVENTS.c.created_at))
        .where(LEAD_EVENTS.c.lead_id == ASSIGNMENTS.c.lead_id, LEAD_EVENTS.c.name == f'lead.{outcome.lower()}')
        .scalar_subquery()
    )
    leads_in_it = sa.select(LEADS.c.id).where(LEADS.c.status == outcome, LEADS.c.exclusive.is_(True))
    return (
        ASSIGNMENTS.update()
        .where(
            batch,
            ASSIGNMENTS.c.status == 'ACCEPTED',
            ASSIGNMENTS.c.outcome.is_(None),
            ASSIGNMENTS.c.lead_id.in_(leads_in_it),
        )
        .values(outcome=outcome, outcome_at=recorded_at)
    )


def _close_what_nobody_works(batch: sa.ColumnElement[bool]) -> sa.Update:
    finished_leads = sa.select(LEADS.c.id).where(LEADS.c.status.in_(['CONVERTED', 'LOST', 'RETURNED']))
    return (
        ASSIGNMENTS.update()
        .where(
            batch,
            ASSIGNMENTS.c.status == 'ACCEPTED',
            ASSIGNMENTS.c.closed_at.is_(None),
            sa.or_(ASSIGNMENTS.c.outcome.in_(['CONVERTED', 'LOST']), ASSIGNMENTS.c.lead_id.in_(finished_leads)),
        )
        .values(closed_at=sa.func.coalesce(ASSIGNMENTS.c.outcome_at, datetime.now(UTC)))
    )


def upgrade() -> None:
    add_column_if_missing('assignments', sa.Column('outcome', sa.String(length=16), nullable=True))
    add_column_if_missing('assignments', sa.Column('outcome_at', leadgen.models.base.UTCDateTime(timezone=True), nullable=True))
    with op.get_context().autocommit_block():  # the columns are committed first; then each batch
        if not context.is_offline_mode():
            for leads in id_batches(LEADS.c.id):
                _from_each_agents_events(op.get_bind(), leads)
        for batch in id_batches(ASSIGNMENTS.c.id):
            for outcome in OUTCOMES:
                op.execute(_exclusive_taken_to(outcome, batch))
            op.execute(_close_what_nobody_works(batch))


def downgrade() -> None:
    op.drop_column('assignments', 'outcome_at')
    op.drop_column('assignments', 'outcome')
