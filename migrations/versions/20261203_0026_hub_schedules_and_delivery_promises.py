"""hub schedules and delivery promises

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-03 17:18:59.530109
"""
from alembic import op
import sqlalchemy as sa


revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('hubs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('working_days', sa.String(length=7), server_default='123456', nullable=False))
        batch_op.add_column(sa.Column('pickup_cutoff', sa.Time(), server_default='14:00:00', nullable=False))
        batch_op.add_column(sa.Column('linehaul_departs', sa.Time(), server_default='20:00:00', nullable=False))
        batch_op.add_column(sa.Column('linehaul_hours', sa.Integer(), server_default='8', nullable=False))
        batch_op.add_column(sa.Column('out_by', sa.Time(), server_default='09:00:00', nullable=False))
        batch_op.add_column(sa.Column('daily_capacity', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('window_from', sa.Time(), nullable=True))
        batch_op.add_column(sa.Column('window_until', sa.Time(), nullable=True))

    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('first_promised_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('promise_basis', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('promise_revisions', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_index('ix_shipments_hub_promised', ['delivery_hub_id', 'promised_date'], unique=False)
    # What was promised before promises were worked out from the network was the first promise.
    op.execute("UPDATE shipments SET first_promised_date = promised_date")



def downgrade() -> None:
    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.drop_index('ix_shipments_hub_promised')
        batch_op.drop_column('promise_revisions')
        batch_op.drop_column('promise_basis')
        batch_op.drop_column('first_promised_date')

    with op.batch_alter_table('hubs', schema=None) as batch_op:
        batch_op.drop_column('window_until')
        batch_op.drop_column('window_from')
        batch_op.drop_column('daily_capacity')
        batch_op.drop_column('out_by')
        batch_op.drop_column('linehaul_hours')
        batch_op.drop_column('linehaul_departs')
        batch_op.drop_column('pickup_cutoff')
        batch_op.drop_column('working_days')

