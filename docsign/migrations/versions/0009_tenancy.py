"""DocumentIds are unique per sender: one agency's new document no longer blocks another's (issue 9 item 8)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 03:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
# The brief's base is '0003'; chained after the other 0004s of main so this branch has one head (the lead
# re-chains).
down_revision = '0008'
branch_labels = None
depends_on = None

NEW_DOCUMENTS = sa.text('business_type = 0')


def upgrade() -> None:
    with op.batch_alter_table('exchanges', schema=None) as batch_op:
        batch_op.drop_index('uq_exchanges_new_document_id', sqlite_where=NEW_DOCUMENTS,
                            postgresql_where=NEW_DOCUMENTS)
        batch_op.create_index('uq_exchanges_new_document_id', ['sender_agency_id', 'edxml_document_id'],
                              unique=True, sqlite_where=NEW_DOCUMENTS, postgresql_where=NEW_DOCUMENTS)


def downgrade() -> None:
    # Fails if two senders now hold the same DocumentId, as it should: the old rule cannot hold them both.
    with op.batch_alter_table('exchanges', schema=None) as batch_op:
        batch_op.drop_index('uq_exchanges_new_document_id', sqlite_where=NEW_DOCUMENTS,
                            postgresql_where=NEW_DOCUMENTS)
        batch_op.create_index('uq_exchanges_new_document_id', ['edxml_document_id'], unique=True,
                              sqlite_where=NEW_DOCUMENTS, postgresql_where=NEW_DOCUMENTS)
