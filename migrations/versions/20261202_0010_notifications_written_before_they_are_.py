"""notifications written before they are sent, claimed, retried

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 15:31:57.691166
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows written before this revision were recorded after they were sent.
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subject', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('status', sa.String(length=10), server_default='sent', nullable=False))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('claimed_until', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('last_error', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('created_at', sa.DateTime(), nullable=True))
        batch_op.alter_column('provider',
               existing_type=sa.VARCHAR(length=40),
               nullable=True)
        batch_op.alter_column('sent_at',
               existing_type=sa.DATETIME(),
               nullable=True)
        batch_op.create_index('ix_notifications_due', ['next_attempt_at'], unique=False, sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))
    op.execute("UPDATE notifications SET created_at = sent_at")
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.alter_column('status', existing_type=sa.String(length=10), server_default=None)
        batch_op.alter_column('created_at', existing_type=sa.DateTime(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_due', sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))
        batch_op.alter_column('sent_at',
               existing_type=sa.DATETIME(),
               nullable=False)
        batch_op.alter_column('provider',
               existing_type=sa.VARCHAR(length=40),
               nullable=False)
        batch_op.drop_column('created_at')
        batch_op.drop_column('last_error')
        batch_op.drop_column('claimed_until')
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('attempts')
        batch_op.drop_column('status')
        batch_op.drop_column('subject')

