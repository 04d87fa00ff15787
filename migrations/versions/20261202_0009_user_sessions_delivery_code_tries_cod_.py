"""user sessions, delivery code tries, COD differences, several cash handovers a day,
random tracking numbers, sign-in failures counted per address

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 12:10:43.309803
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('user_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('ip', sa.String(length=45), nullable=True),
    sa.Column('user_agent', sa.String(length=200), nullable=True),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('ended_reason', sa.String(length=40), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_sessions_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_user_sessions_token_hash'))
    )
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_sessions_user_id'), ['user_id'], unique=False)

    op.create_table('claims',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shipment_id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('evidence_ref', sa.String(length=255), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_claims_created_by_users')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_claims_partner_id_partners')),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], name=op.f('fk_claims_shipment_id_shipments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claims')),
    sa.UniqueConstraint('shipment_id', name=op.f('uq_claims_shipment_id'))
    )
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_claims_partner_id'), ['partner_id'], unique=False)

    with op.batch_alter_table('cash_handovers', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_cash_handovers_driver_id_run_date_currency'), type_='unique')
        batch_op.create_index('uq_cash_handovers_open', ['driver_id', 'run_date', 'currency'], unique=True, sqlite_where=sa.text('received_at IS NULL'), postgresql_where=sa.text('received_at IS NULL'))

    with op.batch_alter_table('cod_collections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('difference_reason', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('settled_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('settled_by', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('settlement_note', sa.String(length=500), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_cod_collections_settled_by_users'), 'users', ['settled_by'], ['id'])
    # Differences from before are on shipments already closed: recorded as settled then.
    op.execute("UPDATE cod_collections SET settled_at = created_at, "
               "settlement_note = 'closed before cash differences were followed up' "
               "WHERE amount_collected <> amount_due")

    with op.batch_alter_table('proofs_of_delivery', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cod_difference_reason', sa.String(length=200), nullable=True))

    with op.batch_alter_table('drivers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('vehicle', sa.String(length=60), server_default='', nullable=False))
        batch_op.add_column(sa.Column('working_days', sa.String(length=7), server_default='1234567', nullable=False))
    # Simulated deliveries stored a bare path as the signature: made a drawing.
    op.execute("""UPDATE proofs_of_delivery SET signature_svg = '<svg xmlns="http://www.w3.org/2000/svg" '"""
               """ || 'viewBox="0 0 100 40"><path d="' || signature_svg || '" fill="none" stroke="#1a1a1a" '"""
               """ || 'stroke-width="2"/></svg>' WHERE signature_svg IS NOT NULL AND signature_svg NOT LIKE '<svg%'""")

    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivery_code_failures', sa.Integer(), server_default='0', nullable=False))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_version')
        # Failed sign-ins are counted per address from the audit log now.
        batch_op.drop_column('failed_logins')
        batch_op.drop_column('locked_until')

    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_action_ip', ['action', 'ip', 'at'], unique=False)

    # Tracking numbers are drawn at random now: no serial behind them.
    op.drop_table('counters')
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE IF EXISTS tracking_serial")



def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE IF NOT EXISTS tracking_serial")
    op.create_table('counters',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_counters')))
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_action_ip')

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.INTEGER(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('failed_logins', sa.INTEGER(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('locked_until', sa.DateTime(), nullable=True))

    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.drop_column('delivery_code_failures')

    with op.batch_alter_table('proofs_of_delivery', schema=None) as batch_op:
        batch_op.drop_column('cod_difference_reason')

    with op.batch_alter_table('drivers', schema=None) as batch_op:
        batch_op.drop_column('working_days')
        batch_op.drop_column('vehicle')

    with op.batch_alter_table('cod_collections', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_cod_collections_settled_by_users'), type_='foreignkey')
        batch_op.drop_column('settlement_note')
        batch_op.drop_column('settled_by')
        batch_op.drop_column('settled_at')
        batch_op.drop_column('difference_reason')

    with op.batch_alter_table('cash_handovers', schema=None) as batch_op:
        batch_op.drop_index('uq_cash_handovers_open', sqlite_where=sa.text('received_at IS NULL'), postgresql_where=sa.text('received_at IS NULL'))
        batch_op.create_unique_constraint(batch_op.f('uq_cash_handovers_driver_id_run_date_currency'), ['driver_id', 'run_date', 'currency'])

    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_sessions_user_id'))

    op.drop_table('user_sessions')
    op.drop_table('claims')
