"""shop accounts: identity found in the sources, per-source steps

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa

import privacy_service.db


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('subject_accounts',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('subject_id', sa.String(length=36), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('account_key', sa.String(length=190), nullable=False),
    sa.Column('created_at', privacy_service.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_subject_accounts_subject_id_subjects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subject_accounts')),
    sa.UniqueConstraint('source', 'account_key', name=op.f('uq_subject_accounts_source'))
    )
    with op.batch_alter_table('subject_accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subject_accounts_subject_id'), ['subject_id'], unique=False)

    op.create_table('source_steps',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('request_id', sa.String(length=36), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(16), nullable=False),
    sa.Column('rows', sa.BigInteger(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.String(length=200), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('decided_by', sa.String(length=120), nullable=True),
    sa.Column('started_at', privacy_service.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', privacy_service.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['requests.id'], name=op.f('fk_source_steps_request_id_requests'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_source_steps')),
    sa.UniqueConstraint('request_id', 'source', 'action', name=op.f('uq_source_steps_request_id'))
    )

    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('identity_status', sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column('identity_attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('identity_next_at', privacy_service.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('identity_errors', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('accounts', sa.JSON(), nullable=True))
        batch_op.create_index('ix_requests_identity', ['identity_status', 'identity_next_at'], unique=False)


def downgrade():
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.drop_index('ix_requests_identity')
        batch_op.drop_column('accounts')
        batch_op.drop_column('identity_errors')
        batch_op.drop_column('identity_next_at')
        batch_op.drop_column('identity_attempts')
        batch_op.drop_column('identity_status')
    op.drop_table('source_steps')
    with op.batch_alter_table('subject_accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subject_accounts_subject_id'))
    op.drop_table('subject_accounts')
