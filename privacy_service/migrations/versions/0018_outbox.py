"""outbox: customer notices written with the change that causes them, sealed, sent by a task

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 12:30:00
"""

import sqlalchemy as sa
from alembic import op

import privacy_service.db

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("to_enc", sa.LargeBinary(), nullable=True),
        sa.Column("body_enc", sa.LargeBinary(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.Column("created_at", privacy_service.db.UTCDateTime(), nullable=False),
        sa.Column("claimed_by", sa.String(length=80), nullable=True),
        sa.Column("claim_until", privacy_service.db.UTCDateTime(), nullable=True),
        sa.Column("sent_at", privacy_service.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["requests.id"],
            name=op.f("fk_outbox_request_id_requests"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index("ix_outbox_batch_id", "outbox", ["batch_id"])
    op.create_index("ix_outbox_request_id", "outbox", ["request_id"])
    op.create_index("ix_outbox_status_claim_until", "outbox", ["status", "claim_until"])


def downgrade():
    op.drop_index("ix_outbox_status_claim_until", table_name="outbox")
    op.drop_index("ix_outbox_request_id", table_name="outbox")
    op.drop_index("ix_outbox_batch_id", table_name="outbox")
    op.drop_table("outbox")
