"""send window of one-time codes (signing in again)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa

import privacy_service.db


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('verifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('window_started_at', privacy_service.db.UTCDateTime(), nullable=True))
    # Existing codes: their window started with the last send.
    op.execute("UPDATE verifications SET window_started_at = last_sent_at")


def downgrade():
    with op.batch_alter_table('verifications', schema=None) as batch_op:
        batch_op.drop_column('window_started_at')
