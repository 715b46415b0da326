"""dashboard performance: reports' per-day figures, queue sort indexes (keyset pages), assignee
sort key, audit indexes by time

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 09:10:00
"""
from alembic import op
import sqlalchemy as sa

import privacy_service.db


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

OPEN_ONLY = "status NOT IN ('completed', 'rejected', 'cancelled')"
WAITING = f"waiting_since IS NOT NULL AND {OPEN_ONLY}"
SORTS = (
    ('type', ['type', 'due_date', 'id']),
    ('assignee', ['assignee_sort', 'due_date', 'id']),
    ('received', ['received_at', 'id']),
)
AUDIT_BY_TIME = (
    ('ix_audit_entries_actor_at', ['actor', 'at', 'seq']),
    ('ix_audit_entries_action_at', ['action', 'at', 'seq']),
    ('ix_audit_entries_request_at', ['request_id', 'at', 'seq']),
    ('ix_audit_entries_at_seq', ['at', 'seq']),
)
AUDIT_BY_SEQ = (
    ('ix_audit_entries_actor_seq', ['actor', 'seq']),
    ('ix_audit_entries_action_seq', ['action', 'seq']),
    ('ix_audit_entries_request_seq', ['request_id', 'seq']),
    ('ix_audit_entries_at', ['at']),
)


def upgrade():
    op.create_table('report_received',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('type', sa.String(length=20), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'type', name=op.f('pk_report_received'))
    )
    op.create_table('report_closed',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('type', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('on_time', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'type', 'status', name=op.f('pk_report_closed'))
    )
    op.create_table('report_close_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('working_days', sa.Integer(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'working_days', name=op.f('pk_report_close_days'))
    )
    op.create_table('report_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('refreshed_at', privacy_service.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('watermark', privacy_service.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('calendar', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_state'))
    )
    # The one state row exists from the start: refreshes lock it to run one at a time. No
    # watermark yet: the first refresh (the job or a page) builds every day.
    op.execute("INSERT INTO report_state (id) VALUES (1)")

    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assignee_sort', sa.String(length=254), nullable=False, server_default=''))
    # The sort key of the requests already assigned: the member's e-mail.
    op.execute(
        "UPDATE requests SET assignee_sort = (SELECT email FROM staff_users "
        "WHERE staff_users.id = requests.assignee_id) WHERE assignee_id IS NOT NULL"
    )
    op.execute("UPDATE requests SET assignee_sort = '' WHERE assignee_sort IS NULL")
    with op.batch_alter_table('requests', schema=None) as batch_op:
        # Replaced by the (…, id) indexes below: same leading columns, keyset pages need the id.
        batch_op.drop_index('ix_requests_type_due')
        batch_op.drop_index('ix_requests_received_at')
        for name, columns in SORTS:
            batch_op.create_index(f'ix_requests_sort_{name}', columns, unique=False)
            batch_op.create_index(f'ix_requests_open_sort_{name}', columns, unique=False, postgresql_where=sa.text(OPEN_ONLY), sqlite_where=sa.text(OPEN_ONLY))
        batch_op.create_index('ix_requests_status_changed_at', ['status_changed_at'], unique=False)
        batch_op.create_index('ix_requests_open_waiting', ['due_date', 'id'], unique=False, postgresql_where=sa.text(WAITING), sqlite_where=sa.text(WAITING))

    # The audit page goes newest first by (time, sequence number): a filter plus a date range is
    # one index range. Plain CREATE INDEX (no batch mode): the table keeps its append-only
    # triggers.
    for name, columns in AUDIT_BY_TIME:
        op.create_index(name, 'audit_entries', columns)
    for name, _ in AUDIT_BY_SEQ:
        op.drop_index(name, table_name='audit_entries')


def downgrade():
    for name, columns in AUDIT_BY_SEQ:
        op.create_index(name, 'audit_entries', columns)
    for name, _ in AUDIT_BY_TIME:
        op.drop_index(name, table_name='audit_entries')

    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.drop_index('ix_requests_open_waiting', postgresql_where=sa.text(WAITING), sqlite_where=sa.text(WAITING))
        batch_op.drop_index('ix_requests_status_changed_at')
        for name, _ in SORTS:
            batch_op.drop_index(f'ix_requests_open_sort_{name}', postgresql_where=sa.text(OPEN_ONLY), sqlite_where=sa.text(OPEN_ONLY))
            batch_op.drop_index(f'ix_requests_sort_{name}')
        batch_op.create_index('ix_requests_received_at', ['received_at'], unique=False)
        batch_op.create_index('ix_requests_type_due', ['type', 'due_date'], unique=False)
        batch_op.drop_column('assignee_sort')

    op.drop_table('report_state')
    op.drop_table('report_close_days')
    op.drop_table('report_closed')
    op.drop_table('report_received')
