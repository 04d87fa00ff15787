"""claims accepted and paid

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-03 14:24:41.779654
"""
from alembic import op
import sqlalchemy as sa


revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.add_column(sa.Column('accepted_amount', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('accepted_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('case_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('paid_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('paid_reference', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('rejected_reason', sa.String(length=300), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_claims_case_id_cases'), 'cases', ['case_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_claims_case_id_cases'), type_='foreignkey')
        batch_op.drop_column('rejected_reason')
        batch_op.drop_column('paid_reference')
        batch_op.drop_column('paid_at')
        batch_op.drop_column('case_id')
        batch_op.drop_column('accepted_at')
        batch_op.drop_column('accepted_amount')

