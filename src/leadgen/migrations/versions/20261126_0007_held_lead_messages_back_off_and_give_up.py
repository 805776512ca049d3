"""held lead messages back off and give up

A lead message held for the person's contact window is sent by the sweep once the window opens; a
fault worth a retry (the mail server or SMS provider down) left it due at the next sweep, every
minute, for ever. ``notifications.failed_sends`` counts those faults, so that the wait doubles and
the message is recorded failed after the last try. A constant default: PostgreSQL adds the column
without rewriting the table.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 10:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('notifications', sa.Column('failed_sends', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    op.drop_column('notifications', 'failed_sends')
