"""ids of 64 bits on PostgreSQL

Every primary key, and every column that holds one, becomes ``bigint``, with the
sequences behind the keys: at a FedEx-sized courier's 1,700 shipment events a second a
32-bit id runs out in about two weeks. Each table is rewritten under an exclusive lock:
run it in a maintenance window (docs/OPERATIONS.md, "Upgrading"). SQLite's INTEGER is 64
bits already. The downgrade fails once an id has passed 2,147,483,647.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-05 02:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0033'
down_revision = '0032'
branch_labels = None
depends_on = None

#: The columns that hold ids, by table.
ID_COLUMNS = {
    'accounting_periods': ('closed_by',),
    'activities': ('id', 'subject_id', 'owner_id', 'created_by'),
    'addresses': ('id',),
    'api_keys': ('id', 'partner_id'),
    'audit_log': ('id', 'user_id'),
    'bag_items': ('id', 'bag_id', 'shipment_id'),
    'bags': ('id', 'from_hub_id', 'to_hub_id', 'trip_id'),
    'campaign_messages': ('id', 'campaign_id', 'customer_id'),
    'campaigns': ('id', 'queued_through', 'created_by'),
    'case_messages': ('id', 'case_id', 'author_id'),
    'cases': ('id', 'owner_id', 'shipment_id', 'partner_id', 'customer_id', 'created_by'),
    'cash_deposits': ('id', 'hub_id', 'created_by'),
    'cash_handovers': ('id', 'driver_id', 'hub_id', 'received_by', 'deposit_id'),
    'charges': ('id', 'partner_id', 'shipment_id', 'rate_card_id', 'invoice_id'),
    'claims': ('id', 'shipment_id', 'partner_id', 'created_by', 'case_id'),
    'cod_collections': ('id', 'shipment_id', 'partner_id', 'driver_id', 'settled_by', 'remittance_id'),
    'contacts': ('id', 'partner_id'),
    'csat_responses': ('id', 'shipment_id', 'partner_id', 'customer_id'),
    'customer_merges': ('id', 'survivor_id', 'merged_id', 'by_user_id', 'undone_by'),
    'customers': ('id', 'merged_into_id'),
    'delivery_attempts': ('id', 'shipment_id', 'driver_id', 'run_sheet_id', 'event_id'),
    'driver_settlements': ('id', 'driver_id', 'created_by'),
    'drivers': ('id', 'hub_id'),
    'fuel_surcharges': ('created_by',),
    'hubs': ('id', 'fed_by_id'),
    'idempotency_keys': ('id', 'partner_id'),
    'inbound_webhooks': ('id', 'partner_id'),
    'invoice_lines': ('id', 'invoice_id'),
    'invoices': ('id', 'partner_id', 'corrects_id', 'created_by'),
    'journal_entries': ('id', 'reverses_id'),
    'journal_lines': ('id', 'entry_id', 'party_id'),
    'lead_stage_changes': ('id', 'lead_id', 'by_user_id'),
    'leads': ('id', 'owner_id', 'partner_id', 'created_by'),
    'linehaul_trips': ('id', 'from_hub_id', 'to_hub_id'),
    'message_templates': ('id', 'partner_id', 'updated_by'),
    'notifications': ('id', 'shipment_id', 'event_id', 'customer_id'),
    'orders': ('id', 'partner_id', 'pickup_location_id', 'customer_id', 'dropoff_address_id'),
    'outbox': ('id', 'shipment_id'),
    'parcels': ('id', 'order_id'),
    'partners': ('id', 'owner_id'),
    'payment_allocations': ('id', 'invoice_id', 'payment_id', 'credit_note_id', 'remittance_id'),
    'payments': ('id', 'partner_id', 'created_by'),
    'period_balances': ('id', 'party_id'),
    'pickup_locations': ('id', 'partner_id', 'address_id'),
    'pickup_runs': ('id', 'partner_id', 'pickup_location_id', 'driver_id'),
    'proofs_of_delivery': ('id', 'shipment_id', 'event_id', 'driver_id'),
    'provider_payouts': ('id', 'created_by'),
    'rate_cards': ('id', 'partner_id', 'created_by'),
    'remittances': ('id', 'partner_id', 'created_by', 'paid_by'),
    'report_sendings': ('id', 'subscription_id'),
    'report_subscriptions': ('id', 'subject_id', 'partner_id', 'created_by'),
    'run_sheet_stops': ('id', 'run_sheet_id', 'shipment_id', 'pickup_run_id'),
    'run_sheets': ('id', 'hub_id', 'driver_id'),
    'saved_reports': ('id', 'partner_id', 'owner_id'),
    'shipment_events': ('id', 'shipment_id', 'hub_id'),
    'shipments': ('id', 'order_id', 'partner_id', 'centre_id', 'delivery_hub_id', 'pickup_run_id', 'linehaul_trip_id',
                  'run_sheet_id'),
    'stage_targets': ('id', 'hub_id', 'partner_id'),
    'trip_discrepancies': ('id', 'trip_id', 'shipment_id'),
    'user_sessions': ('id', 'user_id'),
    'users': ('id', 'hub_id', 'driver_id', 'partner_id'),
    'webhook_attempts': ('id', 'delivery_id'),
    'webhook_deliveries': ('id', 'endpoint_id', 'shipment_id'),
    'webhook_endpoints': ('id', 'partner_id'),
}


def _retype(type_: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table, columns in ID_COLUMNS.items():
        op.execute(f"ALTER TABLE {table} " + ", ".join(f"ALTER COLUMN {c} TYPE {type_}" for c in columns))
        if "id" in columns:
            sequence = bind.execute(sa.text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table}).scalar()
            if sequence:
                op.execute(f"ALTER SEQUENCE {sequence} AS {type_}")


def upgrade() -> None:
    _retype("bigint")


def downgrade() -> None:
    _retype("integer")
