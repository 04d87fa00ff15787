"""stage targets

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-03 17:57:35.776052
"""
from alembic import op
import sqlalchemy as sa


revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('stage_targets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=20), nullable=False),
    sa.Column('hub_id', sa.Integer(), nullable=True),
    sa.Column('partner_id', sa.Integer(), nullable=True),
    sa.Column('hours', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['hub_id'], ['hubs.id'], name=op.f('fk_stage_targets_hub_id_hubs')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_stage_targets_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stage_targets')),
    sa.UniqueConstraint('stage', 'hub_id', 'partner_id', name=op.f('uq_stage_targets_stage_hub_id_partner_id'))
    )


def downgrade() -> None:
    op.drop_table('stage_targets')
