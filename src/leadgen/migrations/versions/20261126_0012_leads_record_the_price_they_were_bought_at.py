"""leads record the price they were bought at

The reports priced every lead at its source's current ``cost_per_lead_cents``, so a change of the
price rewrote the spend of every lead bought before it. ``leads.price_cents`` keeps the price a lead
was bought at: intake records the source's price when it receives the lead
(``leads.service.receive``), and the reports add those up.

Leads stored before it are priced at their source's price at the time of the upgrade, the best
knowledge there is: what a source cost before its last change was never recorded. Leads of sources
priced 0 keep the column's default and are not written at all.

A constant default: PostgreSQL adds the column without rewriting the table. The backfill then runs
in batches of ``BATCH`` leads (by id), each committed on its own, because ``leads`` holds every lead
an agency ever bought (millions, for a busy one): one UPDATE of all of it would hold every lead's
row lock until it ends (the pipeline locks the lead it works on, and would wait) and leave the
whole table's old row versions for vacuum at once. A backfill stopped part-way (a lost connection,
a timeout) is run again by the next upgrade: the column is added only when missing, and the leads
priced already are priced again at their source's price. Pods of the release before this one store leads at 0 until the
rollout replaces them. Offline (``--sql``) the backfill is scripted as one UPDATE: the batches
need to read where each ends. A downgrade drops the column and the prices with it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 22:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from leadgen.core.migrate import add_column_if_missing, id_batches

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 10_000
LEADS = sa.table('leads', sa.column('id', sa.Uuid()), sa.column('source_id', sa.Uuid()), sa.column('price_cents', sa.Integer()))
SOURCES = sa.table('sources', sa.column('id', sa.Uuid()), sa.column('cost_per_lead_cents', sa.Integer()))


def _price(where: sa.ColumnElement[bool]) -> sa.Update:
    """The leads ``where`` selects, of the sources with a price, priced at their source's price."""
    source_price = sa.select(SOURCES.c.cost_per_lead_cents).where(SOURCES.c.id == LEADS.c.source_id).scalar_subquery()
    priced_sources = sa.select(SOURCES.c.id).where(SOURCES.c.cost_per_lead_cents != 0)
    return LEADS.update().where(where, LEADS.c.source_id.in_(priced_sources)).values(price_cents=source_price)


def upgrade() -> None:
    add_column_if_missing('leads', sa.Column('price_cents', sa.Integer(), server_default='0', nullable=False))
    with op.get_context().autocommit_block():  # the column is committed first; then each batch
        for batch in id_batches(LEADS.c.id, BATCH):
            op.execute(_price(batch))


def downgrade() -> None:
    op.drop_column('leads', 'price_cents')
