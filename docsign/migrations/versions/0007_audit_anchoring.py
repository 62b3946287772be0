"""audit events carry their position in the chain and an HMAC under a key kept outside the database

Existing events get their position; their MAC stays empty (no key is at hand in a migration): `docsign
init` adopts them by writing each chain's current head to the head file in the data dir.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 02:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seq', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('mac', sa.String(length=64), nullable=True))
    same_chain = "IS NOT DISTINCT FROM" if op.get_bind().dialect.name == "postgresql" else "IS"
    op.execute(f"UPDATE audit_events SET seq = (SELECT COUNT(*) FROM audit_events AS earlier "
               f"WHERE earlier.agency_id {same_chain} audit_events.agency_id AND earlier.id <= audit_events.id)")


def downgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_column('mac')
        batch_op.drop_column('seq')
