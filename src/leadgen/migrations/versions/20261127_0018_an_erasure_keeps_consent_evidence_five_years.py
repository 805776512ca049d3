"""an erasure keeps consent evidence five years

A consent record is kept unchanged five years, but an erasure request cleared the IP address it was
given from at once, however young the record, and kept its page, TrustedForm certificate and Jornaya
LeadiD for good. Now an anonymised lead's consent record keeps that evidence until it is five years
old, when an hourly job clears it: ``consent_records.evidence_kept_until`` says when, indexed only
where set, so the job reads the few records waiting and nothing else.

The records of leads erased before this release get their date here (or lose what is left of their
evidence at once, when five years old already). The index is built CONCURRENTLY on PostgreSQL, after
the column is added on its own (a change of the catalogue only), so intake keeps writing meanwhile.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-27 12:00:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import leadgen.models.base

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = 'ix_consent_records_evidence_kept_until'
WAITING = sa.text('evidence_kept_until IS NOT NULL')
KEPT = timedelta(days=1827)  # privacy.rules.CONSENT_KEPT when this was written
EVIDENCE = ('ip_address', 'page_url', 'trustedform_cert_url', 'jornaya_leadid')
CONSENT_RECORDS = sa.table(
    'consent_records',
    sa.column('id', sa.Uuid()),
    sa.column('lead_id', sa.Uuid()),
    sa.column('captured_at', leadgen.models.base.UTCDateTime(timezone=True)),
    sa.column('evidence_kept_until', leadgen.models.base.UTCDateTime(timezone=True)),
    *(sa.column(name, sa.String()) for name in EVIDENCE),
)
LEADS = sa.table('leads', sa.column('id', sa.Uuid()), sa.column('anonymised_at', leadgen.models.base.UTCDateTime(timezone=True)))


def _date_the_erased() -> None:
    records = CONSENT_RECORDS.c
    erased = sa.select(records.id, records.captured_at).where(
        records.lead_id.in_(sa.select(LEADS.c.id).where(LEADS.c.anonymised_at.is_not(None))),
        records.evidence_kept_until.is_(None),
        sa.or_(*(records[name].is_not(None) for name in EVIDENCE)),
    )
    now = datetime.now(UTC)
    connection = op.get_bind()
    for record_id, captured_at in connection.execute(erased).all():
        kept_until = captured_at + KEPT
        values = {'evidence_kept_until': kept_until} if kept_until > now else dict.fromkeys(EVIDENCE)
        connection.execute(CONSENT_RECORDS.update().where(records.id == record_id).values(**values))


def upgrade() -> None:
    op.add_column('consent_records', sa.Column('evidence_kept_until', leadgen.models.base.UTCDateTime(timezone=True), nullable=True))
    _date_the_erased()
    with op.get_context().autocommit_block():
        op.create_index(INDEX, 'consent_records', ['evidence_kept_until'], unique=False, postgresql_where=WAITING, sqlite_where=WAITING, postgresql_concurrently=True)


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index(INDEX, table_name='consent_records', postgresql_where=WAITING, sqlite_where=WAITING, postgresql_concurrently=True)
    op.drop_column('consent_records', 'evidence_kept_until')
