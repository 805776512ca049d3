"""offers record each taker's outcome

A shared lead (a policy's ``max_agents`` above 1) may be accepted by several agents, but the
outcomes they recorded were the lead's one status: the second agent to record CONTACTED was refused,
and one agent's return took the lead from the others. ``assignments.outcome`` keeps what each agent
recorded on their own offer (CONTACTED, QUOTED, CONVERTED or LOST; NULL before any), with
``outcome_at``; the lead's status is derived from its takers' (``lifecycle.lead_status_of_takers``).

Accepted offers of leads that are CONTACTED, QUOTED, CONVERTED or LOST get the lead's status as
their outcome, dated by the lead's latest event of it. An exclusive lead has one taker, so that is
exact; for a shared lead it is the best knowledge available, as which of its agents recorded what
was kept only in the events' text. Returned offers keep no outcome.

NULL defaults: PostgreSQL adds the columns without rewriting the table. A downgrade drops them and
the outcomes with them; the leads' statuses are left as they are.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 23:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadgen.models.base

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OUTCOMES = ('CONTACTED', 'QUOTED', 'CONVERTED', 'LOST')
ASSIGNMENTS = sa.table(
    'assignments',
    sa.column('lead_id', sa.Uuid()),
    sa.column('status', sa.String()),
    sa.column('outcome', sa.String()),
    sa.column('outcome_at', leadgen.models.base.UTCDateTime(timezone=True)),
)
LEADS = sa.table('leads', sa.column('id', sa.Uuid()), sa.column('status', sa.String()))
LEAD_EVENTS = sa.table(
    'lead_events',
    sa.column('lead_id', sa.Uuid()),
    sa.column('name', sa.String()),
    sa.column('created_at', leadgen.models.base.UTCDateTime(timezone=True)),
)


def _taken_to(outcome: str) -> sa.Update:
    """The accepted offers of the leads in ``outcome``, given it, dated by the lead's event of it."""
    recorded_at = (
        sa.select(sa.func.max(LEAD_EVENTS.c.created_at))
        .where(LEAD_EVENTS.c.lead_id == ASSIGNMENTS.c.lead_id, LEAD_EVENTS.c.name == f'lead.{outcome.lower()}')
        .scalar_subquery()
    )
    leads_in_it = sa.select(LEADS.c.id).where(LEADS.c.status == outcome)
    return (
        ASSIGNMENTS.update()
        .where(ASSIGNMENTS.c.status == 'ACCEPTED', ASSIGNMENTS.c.lead_id.in_(leads_in_it))
        .values(outcome=outcome, outcome_at=recorded_at)
    )


def upgrade() -> None:
    op.add_column('assignments', sa.Column('outcome', sa.String(length=16), nullable=True))
    op.add_column('assignments', sa.Column('outcome_at', leadgen.models.base.UTCDateTime(timezone=True), nullable=True))
    for outcome in OUTCOMES:
        op.execute(_taken_to(outcome))


def downgrade() -> None:
    op.drop_column('assignments', 'outcome_at')
    op.drop_column('assignments', 'outcome')
