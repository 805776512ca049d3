"""the reports find contacts, conversions and opt-outs by name

The performance report reads a period's contacts, conversions and opt-outs from ``lead_events`` by
name, and no index had the name: each report read the whole table, four or five events per lead
ever received, and a report over a year of a busy book outlasted the dashboard's wait for it. A
partial index of those events alone, on (name, lead_id, created_at), holds a few of each lead's
events, and a lead's first contact is read from it alone. Built CONCURRENTLY on PostgreSQL, so the
pipeline keeps writing events meanwhile.

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-27 22:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from leadgen.core.migrate import create_index_concurrently, drop_index_concurrently

revision: str = '0022'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = 'ix_lead_events_name_lead_id_created_at_reported'
REPORTED = sa.text("name IN ('lead.contacted', 'lead.converted', 'lead.opted_out')")


def upgrade() -> None:
    create_index_concurrently(INDEX, 'lead_events', ['name', 'lead_id', 'created_at'], where=REPORTED)


def downgrade() -> None:
    drop_index_concurrently(INDEX, 'lead_events', where=REPORTED)
