"""outbox deliveries are counted as they claim their event

``outbox.failed_tries`` counted only the tries whose failure Python saw: a delivery whose worker
was killed in it (the kernel's OOM killer, a segfault in a C extension, a node lost) counted
nothing, so a lead that kills its worker was handed on for ever. ``claims`` counts each delivery
as it claims the event: those that neither finished it nor counted a failed try died in it, and
count as tries. ``last_error`` keeps the class of the last failed try's error (or that its
delivery died), which an offer recorded failed once its deadline passed names.

Constant defaults: PostgreSQL adds both columns without rewriting the table. The events not
processed yet start with the deliveries already counted, and the one holding a claim now (its
worker may have died in it), so that a delivery of the release before, still running or failing
as this one rolls out, is not taken for a second.

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-28 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadgen.models.base

revision: str = '0025'
down_revision: str | None = '0024'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OUTBOX = sa.table(
    'outbox',
    sa.column('processed_at', leadgen.models.base.UTCDateTime(timezone=True)),
    sa.column('claimed_until', leadgen.models.base.UTCDateTime(timezone=True)),
    sa.column('failed_tries', sa.Integer()),
    sa.column('claims', sa.Integer()),
)


def upgrade() -> None:
    op.add_column('outbox', sa.Column('claims', sa.Integer(), server_default='0', nullable=False))
    op.add_column('outbox', sa.Column('last_error', sa.String(length=64), nullable=True))
    holding = sa.case((OUTBOX.c.claimed_until.is_not(None), 1), else_=0)
    # Few rows: the unprocessed events, found by the index that leads with processed_at.
    op.execute(
        OUTBOX.update().where(OUTBOX.c.processed_at.is_(None)).values(claims=OUTBOX.c.failed_tries + holding)
    )


def downgrade() -> None:
    op.drop_column('outbox', 'last_error')
    op.drop_column('outbox', 'claims')
