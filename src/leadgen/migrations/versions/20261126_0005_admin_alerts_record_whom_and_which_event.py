"""admin alerts record whom and which event

An alert that a lead was left unassigned goes to every admin; when one of those e-mails fails and
the task retries, the retry used to e-mail the others again. ``notifications.user_id`` records
which admin each alert reached and ``notifications.event_key`` the outbox event it was sent for (a
lead left unassigned again is another event), so a retry reaches only the rest. On PostgreSQL the
foreign key is added NOT VALID and validated after that commits: validating takes a lock that lets
notifications be written meanwhile, where adding it valid would hold their inserts for the whole
scan. A run stopped before the validation ends is completed by the next upgrade.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 08:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from leadgen.core.migrate import add_column_if_missing, waiting_for_locks

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOREIGN_KEY = 'fk_notifications_user_id_users'


def _foreign_key_missing() -> bool:
    if context.is_offline_mode():
        return True
    return all(found['name'] != FOREIGN_KEY for found in sa.inspect(op.get_bind()).get_foreign_keys('notifications'))


def upgrade() -> None:
    add_column_if_missing('notifications', sa.Column('event_key', sa.String(length=64), nullable=True))
    if op.get_context().dialect.name == 'sqlite':
        with op.batch_alter_table('notifications') as batch:
            batch.add_column(sa.Column('user_id', sa.Uuid(), nullable=True))
            batch.create_foreign_key(FOREIGN_KEY, 'users', ['user_id'], ['id'])
        return
    add_column_if_missing('notifications', sa.Column('user_id', sa.Uuid(), nullable=True))
    if _foreign_key_missing():
        op.execute(f'ALTER TABLE notifications ADD CONSTRAINT {FOREIGN_KEY} FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID')
    # The ALTERs above commit first, releasing their locks.
    with op.get_context().autocommit_block(), waiting_for_locks():
        op.execute(f'ALTER TABLE notifications VALIDATE CONSTRAINT {FOREIGN_KEY}')


def downgrade() -> None:
    with op.batch_alter_table('notifications') as batch:
        batch.drop_constraint(FOREIGN_KEY, type_='foreignkey')
        batch.drop_column('user_id')
        batch.drop_column('event_key')
