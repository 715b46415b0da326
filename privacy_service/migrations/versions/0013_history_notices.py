"""correction history; export expiry notice

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa

import privacy_service.db


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'correction_history',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('subject_id', sa.String(length=36), nullable=False),
        sa.Column('request_id', sa.String(length=36), nullable=False),
        sa.Column('corrected_category', sa.String(length=40), nullable=False),
        sa.Column('corrected_table', sa.String(length=64), nullable=False),
        sa.Column('record_id', sa.String(length=64), nullable=False),
        sa.Column('field', sa.String(length=64), nullable=False),
        sa.Column('old_value_enc', sa.LargeBinary(), nullable=True),
        sa.Column('new_value_enc', sa.LargeBinary(), nullable=True),
        sa.Column('approved_by', sa.String(length=120), nullable=False),
        sa.Column('approved_at', privacy_service.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('correction_history', schema=None) as batch_op:
        batch_op.create_index('ix_correction_history_subject', ['subject_id', 'corrected_category'], unique=False)
    with op.batch_alter_table('export_archives', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expiry_notified_at', privacy_service.db.UTCDateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('export_archives', schema=None) as batch_op:
        batch_op.drop_column('expiry_notified_at')
    with op.batch_alter_table('correction_history', schema=None) as batch_op:
        batch_op.drop_index('ix_correction_history_subject')
    op.drop_table('correction_history')
