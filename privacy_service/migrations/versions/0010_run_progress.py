"""run progress: purge run heartbeats, the batch journal, key rotation records

Revision ID: 0010
Revises: 0009_staff_sessions
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa

import privacy_service.db


revision = '0010'
down_revision = '0009_staff_sessions'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('purge_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('holder', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('heartbeat_at', privacy_service.db.UTCDateTime(timezone=True), nullable=True))

    op.create_table('work_batches',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('owner_kind', sa.String(length=16), nullable=False),
    sa.Column('owner_id', sa.String(length=36), nullable=False),
    sa.Column('step', sa.String(length=120), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('table_name', sa.String(length=128), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('ids', sa.JSON(), nullable=True),
    sa.Column('values', sa.JSON(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=True),
    sa.Column('created_at', privacy_service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('settled_at', privacy_service.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_batches'))
    )
    with op.batch_alter_table('work_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_work_batches_owner_id'), ['owner_id'], unique=False)

    op.create_table('key_rotations',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('target_version', sa.Integer(), nullable=False),
    sa.Column('previous_version', sa.Integer(), nullable=True),
    sa.Column('resumes', sa.String(length=36), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('rewrapped', sa.Integer(), nullable=False),
    sa.Column('batches', sa.Integer(), nullable=False),
    sa.Column('holder', sa.String(length=120), nullable=True),
    sa.Column('started_at', privacy_service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('heartbeat_at', privacy_service.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', privacy_service.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_key_rotations'))
    )


def downgrade():
    op.drop_table('key_rotations')
    with op.batch_alter_table('work_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_work_batches_owner_id'))
    op.drop_table('work_batches')
    with op.batch_alter_table('purge_runs', schema=None) as batch_op:
        batch_op.drop_column('heartbeat_at')
        batch_op.drop_column('holder')
