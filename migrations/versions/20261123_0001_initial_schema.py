"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 19:29:55.935518
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.schema.CreateSequence(sa.Sequence("tracking_serial")))
    op.create_table('addresses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('line1', sa.String(length=255), nullable=False),
    sa.Column('line2', sa.String(length=255), nullable=False),
    sa.Column('district', sa.String(length=120), nullable=False),
    sa.Column('city', sa.String(length=120), nullable=False),
    sa.Column('postal_code', sa.String(length=20), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('located_by', sa.String(length=20), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_addresses'))
    )
    op.create_table('counters',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_counters'))
    )
    op.create_table('customers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('notify_email', sa.Boolean(), nullable=False),
    sa.Column('notify_sms', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customers')),
    sa.UniqueConstraint('phone', name=op.f('uq_customers_phone'))
    )
    op.create_table('hubs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.Enum('SHIPPING_CENTRE', 'LOCAL_HUB', name='hubkind', native_enum=False, length=20), nullable=False),
    sa.Column('address', sa.String(length=255), nullable=False),
    sa.Column('city', sa.String(length=120), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('delivery_radius_km', sa.Float(), nullable=False),
    sa.Column('fed_by_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['fed_by_id'], ['hubs.id'], name=op.f('fk_hubs_fed_by_id_hubs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hubs')),
    sa.UniqueConstraint('code', name=op.f('uq_hubs_code'))
    )
    op.create_table('partners',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partners')),
    sa.UniqueConstraint('name', name=op.f('uq_partners_name'))
    )
    op.create_table('rate_cards',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('service_level', sa.String(length=20), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('base_amount', sa.BigInteger(), nullable=False),
    sa.Column('per_km_amount', sa.BigInteger(), nullable=False),
    sa.Column('per_kg_amount', sa.BigInteger(), nullable=False),
    sa.Column('return_amount', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rate_cards')),
    sa.UniqueConstraint('service_level', 'currency', 'effective_from', name=op.f('uq_rate_cards_service_level_currency_effective_from'))
    )
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_api_keys_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('prefix', name=op.f('uq_api_keys_prefix'))
    )
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_keys_partner_id'), ['partner_id'], unique=False)

    op.create_table('drivers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('hub_id', sa.Integer(), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['hub_id'], ['hubs.id'], name=op.f('fk_drivers_hub_id_hubs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_drivers')),
    sa.UniqueConstraint('phone', name=op.f('uq_drivers_phone'))
    )
    with op.batch_alter_table('drivers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_drivers_hub_id'), ['hub_id'], unique=False)

    op.create_table('linehaul_trips',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('from_hub_id', sa.Integer(), nullable=False),
    sa.Column('to_hub_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('DEPARTED', 'ARRIVED', name='tripstatus', native_enum=False, length=20), nullable=False),
    sa.Column('departed_at', sa.DateTime(), nullable=False),
    sa.Column('arrived_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['from_hub_id'], ['hubs.id'], name=op.f('fk_linehaul_trips_from_hub_id_hubs')),
    sa.ForeignKeyConstraint(['to_hub_id'], ['hubs.id'], name=op.f('fk_linehaul_trips_to_hub_id_hubs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_linehaul_trips'))
    )
    with op.batch_alter_table('linehaul_trips', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_linehaul_trips_from_hub_id'), ['from_hub_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_linehaul_trips_to_hub_id'), ['to_hub_id'], unique=False)

    op.create_table('pickup_locations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('address_id', sa.Integer(), nullable=False),
    sa.Column('address_key', sa.String(length=400), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['address_id'], ['addresses.id'], name=op.f('fk_pickup_locations_address_id_addresses')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_pickup_locations_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pickup_locations')),
    sa.UniqueConstraint('partner_id', 'address_key', name=op.f('uq_pickup_locations_partner_id_address_key'))
    )
    op.create_table('orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=100), nullable=False),
    sa.Column('service_level', sa.String(length=20), nullable=False),
    sa.Column('pickup_location_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('dropoff_address_id', sa.Integer(), nullable=False),
    sa.Column('recipient_name', sa.String(length=200), nullable=False),
    sa.Column('recipient_phone', sa.String(length=32), nullable=False),
    sa.Column('recipient_email', sa.String(length=254), nullable=True),
    sa.Column('cod_amount', sa.BigInteger(), nullable=False),
    sa.Column('cod_currency', sa.String(length=3), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_orders_customer_id_customers')),
    sa.ForeignKeyConstraint(['dropoff_address_id'], ['addresses.id'], name=op.f('fk_orders_dropoff_address_id_addresses')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_orders_partner_id_partners')),
    sa.ForeignKeyConstraint(['pickup_location_id'], ['pickup_locations.id'], name=op.f('fk_orders_pickup_location_id_pickup_locations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders')),
    sa.UniqueConstraint('partner_id', 'reference', name=op.f('uq_orders_partner_id_reference'))
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_orders_customer_id'), ['customer_id'], unique=False)

    op.create_table('pickup_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('pickup_location_id', sa.Integer(), nullable=False),
    sa.Column('run_date', sa.Date(), nullable=False),
    sa.Column('driver_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('completed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['driver_id'], ['drivers.id'], name=op.f('fk_pickup_runs_driver_id_drivers')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_pickup_runs_partner_id_partners')),
    sa.ForeignKeyConstraint(['pickup_location_id'], ['pickup_locations.id'], name=op.f('fk_pickup_runs_pickup_location_id_pickup_locations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pickup_runs'))
    )
    with op.batch_alter_table('pickup_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pickup_runs_partner_id'), ['partner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pickup_runs_pickup_location_id'), ['pickup_location_id'], unique=False)

    op.create_table('run_sheets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hub_id', sa.Integer(), nullable=False),
    sa.Column('driver_id', sa.Integer(), nullable=False),
    sa.Column('run_date', sa.Date(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['driver_id'], ['drivers.id'], name=op.f('fk_run_sheets_driver_id_drivers')),
    sa.ForeignKeyConstraint(['hub_id'], ['hubs.id'], name=op.f('fk_run_sheets_hub_id_hubs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_run_sheets'))
    )
    with op.batch_alter_table('run_sheets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_run_sheets_driver_id'), ['driver_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_run_sheets_hub_id'), ['hub_id'], unique=False)

    op.create_table('parcels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('weight_grams', sa.Integer(), nullable=False),
    sa.Column('length_cm', sa.Integer(), nullable=False),
    sa.Column('width_cm', sa.Integer(), nullable=False),
    sa.Column('height_cm', sa.Integer(), nullable=False),
    sa.Column('declared_value_amount', sa.BigInteger(), nullable=False),
    sa.Column('declared_value_currency', sa.String(length=3), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_parcels_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_parcels')),
    sa.UniqueConstraint('order_id', 'seq', name=op.f('uq_parcels_order_id_seq'))
    )
    op.create_table('shipments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('tracking_number', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=30), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('held_from', sa.String(length=30), nullable=True),
    sa.Column('hold_reason', sa.String(length=200), nullable=True),
    sa.Column('failed_attempts', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=True),
    sa.Column('last_event_seq', sa.Integer(), nullable=False),
    sa.Column('centre_id', sa.Integer(), nullable=False),
    sa.Column('delivery_hub_id', sa.Integer(), nullable=False),
    sa.Column('route', sa.String(length=10), nullable=False),
    sa.Column('planned_legs', sa.JSON(), nullable=False),
    sa.Column('distance_km', sa.Float(), nullable=False),
    sa.Column('billable_grams', sa.Integer(), nullable=False),
    sa.Column('quoted_fee_amount', sa.BigInteger(), nullable=False),
    sa.Column('quoted_fee_currency', sa.String(length=3), nullable=False),
    sa.Column('promised_date', sa.Date(), nullable=False),
    sa.Column('pickup_run_id', sa.Integer(), nullable=True),
    sa.Column('linehaul_trip_id', sa.Integer(), nullable=True),
    sa.Column('run_sheet_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['centre_id'], ['hubs.id'], name=op.f('fk_shipments_centre_id_hubs')),
    sa.ForeignKeyConstraint(['delivery_hub_id'], ['hubs.id'], name=op.f('fk_shipments_delivery_hub_id_hubs')),
    sa.ForeignKeyConstraint(['linehaul_trip_id'], ['linehaul_trips.id'], name=op.f('fk_shipments_linehaul_trip_id_linehaul_trips')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_shipments_order_id_orders')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_shipments_partner_id_partners')),
    sa.ForeignKeyConstraint(['pickup_run_id'], ['pickup_runs.id'], name=op.f('fk_shipments_pickup_run_id_pickup_runs')),
    sa.ForeignKeyConstraint(['run_sheet_id'], ['run_sheets.id'], name=op.f('fk_shipments_run_sheet_id_run_sheets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipments')),
    sa.UniqueConstraint('order_id', name=op.f('uq_shipments_order_id')),
    sa.UniqueConstraint('tracking_number', name=op.f('uq_shipments_tracking_number'))
    )
    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shipments_linehaul_trip_id'), ['linehaul_trip_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_shipments_pickup_run_id'), ['pickup_run_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_shipments_run_sheet_id'), ['run_sheet_id'], unique=False)
        batch_op.create_index('ix_shipments_status_hub', ['status', 'delivery_hub_id'], unique=False)
        batch_op.create_index('ix_shipments_status_partner', ['status', 'partner_id'], unique=False)

    op.create_table('charges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('shipment_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('rate_card_id', sa.Integer(), nullable=False),
    sa.Column('breakdown', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_charges_partner_id_partners')),
    sa.ForeignKeyConstraint(['rate_card_id'], ['rate_cards.id'], name=op.f('fk_charges_rate_card_id_rate_cards')),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], name=op.f('fk_charges_shipment_id_shipments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_charges')),
    sa.UniqueConstraint('shipment_id', 'kind', name=op.f('uq_charges_shipment_id_kind'))
    )
    with op.batch_alter_table('charges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_charges_partner_id'), ['partner_id'], unique=False)

    op.create_table('cod_collections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shipment_id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('amount_due', sa.BigInteger(), nullable=False),
    sa.Column('amount_collected', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('method', sa.String(length=20), nullable=True),
    sa.Column('driver_id', sa.Integer(), nullable=True),
    sa.Column('collected_at', sa.DateTime(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['driver_id'], ['drivers.id'], name=op.f('fk_cod_collections_driver_id_drivers')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_cod_collections_partner_id_partners')),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], name=op.f('fk_cod_collections_shipment_id_shipments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cod_collections')),
    sa.UniqueConstraint('shipment_id', name=op.f('uq_cod_collections_shipment_id'))
    )
    with op.batch_alter_table('cod_collections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cod_collections_partner_id'), ['partner_id'], unique=False)

    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('topic', sa.String(length=40), nullable=False),
    sa.Column('shipment_id', sa.Integer(), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('relayed_at', sa.DateTime(), nullable=True),
    sa.Column('relay_count', sa.Integer(), nullable=False),
    sa.Column('processed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], name=op.f('fk_outbox_shipment_id_shipments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_pending', ['id'], unique=False, sqlite_where=sa.text('processed_at IS NULL'), postgresql_where=sa.text('processed_at IS NULL'))

    op.create_table('shipment_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shipment_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('from_status', sa.String(length=30), nullable=True),
    sa.Column('to_status', sa.String(length=30), nullable=False),
    sa.Column('applied', sa.Boolean(), nullable=False),
    sa.Column('actor', sa.String(length=60), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('hub_id', sa.Integer(), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('device_time', sa.DateTime(), nullable=True),
    sa.Column('server_time', sa.DateTime(), nullable=False),
    sa.Column('client_event_id', sa.String(length=64), nullable=True),
    sa.Column('data', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['hub_id'], ['hubs.id'], name=op.f('fk_shipment_events_hub_id_hubs')),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], name=op.f('fk_shipment_events_shipment_id_shipments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipment_events')),
    sa.UniqueConstraint('client_event_id', name=op.f('uq_shipment_events_client_event_id')),
    sa.UniqueConstraint('shipment_id', 'seq', name=op.f('uq_shipment_events_shipment_id_seq'))
    )
    op.create_table('delivery_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shipment_id', sa.Integer(), nullable=False),
    sa.Column('attempt_no', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('reason_code', sa.String(length=40), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('driver_id', sa.Integer(), nullable=True),
    sa.Column('run_sheet_id', sa.Integer(), nullable=True),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['driver_id'], ['drivers.id'], name=op.f('fk_delivery_attempts_driver_id_drivers')),
    sa.ForeignKeyConstraint(['event_id'], ['shipment_events.id'], name=op.f('fk_delivery_attempts_event_id_shipment_events')),
    sa.ForeignKeyConstraint(['run_sheet_id'], ['run_sheets.id'], name=op.f('fk_delivery_attempts_run_sheet_id_run_sheets')),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], name=op.f('fk_delivery_attempts_shipment_id_shipments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_attempts')),
    sa.UniqueConstraint('shipment_id', 'attempt_no', name=op.f('uq_delivery_attempts_shipment_id_attempt_no'))
    )
    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shipment_id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('milestone', sa.String(length=40), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('recipient', sa.String(length=254), nullable=False),
    sa.Column('body', sa.String(length=2000), nullable=False),
    sa.Column('provider', sa.String(length=40), nullable=False),
    sa.Column('provider_message_id', sa.String(length=200), nullable=True),
    sa.Column('sent_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_notifications_customer_id_customers')),
    sa.ForeignKeyConstraint(['event_id'], ['shipment_events.id'], name=op.f('fk_notifications_event_id_shipment_events')),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], name=op.f('fk_notifications_shipment_id_shipments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    sa.UniqueConstraint('event_id', 'channel', name=op.f('uq_notifications_event_id_channel'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notifications_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notifications_shipment_id'), ['shipment_id'], unique=False)

    op.create_table('proofs_of_delivery',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shipment_id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('recipient_name', sa.String(length=200), nullable=False),
    sa.Column('relation', sa.String(length=20), nullable=False),
    sa.Column('signature_svg', sa.String(), nullable=True),
    sa.Column('photo_ref', sa.String(length=255), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('captured_at', sa.DateTime(), nullable=False),
    sa.Column('cod_received_amount', sa.BigInteger(), nullable=False),
    sa.Column('cod_method', sa.String(length=20), nullable=True),
    sa.Column('driver_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['driver_id'], ['drivers.id'], name=op.f('fk_proofs_of_delivery_driver_id_drivers')),
    sa.ForeignKeyConstraint(['event_id'], ['shipment_events.id'], name=op.f('fk_proofs_of_delivery_event_id_shipment_events')),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], name=op.f('fk_proofs_of_delivery_shipment_id_shipments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_proofs_of_delivery')),
    sa.UniqueConstraint('shipment_id', name=op.f('uq_proofs_of_delivery_shipment_id'))
    )


def downgrade() -> None:
    op.drop_table('proofs_of_delivery')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notifications_shipment_id'))
        batch_op.drop_index(batch_op.f('ix_notifications_customer_id'))

    op.drop_table('notifications')
    op.drop_table('delivery_attempts')
    op.drop_table('shipment_events')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_pending', sqlite_where=sa.text('processed_at IS NULL'), postgresql_where=sa.text('processed_at IS NULL'))

    op.drop_table('outbox')
    with op.batch_alter_table('cod_collections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cod_collections_partner_id'))

    op.drop_table('cod_collections')
    with op.batch_alter_table('charges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_charges_partner_id'))

    op.drop_table('charges')
    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.drop_index('ix_shipments_status_partner')
        batch_op.drop_index('ix_shipments_status_hub')
        batch_op.drop_index(batch_op.f('ix_shipments_run_sheet_id'))
        batch_op.drop_index(batch_op.f('ix_shipments_pickup_run_id'))
        batch_op.drop_index(batch_op.f('ix_shipments_linehaul_trip_id'))

    op.drop_table('shipments')
    op.drop_table('parcels')
    with op.batch_alter_table('run_sheets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_run_sheets_hub_id'))
        batch_op.drop_index(batch_op.f('ix_run_sheets_driver_id'))

    op.drop_table('run_sheets')
    with op.batch_alter_table('pickup_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pickup_runs_pickup_location_id'))
        batch_op.drop_index(batch_op.f('ix_pickup_runs_partner_id'))

    op.drop_table('pickup_runs')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_orders_customer_id'))

    op.drop_table('orders')
    op.drop_table('pickup_locations')
    with op.batch_alter_table('linehaul_trips', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_linehaul_trips_to_hub_id'))
        batch_op.drop_index(batch_op.f('ix_linehaul_trips_from_hub_id'))

    op.drop_table('linehaul_trips')
    with op.batch_alter_table('drivers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_drivers_hub_id'))

    op.drop_table('drivers')
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_keys_partner_id'))

    op.drop_table('api_keys')
    op.drop_table('rate_cards')
    op.drop_table('partners')
    op.drop_table('hubs')
    op.drop_table('customers')
    op.drop_table('counters')
    op.drop_table('addresses')
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.schema.DropSequence(sa.Sequence("tracking_serial")))
