"""a source's external_id names one lead

A vendor retries a lead after a timeout with the same ``external_id``; intake answers the retry
with the lead stored the first time (``leads.service.receive``), and a unique index on (source_id,
external_id), over the leads that carry one, settles two requests that arrive at once.

A blank external_id ("" or spaces) is no id: it is set to NULL first, so that the leads sent with
one, of different people, are not taken for repeats of each other. Leads stored before it may
repeat a source's id (each retry was stored as a lead of its own, and became a DUPLICATE). In each
such group the earliest received lead keeps the id, the lead the vendor was first answered with,
and the later ones lose it (``external_id`` set to NULL); nothing else of them changes. A downgrade
drops the index and does not give those ids back.

Built CONCURRENTLY on PostgreSQL, so intake keeps writing meanwhile. Pods of the release before
this one may still store a retry between the clearing and the build; the build then fails and
leaves an invalid index behind (as does a build that was interrupted), which is dropped before the
repeats are cleared again and the build is tried again.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from leadgen.core.migrate import create_index_concurrently, drop_index_concurrently

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = 'uq_leads_source_id_external_id'
CARRIES_ONE = sa.text('external_id IS NOT NULL')
BUILD_ATTEMPTS = 5
LEADS = sa.table(
    'leads',
    sa.column('id', sa.Uuid()),
    sa.column('source_id', sa.Uuid()),
    sa.column('external_id', sa.String()),
    sa.column('received_at', sa.DateTime(timezone=True)),
)


def _clear_blank_ids() -> sa.Update:
    """A blank id (intake strips whitespace, so spaces at most) is no id."""
    return LEADS.update().where(sa.func.trim(LEADS.c.external_id) == '').values(external_id=None)


def _clear_later_repeats() -> sa.Update:
    """Every lead but the earliest of its source with its external_id loses the id."""
    place = sa.func.row_number().over(
        partition_by=(LEADS.c.source_id, LEADS.c.external_id), order_by=(LEADS.c.received_at, LEADS.c.id)
    )
    ranked = sa.select(LEADS.c.id, place.label('place')).where(LEADS.c.external_id.is_not(None)).subquery()
    later = sa.select(ranked.c.id).where(ranked.c.place > 1)
    return LEADS.update().where(LEADS.c.id.in_(later)).values(external_id=None)


def upgrade() -> None:
    for _ in range(BUILD_ATTEMPTS):
        # What a failed build left: PostgreSQL keeps the index, invalid, under its name, and may go
        # on checking new leads against it.
        drop_index_concurrently(INDEX, 'leads', where=CARRIES_ONE)
        with op.get_context().autocommit_block():
            op.execute(_clear_blank_ids())
            op.execute(_clear_later_repeats())
        try:
            create_index_concurrently(INDEX, 'leads', ['source_id', 'external_id'], unique=True, where=CARRIES_ONE)
            return
        except sa.exc.IntegrityError:
            continue  # a repeat was stored after the clearing
    raise RuntimeError(f'{INDEX}: repeats of external ids kept arriving during {BUILD_ATTEMPTS} builds; run again')


def downgrade() -> None:
    op.drop_index(INDEX, table_name='leads', postgresql_where=CARRIES_ONE, sqlite_where=CARRIES_ONE)
