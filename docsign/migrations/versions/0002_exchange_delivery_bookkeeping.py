"""exchange delivery bookkeeping

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 15:08:39.617981
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('before_recall', sa.String(length=20), nullable=True))

    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('received_via_delivery_id', sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_documents_received_via_delivery_id'), ['received_via_delivery_id'])
        batch_op.create_foreign_key(batch_op.f('fk_documents_received_via_delivery_id_deliveries'), 'deliveries', ['received_via_delivery_id'], ['id'])

    with op.batch_alter_table('status_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('packet_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('received_at', sa.DateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('status_events', schema=None) as batch_op:
        batch_op.drop_column('received_at')
        batch_op.drop_column('packet_sha256')

    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_documents_received_via_delivery_id_deliveries'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_documents_received_via_delivery_id'), type_='unique')
        batch_op.drop_column('received_via_delivery_id')

    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('before_recall')

