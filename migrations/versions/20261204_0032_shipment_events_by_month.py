"""shipment events partitioned by month on PostgreSQL

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-04 22:30:00

The plain table becomes a partitioned one with every row kept, its months made from the
oldest event to three months ahead (see app/orders/event_partitions.py). SQLite: nothing.
"""
from alembic import op

from app.orders import event_partitions

revision = '0032'
down_revision = '0031'
branch_labels = None
depends_on = None


def upgrade() -> None:
    event_partitions.partition_table(op.get_bind(), event_partitions.utc_today())


def downgrade() -> None:
    event_partitions.unpartition_table(op.get_bind())
