"""a centre's same-day run

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-04 16:26:42.811798
"""
from alembic import op
import sqlalchemy as sa


revision = '0030'
down_revision = '0029'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('hubs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('same_day_out_by', sa.Time(), server_default='13:00:00', nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('hubs', schema=None) as batch_op:
        batch_op.drop_column('same_day_out_by')
