"""the reports find withdrawn opt-outs by name

The performance report leaves out an opt-out an admin took off the list as listed by mistake
(``lead.opt_out_withdrawn``, written from this release on), and reads those events by name like
the contacts, conversions and opt-outs of 0022. Its partial index is built again with the new name
in it, under a name of its own (CONCURRENTLY on PostgreSQL, so the pipeline keeps writing events
meanwhile), and then 0022's is dropped: the reports have an index at every moment.

Revision ID: 0027
Revises: 0026
Create Date: 2026-11-28 02:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from leadgen.core.migrate import create_index_concurrently, drop_index_concurrently

revision: str = '0027'
down_revision: str | None = '0026'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ['name', 'lead_id', 'created_at']
BEFORE = 'ix_lead_events_name_lead_id_created_at_reported'
REPORTED_BEFORE = sa.text("name IN ('lead.contacted', 'lead.converted', 'lead.opted_out')")
INDEX = 'ix_lead_events_reported_name_lead_id_created_at'
REPORTED = sa.text("name IN ('lead.contacted', 'lead.converted', 'lead.opted_out', 'lead.opt_out_withdrawn')")


def upgrade() -> None:
    create_index_concurrently(INDEX, 'lead_events', COLUMNS, where=REPORTED)
    drop_index_concurrently(BEFORE, 'lead_events', where=REPORTED_BEFORE)


def downgrade() -> None:
    create_index_concurrently(BEFORE, 'lead_events', COLUMNS, where=REPORTED_BEFORE)
    drop_index_concurrently(INDEX, 'lead_events', where=REPORTED)
