"""Imports every module's models so that the metadata knows all tables."""
from app.api.models import IdempotencyKey  # noqa: F401
from app.auth.models import AuditEntry, User  # noqa: F401
from app.billing.models import CashHandover, Charge, CodCollection, JournalEntry, JournalLine, RateCard  # noqa: F401
from app.crm.models import ApiKey, Customer, Notification, Partner, PickupLocation  # noqa: F401
from app.db import Base  # noqa: F401
from app.delivery.models import DeliveryAttempt, Driver, PickupRun, ProofOfDelivery, RunSheet, RunSheetStop  # noqa: F401
from app.hubs.models import Bag, BagItem, Hub, LinehaulTrip, TripDiscrepancy  # noqa: F401
from app.orders.models import Address, Order, Parcel, Shipment, ShipmentEvent  # noqa: F401
from app.outbox import OutboxMessage  # noqa: F401
from app.reports.models import ReportSending, ReportSubscription, SavedReport  # noqa: F401
from app.webhooks.models import InboundWebhook, WebhookAttempt, WebhookDelivery, WebhookEndpoint  # noqa: F401
