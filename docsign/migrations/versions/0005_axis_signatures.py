"""signed packets and receipts, the national document axis

agencies.sends_unsigned_packets (peers whose packets carry no XML signature), agencies.via_axis (peers
reached through the VXP axis), agency_aliases (former codes kept by directory synchronisation),
status_events.receipt_verified/receipt_note (the signed 01 receipt as checked by the sender), and
axis_messages (what was exchanged with the axis, either way, so nothing is sent or filed twice).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('agencies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sends_unsigned_packets', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('via_axis', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('agencies', schema=None) as batch_op:
        batch_op.alter_column('sends_unsigned_packets', server_default=None)
        batch_op.alter_column('via_axis', server_default=None)
    op.create_table(
        'agency_aliases',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=13), nullable=False),
        sa.Column('agency_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], name=op.f('fk_agency_aliases_agency_id_agencies')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_agency_aliases')),
        sa.UniqueConstraint('code', name=op.f('uq_agency_aliases_code')),
    )
    with op.batch_alter_table('agency_aliases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agency_aliases_agency_id'), ['agency_id'], unique=False)
    with op.batch_alter_table('status_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('receipt_verified', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('receipt_note', sa.Text(), nullable=True))
    op.create_table(
        'axis_messages',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('direction', sa.String(length=3), nullable=False),
        sa.Column('message_type', sa.String(length=10), nullable=False),
        sa.Column('local_ref', sa.String(length=40), nullable=True),
        sa.Column('axis_doc_id', sa.String(length=100), nullable=True),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('packet_sha256', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_axis_messages')),
        sa.UniqueConstraint('direction', 'axis_doc_id', name=op.f('uq_axis_messages_direction_axis_doc_id')),
        sa.UniqueConstraint('direction', 'local_ref', name=op.f('uq_axis_messages_direction_local_ref')),
    )
    with op.batch_alter_table('axis_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_axis_messages_state'), ['state'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('axis_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_axis_messages_state'))
    op.drop_table('axis_messages')
    with op.batch_alter_table('status_events', schema=None) as batch_op:
        batch_op.drop_column('receipt_note')
        batch_op.drop_column('receipt_verified')
    with op.batch_alter_table('agency_aliases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agency_aliases_agency_id'))
    op.drop_table('agency_aliases')
    with op.batch_alter_table('agencies', schema=None) as batch_op:
        batch_op.drop_column('via_axis')
        batch_op.drop_column('sends_unsigned_packets')
