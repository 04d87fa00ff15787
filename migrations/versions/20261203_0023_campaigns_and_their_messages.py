"""campaigns and their messages

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03 14:06:12.719983
"""
from alembic import op
import sqlalchemy as sa


revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('campaigns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=True),
    sa.Column('body', sa.String(length=2000), nullable=False),
    sa.Column('segment', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('scheduled_at', sa.DateTime(), nullable=True),
    sa.Column('queued_through', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('queued_at', sa.DateTime(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_campaigns_created_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns'))
    )
    op.create_table('campaign_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('recipient', sa.String(length=254), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('provider_message_id', sa.String(length=200), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('claimed_until', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.String(length=300), nullable=True),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_messages_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_campaign_messages_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_messages')),
    sa.UniqueConstraint('campaign_id', 'customer_id', name=op.f('uq_campaign_messages_campaign_id_customer_id'))
    )
    with op.batch_alter_table('campaign_messages', schema=None) as batch_op:
        batch_op.create_index('ix_campaign_messages_due', ['campaign_id', 'id'], unique=False, sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))



def downgrade() -> None:
    with op.batch_alter_table('campaign_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_campaign_messages_due', sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))

    op.drop_table('campaign_messages')
    op.drop_table('campaigns')
