"""the retention purge goes on where its last run stopped

The hourly retention purge started again from the oldest lead not anonymised every run, and asked
of every lead older than the cutoff whether its person was still active before taking a batch: on
600,000 leads that took seconds a run, growing with the book, and people kept by recent activity,
or whose purge failed, were looked at again every hour. It now reads a window of leads at a time
and keeps its place between runs in ``sweep_cursors``: one row per job that walks the leads, the
last lead it looked at by (received_at, id). An empty table is a purge starting from the oldest,
so the upgrade needs no data, and a downgrade loses only the place.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-27 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadgen.models.base

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('sweep_cursors',
    sa.Column('job', sa.String(length=64), nullable=False),
    sa.Column('received_at', leadgen.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('lead_id', sa.Uuid(), nullable=False),
    sa.Column('updated_at', leadgen.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('job', name=op.f('pk_sweep_cursors'))
    )


def downgrade() -> None:
    op.drop_table('sweep_cursors')
