"""the inbox document is linked from the document's side only

deliveries.inbox_document_id repeated documents.received_via_delivery_id (the unique link that makes
receipt idempotent); keeping one of the two leaves nothing to disagree and one UPDATE less per receipt.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 18:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_deliveries_inbox_document_id_documents'), type_='foreignkey')
        batch_op.drop_column('inbox_document_id')


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('inbox_document_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_deliveries_inbox_document_id_documents'), 'documents',
                                    ['inbox_document_id'], ['id'])
    op.execute("UPDATE deliveries SET inbox_document_id = (SELECT documents.id FROM documents "
               "WHERE documents.received_via_delivery_id = deliveries.id)")
