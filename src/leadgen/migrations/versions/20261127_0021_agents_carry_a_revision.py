"""agents carry a revision

Two admins changing one agent at once overwrote each other: the dashboard read the agent, compared
the fields, then sent its change, and a change landing in between was lost. ``agents.revision``
counts the changes staff made to an agent; the API hands it out as the agent's ETag and refuses a
change sent with ``If-Match`` of an older one (412), so a client can change an agent only as it saw
it. Routing's own writes to the row (the last offer's time) do not count: they are not changes to
the agent, and would make every busy agent's form out of date.

NOT NULL with a constant default: PostgreSQL adds the column without rewriting the table, and every
agent starts at revision 1. A downgrade drops the column.

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-27 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from leadgen.core.migrate import add_column_if_missing

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_column_if_missing('agents', sa.Column('revision', sa.Integer(), server_default='1', nullable=False))


def downgrade() -> None:
    op.drop_column('agents', 'revision')
