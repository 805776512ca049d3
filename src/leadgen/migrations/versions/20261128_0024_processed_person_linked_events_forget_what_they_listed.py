"""processed person.linked events forget what they listed

A ``person.linked`` outbox event is keyed by the id of the lead whose screening linked a listed
phone number or e-mail address to one the list did not know, and its payload held the keyed hashes
then listed. Kept for good once processed, it tied the lead to the person's hashes after an erasure
or the retention purge anonymised the lead: anyone holding the PII hash key could tell whose lead
it was. The worker now clears the payload when it processes the event, and an anonymisation clears
that of its leads' processed events; here the events processed before this release are cleared.
Events not processed yet keep theirs: the worker bars the person's other leads by it.

Few rows (one event per lead that linked someone), found by the (topic, key) index: one statement.

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-28 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadgen.models.base

revision: str = '0024'
down_revision: str | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OUTBOX = sa.table(
    'outbox',
    sa.column('topic', sa.String()),
    sa.column('processed_at', leadgen.models.base.UTCDateTime(timezone=True)),
    sa.column('payload', leadgen.models.base.JSONType),
)


def upgrade() -> None:
    processed = sa.and_(OUTBOX.c.topic == 'person.linked', OUTBOX.c.processed_at.is_not(None))
    # An empty JSON object as a literal: PostgreSQL takes it for jsonb, SQLite stores the text.
    op.execute(OUTBOX.update().where(processed).values(payload=sa.text("'{}'")))


def downgrade() -> None:
    """Nothing to put back, nor needed: the release before reads only the payloads of events not
    processed yet, which this leaves as they are."""
