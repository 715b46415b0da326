"""task queue: export progress, task failures, export chunks in the database

Revision ID: 0011_task_queue
Revises: 0010
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa

import privacy_service.db


revision = '0011_task_queue'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('export_archives', schema=None) as batch_op:
        batch_op.add_column(sa.Column('categories_done', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('categories_total', sa.Integer(), nullable=True))
    op.create_table(
        'task_failures',
        sa.Column('request_id', sa.String(length=36), nullable=False),
        sa.Column('kind', sa.String(length=24), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('error', sa.String(length=200), nullable=False),
        sa.Column('permanent', sa.Boolean(), nullable=False),
        sa.Column('failed_at', privacy_service.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['request_id'], ['requests.id'], name=op.f('fk_task_failures_request_id_requests'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('request_id', 'kind', name=op.f('pk_task_failures')),
    )
    op.create_table(
        'export_chunks',
        sa.Column('storage_key', sa.String(length=120), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', privacy_service.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('storage_key', 'seq', name=op.f('pk_export_chunks')),
    )


def downgrade():
    op.drop_table('export_chunks')
    op.drop_table('task_failures')
    with op.batch_alter_table('export_archives', schema=None) as batch_op:
        batch_op.drop_column('categories_total')
        batch_op.drop_column('categories_done')
