"""one notification task per routing round

A routing round's offers and, in the first round, the person's acknowledgement now go out in
one task (outbox topic ``offers.made``, keyed ``<lead id>:<attempt>``), which reads what the lead
was already sent so that a retried round sends only what is left: ``notifications.lead_id`` gets
an index, built CONCURRENTLY on PostgreSQL. Events of the two topics it replaces that were still
unprocessed become events of the new one, so nothing queued before the upgrade is lost; back on
downgrade, without the messages already recorded as sent or held. Offline (``--sql``) only the
index is scripted: moving queued events needs to read them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 06:05:00.000000
"""

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import context, op

import leadgen.models.base
from leadgen.core.migrate import create_index_concurrently

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROUND = 'offers.made'
OFFERED, ACKNOWLEDGE = 'assignment.offered', 'lead.acknowledge'
OUTBOX = sa.table(
    'outbox',
    sa.column('id', sa.Uuid()),
    sa.column('topic', sa.String()),
    sa.column('key', sa.String()),
    sa.column('payload', leadgen.models.base.JSONType),
    sa.column('dispatched_at', leadgen.models.base.UTCDateTime(timezone=True)),
    sa.column('dispatch_count', sa.Integer()),
    sa.column('processed_at', leadgen.models.base.UTCDateTime(timezone=True)),
    sa.column('created_at', leadgen.models.base.UTCDateTime(timezone=True)),
)
ASSIGNMENTS = sa.table(
    'assignments', sa.column('id', sa.Uuid()), sa.column('lead_id', sa.Uuid()), sa.column('agent_id', sa.Uuid()),
    sa.column('attempt', sa.Integer()),
)


CHUNK = 1000  # ids per IN list, well under every driver's limit on bound parameters
NOTIFICATIONS = sa.table(
    'notifications', sa.column('lead_id', sa.Uuid()), sa.column('agent_id', sa.Uuid()), sa.column('template', sa.String())
)


def _unprocessed_keys(topic: str) -> list[str]:
    query = sa.select(OUTBOX.c.key).where(OUTBOX.c.topic == topic, OUTBOX.c.processed_at.is_(None))
    return list(op.get_bind().scalars(query))


def _replace(old_topics: list[str], events: Iterable[tuple[str, str]]) -> None:
    """Unprocessed events of ``old_topics`` are done; ``events`` take their place, undispatched,
    so the relay hands them to their task at its next pass."""
    now = datetime.now(UTC)
    rows: list[dict[str, object]] = [
        {'id': uuid.uuid4(), 'topic': topic, 'key': key, 'payload': {}, 'dispatched_at': None,
         'dispatch_count': 0, 'processed_at': None, 'created_at': now}
        for topic, key in sorted(set(events))
    ]
    op.execute(
        OUTBOX.update().where(OUTBOX.c.topic.in_(old_topics), OUTBOX.c.processed_at.is_(None)).values(processed_at=now)
    )
    if rows:
        op.bulk_insert(OUTBOX, rows)


def upgrade() -> None:
    if not context.is_offline_mode():
        offered = [uuid.UUID(key) for key in _unprocessed_keys(OFFERED)]
        events = [(ROUND, f'{key}:1') for key in _unprocessed_keys(ACKNOWLEDGE)]
        for start in range(0, len(offered), CHUNK):
            chunk = offered[start:start + CHUNK]
            rounds = sa.select(ASSIGNMENTS.c.lead_id, ASSIGNMENTS.c.attempt).where(ASSIGNMENTS.c.id.in_(chunk))
            events += [(ROUND, f'{lead_id}:{attempt}') for lead_id, attempt in op.get_bind().execute(rounds)]
        _replace([OFFERED, ACKNOWLEDGE], events)
    create_index_concurrently('ix_notifications_lead_id', 'notifications', ['lead_id'])


def downgrade() -> None:
    """The previous release's tasks send whatever their event names, so only what is not recorded yet."""
    if not context.is_offline_mode():
        events: list[tuple[str, str]] = []
        for key in _unprocessed_keys(ROUND):
            lead_id, attempt = uuid.UUID(key.rsplit(':', 1)[0]), int(key.rsplit(':', 1)[1])
            recorded = sa.select(NOTIFICATIONS.c.template, NOTIFICATIONS.c.agent_id).where(NOTIFICATIONS.c.lead_id == lead_id)
            done = set(op.get_bind().execute(recorded))
            offers = sa.select(ASSIGNMENTS.c.id, ASSIGNMENTS.c.agent_id).where(
                ASSIGNMENTS.c.lead_id == lead_id, ASSIGNMENTS.c.attempt == attempt
            )
            events += [(OFFERED, str(offer)) for offer, agent in op.get_bind().execute(offers) if ('offer', agent) not in done]
            thanked = any(template == 'acknowledgement' for template, _ in done)
            events += [(ACKNOWLEDGE, str(lead_id))] if attempt == 1 and not thanked else []
        _replace([ROUND], events)
    op.drop_index('ix_notifications_lead_id', table_name='notifications')
