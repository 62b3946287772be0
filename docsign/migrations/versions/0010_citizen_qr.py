"""one-stop-shop results citizens can check

documents.citizen_token (the unguessable token of the public page /verify/d/<token> printed as a QR code
in the seal's block) and documents.citizen_public (the agency lets the QR's holder download the PDF).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 03:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('citizen_token', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('citizen_public', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_unique_constraint(batch_op.f('uq_documents_citizen_token'), ['citizen_token'])
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.alter_column('citizen_public', server_default=None)


def downgrade() -> None:
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_documents_citizen_token'), type_='unique')
        batch_op.drop_column('citizen_public')
        batch_op.drop_column('citizen_token')
