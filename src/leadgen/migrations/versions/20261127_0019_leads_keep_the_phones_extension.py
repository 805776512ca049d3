"""leads keep the phone's extension

Intake stored a phone number in E.164, which has no extension: "(512) 555-0100 ext. 101" and
"... ext. 202" were one number, so two people at one switchboard were one person to dedupe (the
second lead a DUPLICATE of the first), and the agent lost the extension that reaches the person.
``leads.phone_extension`` keeps it, in digits, beside the number; dedupe tells apart two leads of
one number whose extensions differ.

Nullable and with no default: PostgreSQL adds the column without rewriting the table. Leads stored
before it keep none: the extension was never stored, so there is nothing to fill in. A downgrade
drops the column and the extensions with it.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-27 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from leadgen.core.migrate import add_column_if_missing

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_column_if_missing('leads', sa.Column('phone_extension', sa.String(length=10), nullable=True))


def downgrade() -> None:
    op.drop_column('leads', 'phone_extension')
