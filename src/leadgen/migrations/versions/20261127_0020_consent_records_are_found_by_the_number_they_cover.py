"""consent records are found by the number they cover

A consent record named its lead and nothing else, and an erasure clears the lead's keyed hashes: a
complaint about a call, naming the number called, could not be answered with the consent evidence
kept five years for it. ``consent_records`` now keeps the lead's keyed phone and e-mail hashes and
the phone's extension (``phone_hash``, ``email_hash``, ``phone_extension``), written at intake and
cleared with the rest of the evidence when it goes; an export by the number or the address finds
the records by them (indexed), those of erased leads too.

The records of leads not anonymised take their lead's here; those of leads anonymised before have
nothing left to take. The columns are added and committed on their own (a change of the catalogue
only: nullable, no default), so their lock on ``consent_records`` is held for a moment; the records
are then filled in batches (by id), each committed on its own, and the indexes are built
CONCURRENTLY on PostgreSQL, so intake keeps writing meanwhile. A run stopped part-way is completed
by the next upgrade: only records with neither hash yet are written. A record stored by a pod of
the previous release during the rollout gets its lead's hashes when the lead is anonymised
(``privacy.service.anonymise``).

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-27 20:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadgen.models.base
from leadgen.core.migrate import add_column_if_missing, create_index_concurrently, drop_index_concurrently, id_batches

revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IDENTITY = ('phone_hash', 'email_hash', 'phone_extension')
INDEXED = ('phone_hash', 'email_hash')
CONSENT_RECORDS = sa.table(
    'consent_records',
    sa.column('id', sa.Uuid()),
    sa.column('lead_id', sa.Uuid()),
    *(sa.column(name, sa.String()) for name in IDENTITY),
)
LEADS = sa.table(
    'leads',
    sa.column('id', sa.Uuid()),
    sa.column('anonymised_at', leadgen.models.base.UTCDateTime(timezone=True)),
    *(sa.column(name, sa.String()) for name in IDENTITY),
)


def _fill(batch: sa.ColumnElement[bool]) -> None:
    """The batch's records of leads not anonymised that have neither hash yet take their lead's."""
    records = CONSENT_RECORDS.c
    lead = LEADS.alias('lead')

    def of_the_lead(name: str) -> sa.ScalarSelect[str]:
        return sa.select(lead.c[name]).where(lead.c.id == records.lead_id).scalar_subquery()

    waiting = sa.and_(
        batch,
        records.phone_hash.is_(None),
        records.email_hash.is_(None),
        records.lead_id.in_(sa.select(LEADS.c.id).where(LEADS.c.anonymised_at.is_(None))),
    )
    op.execute(CONSENT_RECORDS.update().where(waiting).values({name: of_the_lead(name) for name in IDENTITY}))


def upgrade() -> None:
    add_column_if_missing('consent_records', sa.Column('phone_hash', sa.String(length=64), nullable=True))
    add_column_if_missing('consent_records', sa.Column('email_hash', sa.String(length=64), nullable=True))
    add_column_if_missing('consent_records', sa.Column('phone_extension', sa.String(length=10), nullable=True))
    with op.get_context().autocommit_block():  # the columns are committed first; then each batch
        for batch in id_batches(CONSENT_RECORDS.c.id):
            _fill(batch)
    for name in INDEXED:
        create_index_concurrently(f'ix_consent_records_{name}', 'consent_records', [name])


def downgrade() -> None:
    for name in INDEXED:
        drop_index_concurrently(f'ix_consent_records_{name}', 'consent_records')
    for name in reversed(IDENTITY):
        op.drop_column('consent_records', name)
