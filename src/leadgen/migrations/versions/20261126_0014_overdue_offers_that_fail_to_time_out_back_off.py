"""overdue offers that fail to time out back off

The SLA sweep took the earliest overdue offers, a batch at a time; an offer whose timing out failed
(its lead's next round failed, and rolled back) stayed overdue and first in line, so a batch of
such offers held every other offer back for good. ``assignments.expiry_failures`` counts an offer's
failed tries and ``expiry_retry_at`` says when the sweep tries it again, which it passes the offer
over until; offers never tried come first.

The index on (status, expires_at) becomes one on (status, expiry_failures, expires_at): the sweep
reads the overdue offers never tried (``expiry_failures = 0``) in deadline order from it, and those
whose retry is due apart. Built CONCURRENTLY on PostgreSQL, before the old one is dropped, so routing
keeps writing offers and the sweep keeps an index meanwhile. A constant default: PostgreSQL adds the
column without rewriting the table. A run stopped part-way is completed by the next upgrade. A
downgrade drops the columns and the failures counted with them.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26 21:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadgen.models.base
from leadgen.core.migrate import add_column_if_missing, create_index_concurrently, drop_index_concurrently

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_column_if_missing('assignments', sa.Column('expiry_failures', sa.Integer(), server_default='0', nullable=False))
    add_column_if_missing('assignments', sa.Column('expiry_retry_at', leadgen.models.base.UTCDateTime(timezone=True), nullable=True))
    create_index_concurrently('ix_assignments_status_expiry_failures_expires_at', 'assignments', ['status', 'expiry_failures', 'expires_at'])
    drop_index_concurrently('ix_assignments_status_expires_at', 'assignments')


def downgrade() -> None:
    create_index_concurrently('ix_assignments_status_expires_at', 'assignments', ['status', 'expires_at'])
    drop_index_concurrently('ix_assignments_status_expiry_failures_expires_at', 'assignments')
    op.drop_column('assignments', 'expiry_retry_at')
    op.drop_column('assignments', 'expiry_failures')
