"""leads listed and reported by received_at

The dashboard's lead list pages through every lead newest first, and the reports select a
period's leads by ``received_at``. Both read the whole table without an index on it, which grows
with every lead kept. Built CONCURRENTLY on PostgreSQL, so intake keeps writing meanwhile; with
``id`` after ``received_at``, one backward scan returns a page in the list's order.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 17:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

from leadgen.core.migrate import create_index_concurrently

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_index_concurrently('ix_leads_received_at_id', 'leads', ['received_at', 'id'])


def downgrade() -> None:
    op.drop_index('ix_leads_received_at_id', table_name='leads')
