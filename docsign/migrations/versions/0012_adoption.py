"""adoption: paper sendings recorded by the clerk (what the adoption report counts as still sent on paper)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 05:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('paper_sendings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('recipient', sa.String(length=200), nullable=False),
    sa.Column('sent_on', sa.Date(), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], name=op.f('fk_paper_sendings_agency_id_agencies')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_paper_sendings_created_by_id_users')),
    sa.ForeignKeyConstraint(['entry_id'], ['register_outgoing.id'], name=op.f('fk_paper_sendings_entry_id_register_outgoing')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_paper_sendings')),
    sa.UniqueConstraint('entry_id', 'recipient', name=op.f('uq_paper_sendings_entry_id_recipient'))
    )
    with op.batch_alter_table('paper_sendings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_paper_sendings_agency_id'), ['agency_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_paper_sendings_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_paper_sendings_sent_on'), ['sent_on'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('paper_sendings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_paper_sendings_sent_on'))
        batch_op.drop_index(batch_op.f('ix_paper_sendings_entry_id'))
        batch_op.drop_index(batch_op.f('ix_paper_sendings_agency_id'))
    op.drop_table('paper_sendings')
