"""notification deliveries claim their event

A notification task sends its messages outside any transaction and records them after, so two
deliveries of one outbox event at the same moment (the queue's redelivery and the relay's) could
both send before either recorded. ``outbox.claimed_until`` lets the first delivery hold the event
while it sends; the second sends nothing. A nullable column without a default: PostgreSQL adds it
without rewriting the table.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 08:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadgen.models.base

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('outbox', sa.Column('claimed_until', leadgen.models.base.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('outbox', 'claimed_until')
