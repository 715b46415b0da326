"""requests on someone else's behalf: the requester's relationship, the requester, evidence

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 09:40:00
"""

import sqlalchemy as sa
from alembic import op

import privacy_service.db

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("on_behalf", sa.String(length=24), nullable=True))
    op.create_table(
        "request_requesters",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("relationship", sa.String(length=24), nullable=False),
        sa.Column("name_enc", sa.LargeBinary(), nullable=True),
        sa.Column("subject_contact_kind", sa.String(length=8), nullable=False),
        sa.Column("subject_contact_enc", sa.LargeBinary(), nullable=False),
        sa.Column("evidence_status", sa.String(length=12), nullable=False),
        sa.Column("check_method", sa.String(length=24), nullable=True),
        sa.Column("check_note_enc", sa.LargeBinary(), nullable=True),
        sa.Column("checked_by", sa.String(length=120), nullable=True),
        sa.Column("checked_at", privacy_service.db.UTCDateTime(), nullable=True),
        sa.Column("holder_told_at", privacy_service.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["requests.id"],
            name=op.f("fk_request_requesters_request_id_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_requesters")),
        sa.UniqueConstraint("request_id", name=op.f("uq_request_requesters_request_id")),
    )
    op.create_table(
        "request_evidence",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("filename_enc", sa.LargeBinary(), nullable=True),
        sa.Column("body_enc", sa.LargeBinary(), nullable=True),
        sa.Column("uploaded_by", sa.String(length=120), nullable=False),
        sa.Column("uploaded_at", privacy_service.db.UTCDateTime(), nullable=False),
        sa.Column("deleted_at", privacy_service.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["requests.id"],
            name=op.f("fk_request_evidence_request_id_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_evidence")),
    )
    with op.batch_alter_table("request_evidence", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_request_evidence_request_id"), ["request_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("request_evidence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_evidence_request_id"))
    op.drop_table("request_evidence")
    op.drop_table("request_requesters")
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_column("on_behalf")
