"""outbox events count failed tries

A delivery whose message failed in a way worth a retry (a mail server answering 4xx, an SMS
provider down) gives up its claim and holds the relay off; ``outbox.failed_tries`` counts those
tries, so that the message is recorded failed after the last one instead of being retried for
ever. The relay's own hand-offs (``dispatch_count``) also happen after a lost message or a dead
worker, so they cannot tell. A constant default: PostgreSQL adds the column without rewriting
the table.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 15:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('outbox', sa.Column('failed_tries', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    op.drop_column('outbox', 'failed_tries')
