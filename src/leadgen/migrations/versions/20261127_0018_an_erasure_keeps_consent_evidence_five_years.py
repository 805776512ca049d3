"""an erasure keeps consent evidence five years

A consent record is kept unchanged five years, but an erasure request cleared the IP address it was
given from at once, however young the record, and kept its page, TrustedForm certificate and Jornaya
LeadiD for good. Now an anonymised lead's consent record keeps that evidence until it is five years
old, when an hourly job clears it: ``consent_records.evidence_kept_until`` says when, indexed only
where set, so the job reads the few records waiting and nothing else.

The records of leads erased before this release get their date here (or lose what is left of their
evidence at once, when five years old already). The column is added and committed on its own (a
change of the catalogue only), so its lock on ``consent_records`` is held for a moment; the records
are then dated in batches (by id), each committed on its own, and the index is built CONCURRENTLY on
PostgreSQL, so intake keeps writing meanwhile. A run stopped part-way is completed by the next
upgrade: only records with evidence and no date yet are written.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-27 12:00:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import leadgen.models.base
from leadgen.core.migrate import add_column_if_missing, create_index_concurrently, drop_index_concurrently, id_batches

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


def _five_years_after(moment: sa.ColumnElement[datetime]) -> sa.ColumnElement[datetime]:
    """``moment + KEPT`` in SQL. SQLite keeps the time as text ('YYYY-MM-DD HH:MM:SS.ffffff'): the
    date functions move its whole seconds, and its fraction of a second is put back after them."""
    if op.get_context().dialect.name == 'sqlite':
        whole_seconds = sa.func.datetime(sa.func.substr(moment, 1, 19), f'+{KEPT.days} days')
        return sa.type_coerce(whole_seconds.concat(sa.func.substr(moment, 20)), moment.type)
    return moment + sa.literal_column(f"interval '{KEPT.days} days'", sa.Interval())


def _date_the_erased(batch: sa.ColumnElement[bool], cutoff: datetime) -> None:
    """The batch's records of erased leads with evidence and no date yet: those captured after
    ``cutoff`` (five years ago) keep their evidence until they are five years old; the others lose it."""
    records = CONSENT_RECORDS.c
    erased = sa.and_(
        batch,
        records.lead_id.in_(sa.select(LEADS.c.id).where(LEADS.c.anonymised_at.is_not(None))),
        records.evidence_kept_until.is_(None),
        sa.or_(*(records[name].is_not(None) for name in EVIDENCE)),
    )
    young, old = records.captured_at > cutoff, records.captured_at <= cutoff
    op.execute(CONSENT_RECORDS.update().where(erased, young).values(evidence_kept_until=_five_years_after(records.captured_at)))
    op.execute(CONSENT_RECORDS.update().where(erased, old).values(dict.fromkeys(EVIDENCE)))


def upgrade() -> None:
    add_column_if_missing('consent_records', sa.Column('evidence_kept_until', leadgen.models.base.UTCDateTime(timezone=True), nullable=True))
    cutoff = datetime.now(UTC) - KEPT
    with op.get_context().autocommit_block():  # the column is committed first; then each batch
        for batch in id_batches(CONSENT_RECORDS.c.id):
            _date_the_erased(batch, cutoff)
    create_index_concurrently(INDEX, 'consent_records', ['evidence_kept_until'], where=WAITING)


def downgrade() -> None:
    drop_index_concurrently(INDEX, 'consent_records', where=WAITING)
    op.drop_column('consent_records', 'evidence_kept_until')
