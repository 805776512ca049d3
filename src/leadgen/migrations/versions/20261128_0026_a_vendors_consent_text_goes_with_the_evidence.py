"""a vendor's consent text goes with the evidence

A consent record kept its text for good, as the vendor sent it, once its evidence was cleared: TCPA
one-to-one wording often names the person and the number called, so an erased person stayed named
by it. ``consent_records.text`` may now be NULL: when the evidence goes, the text goes with it unless
it is the quote form's own (``privacy.rules.consent_text_kept``); its SHA-256 stays, naming which
text was agreed to.

Records whose evidence the release before cleared lose their text here (the quote form's stay).
Those of leads erased before 0018 with no evidence at all got no date then, and would have kept
their text for good: the younger than five years get the date the hourly job clears them at, as
0018 dated the others. DROP NOT NULL changes the catalogue only and is committed on its own; the
records are then written in batches (by id), each committed on its own, so intake keeps writing
meanwhile. A run stopped part-way is completed by the next upgrade.

The downgrade writes an empty text where there is none (the release before requires one) and puts
NOT NULL back; the text was gone already, so nothing more is lost.

Revision ID: 0026
Revises: 0025
Create Date: 2026-11-28 17:00:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import leadgen.models.base
from leadgen.core.migrate import id_batches

revision: str = '0026'
down_revision: str | None = '0025'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEPT = timedelta(days=1827)  # privacy.rules.CONSENT_KEPT when this was written
# The SHA-256 of every text the quote form has shown (compliance.consent.CONSENT_TEXTS_BY_SHA256
# when this was written): the same words for everybody, kept.
FORM_TEXTS = ('20082815ed16cad2357cf8166e9ea8db51f77095996541e331ed0a2ea5ae5c1b',)
CONSENT_RECORDS = sa.table(
    'consent_records',
    sa.column('id', sa.Uuid()),
    sa.column('lead_id', sa.Uuid()),
    sa.column('text', sa.Text()),
    sa.column('text_sha256', sa.String()),
    sa.column('captured_at', leadgen.models.base.UTCDateTime(timezone=True)),
    sa.column('evidence_kept_until', leadgen.models.base.UTCDateTime(timezone=True)),
)
LEADS = sa.table('leads', sa.column('id', sa.Uuid()), sa.column('anonymised_at', leadgen.models.base.UTCDateTime(timezone=True)))


def _five_years_after(moment: sa.ColumnElement[datetime]) -> sa.ColumnElement[datetime]:
    """``moment + KEPT`` in SQL, as 0018 writes it: SQLite's date functions move the whole seconds of
    its text ('YYYY-MM-DD HH:MM:SS.ffffff'), and the fraction of a second is put back after them."""
    if op.get_context().dialect.name == 'sqlite':
        whole_seconds = sa.func.datetime(sa.func.substr(moment, 1, 19), f'+{KEPT.days} days')
        return sa.type_coerce(whole_seconds.concat(sa.func.substr(moment, 20)), moment.type)
    return moment + sa.literal_column(f"interval '{KEPT.days} days'", sa.Interval())


def _clear_vendor_texts(batch: sa.ColumnElement[bool], cutoff: datetime) -> None:
    """The batch's records of erased leads whose evidence went (no date to keep it until), with a
    vendor's text: those five years old lose it; younger ones get their date."""
    records = CONSENT_RECORDS.c
    cleared = sa.and_(
        batch,
        records.lead_id.in_(sa.select(LEADS.c.id).where(LEADS.c.anonymised_at.is_not(None))),
        records.evidence_kept_until.is_(None),
        records.text.is_not(None),
        records.text_sha256.not_in(FORM_TEXTS),
    )
    young, old = records.captured_at > cutoff, records.captured_at <= cutoff
    op.execute(CONSENT_RECORDS.update().where(cleared, young).values(evidence_kept_until=_five_years_after(records.captured_at)))
    op.execute(CONSENT_RECORDS.update().where(cleared, old).values(text=None))


def upgrade() -> None:
    with op.batch_alter_table('consent_records') as table:
        table.alter_column('text', existing_type=sa.Text(), nullable=True)
    cutoff = datetime.now(UTC) - KEPT
    with op.get_context().autocommit_block():  # NOT NULL is dropped first; then each batch
        for batch in id_batches(CONSENT_RECORDS.c.id):
            _clear_vendor_texts(batch, cutoff)


def _fill_missing_texts(batch: sa.ColumnElement[bool]) -> None:
    op.execute(CONSENT_RECORDS.update().where(batch, CONSENT_RECORDS.c.text.is_(None)).values(text=''))


def downgrade() -> None:
    with op.get_context().autocommit_block():
        for batch in id_batches(CONSENT_RECORDS.c.id):
            _fill_missing_texts(batch)
    # Again with NOT NULL, in its transaction: the hourly job may have cleared a text meanwhile.
    _fill_missing_texts(sa.true())
    with op.batch_alter_table('consent_records') as table:
        table.alter_column('text', existing_type=sa.Text(), nullable=False)
