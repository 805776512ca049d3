"""routing load counts read today's and open offers only

Routing counts each candidate agent's open offers and today's offers for every lead. Accepted
assignments stay ACCEPTED after their lead is converted or lost, so the open count read the
agent's whole history: ``closed_at`` marks them, and a partial index leaves them out. Today's
offers were found by scanning every assignment: an index on (agent_id, created_at) reads today's.
The column is committed first; the accepted offers of ended leads are then closed in batches, each
committed on its own, and the indexes are built CONCURRENTLY on PostgreSQL, so routing keeps writing
offers meanwhile. A run that stopped part-way is completed by the next upgrade.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 04:42:00.991221
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import leadgen.models.base
from leadgen.core.migrate import add_column_if_missing, create_index_concurrently, id_batches

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNCLOSED = sa.text('closed_at IS NULL')


def upgrade() -> None:
    add_column_if_missing('assignments', sa.Column('closed_at', leadgen.models.base.UTCDateTime(timezone=True), nullable=True))
    assignments = sa.table(
        'assignments',
        sa.column('id', sa.Uuid()),
        sa.column('lead_id', sa.Uuid()),
        sa.column('status', sa.String()),
        sa.column('closed_at', leadgen.models.base.UTCDateTime(timezone=True)),
    )
    leads = sa.table('leads', sa.column('id', sa.Uuid()), sa.column('status', sa.String()))
    ended = sa.select(leads.c.id).where(leads.c.status.in_(['CONVERTED', 'LOST']))
    closed_at = datetime.now(UTC)
    with op.get_context().autocommit_block():
        for batch in id_batches(assignments.c.id):
            op.execute(
                assignments.update()
                .where(batch, assignments.c.status == 'ACCEPTED', assignments.c.closed_at.is_(None), assignments.c.lead_id.in_(ended))
                .values(closed_at=closed_at)
            )
    create_index_concurrently('ix_assignments_agent_id_status_unclosed', 'assignments', ['agent_id', 'status'], where=UNCLOSED)
    create_index_concurrently('ix_assignments_agent_id_created_at', 'assignments', ['agent_id', 'created_at'])


def downgrade() -> None:
    op.drop_index('ix_assignments_agent_id_created_at', table_name='assignments')
    op.drop_index('ix_assignments_agent_id_status_unclosed', table_name='assignments', postgresql_where=UNCLOSED, sqlite_where=UNCLOSED)
    with op.batch_alter_table('assignments') as batch:
        batch.drop_column('closed_at')
