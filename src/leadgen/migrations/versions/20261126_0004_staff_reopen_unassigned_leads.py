"""staff reopen unassigned leads

An UNASSIGNED lead can be put back into routing by an admin or manager (after agents were added,
licensed or freed up). ``reopenings`` counts how often, and keys each admin alert of the lead, so
a lead left unassigned twice alerts twice. ``attempts_before_reopening`` holds the rounds the lead
had at its last reopening: the campaign's attempt limit counts only the rounds after it. Both
columns have a constant default, which PostgreSQL adds without rewriting the table.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 08:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


COLUMNS = ('reopenings', 'attempts_before_reopening')


def upgrade() -> None:
    for name in COLUMNS:
        op.add_column('leads', sa.Column(name, sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    # Plain ALTER TABLE on SQLite too (3.35+ drops a column in place): batch mode would rebuild
    # ``leads``, which every lead table's foreign key refers to.
    for name in reversed(COLUMNS):
        op.drop_column('leads', name)
