"""deliveries.state and deliveries.before_recall become enum columns (VARCHAR with a CHECK), like the others;
documents.code_number holds 30 characters (other systems' numbers, e.g. the axis gateway's 14-digit ones);
signatures keep the signer's position and TM./KT. line (edXML SignerInfo); agencies.status_form says which form
of status packet each peer reads; documents.previous_version_id links a received update or replacement to
the inbox document it supersedes

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 02:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

STATES = ('queued', 'delivered', 'rejected', 'accepted', 'assigned', 'processing', 'finished', 'recall_requested',
          'recalled', 'dead_letter')


def _enum(name: str = 'deliverystate') -> sa.Enum:
    return sa.Enum(*STATES, name=name, native_enum=False, create_constraint=True, length=20)


def upgrade() -> None:
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('previous_version_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_documents_previous_version_id'), ['previous_version_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_documents_previous_version_id_documents'), 'documents',
                                    ['previous_version_id'], ['id'])
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('position', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('signing_prefix', sa.String(length=100), nullable=True))
    with op.batch_alter_table('agencies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status_form', sa.Enum('Status', 'MessageHeader', name='statusform',
                                                             native_enum=False, create_constraint=True, length=16),
                                      nullable=False, server_default='MessageHeader'))
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.alter_column('code_number', existing_type=sa.String(length=11), type_=sa.String(length=30),
                              existing_nullable=True)
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.alter_column('state', existing_type=sa.String(length=20), type_=_enum(), existing_nullable=False)
        batch_op.alter_column('before_recall', existing_type=sa.String(length=20), type_=_enum('beforerecall'),
                              existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table('agencies', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_agencies_statusform'), type_='check')
        batch_op.drop_column('status_form')
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.drop_column('signing_prefix')
        batch_op.drop_column('position')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.alter_column('before_recall', existing_type=_enum('beforerecall'), type_=sa.String(length=20),
                              existing_nullable=True)
        batch_op.alter_column('state', existing_type=_enum(), type_=sa.String(length=20), existing_nullable=False)
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.alter_column('code_number', existing_type=sa.String(length=30), type_=sa.String(length=11),
                              existing_nullable=True)
        batch_op.drop_constraint(batch_op.f('fk_documents_previous_version_id_documents'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_documents_previous_version_id'))
        batch_op.drop_column('previous_version_id')
