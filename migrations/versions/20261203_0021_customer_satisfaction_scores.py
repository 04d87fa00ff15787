"""customer satisfaction scores

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 13:58:32.447652
"""
from alembic import op
import sqlalchemy as sa


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('csat_responses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shipment_id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('comment', sa.String(length=1000), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_csat_responses_customer_id_customers')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_csat_responses_partner_id_partners')),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], name=op.f('fk_csat_responses_shipment_id_shipments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_csat_responses')),
    sa.UniqueConstraint('shipment_id', name=op.f('uq_csat_responses_shipment_id'))
    )
    with op.batch_alter_table('csat_responses', schema=None) as batch_op:
        batch_op.create_index('ix_csat_partner_created', ['partner_id', 'created_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('csat_responses', schema=None) as batch_op:
        batch_op.drop_index('ix_csat_partner_created')

    op.drop_table('csat_responses')
