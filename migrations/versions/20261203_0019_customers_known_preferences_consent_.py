"""customers known: preferences, consent, merges

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 13:40:11.490682
"""
from alembic import op
import sqlalchemy as sa


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('customer_merges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survivor_id', sa.Integer(), nullable=False),
    sa.Column('merged_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('by_user_id', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('undone_at', sa.DateTime(), nullable=True),
    sa.Column('undone_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['by_user_id'], ['users.id'], name=op.f('fk_customer_merges_by_user_id_users')),
    sa.ForeignKeyConstraint(['merged_id'], ['customers.id'], name=op.f('fk_customer_merges_merged_id_customers')),
    sa.ForeignKeyConstraint(['survivor_id'], ['customers.id'], name=op.f('fk_customer_merges_survivor_id_customers')),
    sa.ForeignKeyConstraint(['undone_by'], ['users.id'], name=op.f('fk_customer_merges_undone_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_merges'))
    )
    with op.batch_alter_table('customer_merges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_merges_merged_id'), ['merged_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_customer_merges_survivor_id'), ['survivor_id'], unique=False)

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=5), nullable=True))
        batch_op.add_column(sa.Column('instructions', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('safe_place', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('preferred_time', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('marketing_consent', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('consent_changed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('opted_out_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('merged_into_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_customers_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_customers_merged_into_id'), ['merged_into_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_customers_merged_into_id_customers'), 'customers', ['merged_into_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_customers_merged_into_id_customers'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_customers_merged_into_id'))
        batch_op.drop_index(batch_op.f('ix_customers_email'))
        batch_op.drop_column('merged_into_id')
        batch_op.drop_column('opted_out_at')
        batch_op.drop_column('consent_changed_at')
        batch_op.drop_column('marketing_consent')
        batch_op.drop_column('preferred_time')
        batch_op.drop_column('safe_place')
        batch_op.drop_column('instructions')
        batch_op.drop_column('language')

    with op.batch_alter_table('customer_merges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_merges_survivor_id'))
        batch_op.drop_index(batch_op.f('ix_customer_merges_merged_id'))

    op.drop_table('customer_merges')
