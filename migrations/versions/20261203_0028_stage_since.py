"""stage since

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-03 18:02:35.636001
"""
from alembic import op
import sqlalchemy as sa


revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stage_since', sa.DateTime(), nullable=True))
        batch_op.create_index('ix_shipments_status_stage_since', ['status', 'stage_since'], unique=False)
    # Shipments already on their way: the stage is counted from their last change.
    op.execute("UPDATE shipments SET stage_since = updated_at WHERE stage_since IS NULL")



def downgrade() -> None:
    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.drop_index('ix_shipments_status_stage_since')
        batch_op.drop_column('stage_since')

