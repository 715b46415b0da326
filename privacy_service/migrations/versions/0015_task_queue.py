"""task queue: task failures, export chunks in the database

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa

import privacy_service.db


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
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
