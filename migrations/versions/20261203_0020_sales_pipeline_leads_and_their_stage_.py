"""sales pipeline: leads and their stage changes

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 13:53:43.398608
"""
from alembic import op
import sqlalchemy as sa


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('leads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('company', sa.String(length=200), nullable=False),
    sa.Column('contact_name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('stage', sa.String(length=12), nullable=False),
    sa.Column('lost_reason', sa.String(length=200), nullable=True),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('monthly_parcels', sa.Integer(), server_default='0', nullable=False),
    sa.Column('typical_grams', sa.Integer(), server_default='1000', nullable=False),
    sa.Column('service_level', sa.String(length=20), server_default='standard', nullable=False),
    sa.Column('typical_cod', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('pickup_address', sa.String(length=300), nullable=True),
    sa.Column('note', sa.String(length=2000), nullable=True),
    sa.Column('offer', sa.JSON(), nullable=True),
    sa.Column('value_amount', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('currency', sa.String(length=3), server_default='VND', nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('stage_changed_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_leads_created_by_users')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_leads_owner_id_users')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_leads_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_leads'))
    )
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_leads_created_at'), ['created_at'], unique=False)
        batch_op.create_index('ix_leads_stage', ['stage', 'owner_id'], unique=False)

    op.create_table('lead_stage_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.Column('from_stage', sa.String(length=12), nullable=True),
    sa.Column('to_stage', sa.String(length=12), nullable=False),
    sa.Column('by_user_id', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['by_user_id'], ['users.id'], name=op.f('fk_lead_stage_changes_by_user_id_users')),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_lead_stage_changes_lead_id_leads')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lead_stage_changes'))
    )
    with op.batch_alter_table('lead_stage_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lead_stage_changes_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_lead_stage_changes_lead_id'), ['lead_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('lead_stage_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lead_stage_changes_lead_id'))
        batch_op.drop_index(batch_op.f('ix_lead_stage_changes_at'))

    op.drop_table('lead_stage_changes')
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_index('ix_leads_stage')
        batch_op.drop_index(batch_op.f('ix_leads_created_at'))

    op.drop_table('leads')
