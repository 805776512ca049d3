"""the retention purge reads the leads not anonymised by receipt

The retention purge (``LEADGEN_PRIVACY_RETENTION_DAYS``) looks for the oldest leads not anonymised
yet, every hour. Through the index on (received_at, id) it would pass over every lead it anonymised
before, which pile up at the oldest end, a few more each run; a partial index of the leads not
anonymised holds none of them. Built CONCURRENTLY on PostgreSQL, so intake keeps writing meanwhile.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-26 22:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from leadgen.core.migrate import create_index_concurrently, drop_index_concurrently

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOT_ANONYMISED = sa.text('anonymised_at IS NULL')


def upgrade() -> None:
    create_index_concurrently('ix_leads_received_at_id_unanonymised', 'leads', ['received_at', 'id'], where=NOT_ANONYMISED)


def downgrade() -> None:
    drop_index_concurrently('ix_leads_received_at_id_unanonymised', 'leads', where=NOT_ANONYMISED)
