"""staff reopen unassigned leads

An UNASSIGNED lead can be put back into routing by an admin or manager (after agents were added,
licensed or freed up). ``reopenings`` counts how often, and keys each admin alert of the lead, so
a lead left unassigned twice alerts twice. ``attempts_before_reopening`` holds the rounds the lead
had at its last reopening: the campaign's attempt limit counts only the rounds after it. Both
columns have a constant default, which PostgreSQL adds without rewriting the table. On downgrade
(online), a reopened lead still waiting for its round is UNASSIGNED again, its ``lead.reopened``
event done, and queued alerts are keyed by the bare lead id the previous release reads.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 08:10:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import context, op

import leadgen.models.base

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


COLUMNS = ('reopenings', 'attempts_before_reopening')
LEADS = sa.table('leads', sa.column('status', sa.String()), sa.column('status_reason', sa.String()),
                 sa.column('reopenings', sa.Integer()))
OUTBOX = sa.table(
    'outbox',
    sa.column('id', sa.Uuid()),
    sa.column('topic', sa.String()),
    sa.column('key', sa.String()),
    sa.column('processed_at', leadgen.models.base.UTCDateTime(timezone=True)),
)


def upgrade() -> None:
    for name in COLUMNS:
        op.add_column('leads', sa.Column(name, sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    if not context.is_offline_mode():
        waiting = sa.and_(LEADS.c.status == 'SCORED', LEADS.c.reopenings > 0)
        op.execute(LEADS.update().where(waiting).values(status='UNASSIGNED', status_reason='reopening undone by a downgrade'))
        queued = OUTBOX.c.processed_at.is_(None)
        op.execute(OUTBOX.update().where(OUTBOX.c.topic == 'lead.reopened', queued).values(processed_at=datetime.now(UTC)))
        alerts = sa.select(OUTBOX.c.id, OUTBOX.c.key).where(OUTBOX.c.topic == 'lead.unassigned', queued, OUTBOX.c.key.contains(':'))
        for event_id, key in op.get_bind().execute(alerts).all():
            op.execute(OUTBOX.update().where(OUTBOX.c.id == event_id).values(key=key.split(':', 1)[0]))
    # Plain ALTER TABLE on SQLite too (3.35+ drops a column in place): batch mode would rebuild
    # ``leads``, which every lead table's foreign key refers to.
    for name in reversed(COLUMNS):
        op.drop_column('leads', name)
