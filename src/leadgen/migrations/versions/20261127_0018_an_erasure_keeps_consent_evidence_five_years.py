"""an erasure keeps consent evidence five years

A consent record is kept unchanged five years, but an erasure request cleared the IP address it was
given from at once, however young the record. Now an anonymised lead's consent record keeps its
evidence (IP address, page, TrustedForm certificate, Jornaya LeadiD) until it is five years old,
when an hourly job clears it: ``consent_records.evidence_kept_until`` says when, indexed only where
set, so the job reads the few records waiting and nothing else. Records erased before this release
have already lost their IP address; nothing to do for them, so the upgrade needs no data.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-27 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadgen.models.base

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = sa.text('evidence_kept_until IS NOT NULL')


def upgrade() -> None:
    op.add_column('consent_records', sa.Column('evidence_kept_until', leadgen.models.base.UTCDateTime(timezone=True), nullable=True))
    op.create_index('ix_consent_records_evidence_kept_until', 'consent_records', ['evidence_kept_until'], unique=False, postgresql_where=WAITING, sqlite_where=WAITING)


def downgrade() -> None:
    op.drop_index('ix_consent_records_evidence_kept_until', table_name='consent_records', postgresql_where=WAITING, sqlite_where=WAITING)
    op.drop_column('consent_records', 'evidence_kept_until')
