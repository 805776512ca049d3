"""the audit log and notifications are read a page at a time

``GET /api/v1/audit`` and ``GET /api/v1/notifications`` page newest first after a (created_at, id)
position, whole or filtered (the audit log by action, actor or subject; messages by agent or
status). Every lead view is an audit entry, so without an index in that order a page of an admin's
actions read the whole log. Each filter's index leads with its column and ends with (created_at,
id), so one backward scan returns a page; those on ``action`` and ``status`` replace the indexes of
that column alone, which they serve as well (the privacy export's and the held messages' reads).
Built CONCURRENTLY on PostgreSQL (a plain CREATE INDEX on SQLite), so both tables are written
meanwhile; the replaced indexes are dropped once their successors are built.

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-28 09:00:00.000000
"""

from collections.abc import Sequence

from leadgen.core.migrate import create_index_concurrently, drop_index_concurrently

revision: str = '0023'
down_revision: str | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_INDEXES = [
    ('ix_audit_log_created_at_id', 'audit_log', ['created_at', 'id']),
    ('ix_audit_log_action_created_at_id', 'audit_log', ['action', 'created_at', 'id']),
    ('ix_audit_log_actor_created_at_id', 'audit_log', ['actor', 'created_at', 'id']),
    (
        'ix_audit_log_subject_type_subject_id_created_at_id',
        'audit_log',
        ['subject_type', 'subject_id', 'created_at', 'id'],
    ),
    ('ix_notifications_created_at_id', 'notifications', ['created_at', 'id']),
    ('ix_notifications_agent_id_created_at_id', 'notifications', ['agent_id', 'created_at', 'id']),
    ('ix_notifications_status_created_at_id', 'notifications', ['status', 'created_at', 'id']),
]
REPLACED_INDEXES = [
    ('ix_audit_log_action', 'audit_log', ['action']),
    ('ix_notifications_status', 'notifications', ['status']),
]


def upgrade() -> None:
    for name, table, columns in NEW_INDEXES:
        create_index_concurrently(name, table, columns)
    for name, table, _ in REPLACED_INDEXES:
        drop_index_concurrently(name, table)


def downgrade() -> None:
    for name, table, columns in REPLACED_INDEXES:
        create_index_concurrently(name, table, columns)
    for name, table, _ in reversed(NEW_INDEXES):
        drop_index_concurrently(name, table)
