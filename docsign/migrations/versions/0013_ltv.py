"""long-term evidence: each kept document's extension (B-LT, B-LTA) and until when its evidence holds

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 05:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ltv_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('level', sa.String(length=12), nullable=True),
    sa.Column('revision_sha256', sa.String(length=64), nullable=True),
    sa.Column('evidence_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('renewals', sa.Integer(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_ltv_records_document_id_documents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ltv_records')),
    sa.UniqueConstraint('document_id', name=op.f('uq_ltv_records_document_id'))
    )


def downgrade() -> None:
    op.drop_table('ltv_records')
