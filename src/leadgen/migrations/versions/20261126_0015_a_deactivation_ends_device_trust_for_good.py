"""a deactivation ends device trust for good

A device token was bound to the user's password hash only, and refused while the user was inactive:
an admin who deactivated a user and reactivated them later made every device of before trusted
again. ``users.device_version`` is bound into each token; deactivating or reactivating the user
moves it on, and a token bound to an older version is refused. A constant default: PostgreSQL adds
the column without rewriting the table. A token bound to version 0, where every user starts, is the
token of the release before, so the upgrade leaves every device trusted. A downgrade drops the
column and the old rule with it: tokens of before a deactivation are trusted again, and those
issued since a reactivation are refused until their device signs in again.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-26 21:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('users', sa.Column('device_version', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    op.drop_column('users', 'device_version')
