"""users revoke their access tokens

An access token stayed valid until it expired, whatever happened meanwhile: a user who signed out,
was deactivated or was given another role kept every token issued before. ``users.token_version``
is written into each token; signing out, deactivating the user or changing the role moves it on,
and a token naming an older version is refused. A constant default: PostgreSQL adds the column
without rewriting the table. Every user starts at version 0, and tokens issued before the upgrade
(which name no version) are read as version 0: they keep working until their user's first
revocation moves the version on, so nobody is signed out by a rolling upgrade.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 19:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('users', sa.Column('token_version', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    op.drop_column('users', 'token_version')
