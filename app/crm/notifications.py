"""Customer notifications on the milestones of a delivery, by email and SMS.

Each message sent is recorded; a job run twice for the same event finds the record and
sends nothing. The record is written after the send and committed by the caller: a crash
between the two sends again on redelivery (at least once), never silently drops one."""
from __future__ import annotations

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from app.billing.money import Money
from app.crm.messaging import Mailer, SmsGateway
from app.crm.models import Customer, Notification, Partner
from app.orders import shipments
from app.orders.models import Shipment, ShipmentEvent

REASONS = {
    "not_home": "nobody was at home", "refused": "the parcel was refused",
    "wrong_address": "the address could not be found", "access_restricted": "we could not get in",
    "business_closed": "the business was closed", "unsafe": "it was not safe to deliver",
    "customer_rescheduled": "you asked for another day", "damaged": "the parcel was damaged",
}


def _text(event: ShipmentEvent, shipment: Shipment, partner: Partner, url: str) -> tuple[str, str]:
    tn = shipment.tracking_number
    order = shipment.order
    if event.type == "picked_up":
        subject = f"Your {partner.name} parcel is on its way ({tn})"
        body = (f"{partner.name} has handed your parcel {tn} to us. "
                f"We expect to deliver it by {shipment.promised_date:%d %b %Y}.")
    elif event.type == "out_for_delivery":
        subject = f"Your parcel {tn} is out for delivery today"
        body = f"Your parcel {tn} from {partner.name} is out for delivery today."
        if order.cod_amount:
            body += f" Please have {Money(order.cod_amount, order.cod_currency)} ready."
        if shipment.delivery_code:
            body += f" Give the driver this code to receive it: {shipment.delivery_code}."
    elif event.type == "delivered":
        subject = f"Your parcel {tn} has been delivered"
        body = f"Your parcel {tn} from {partner.name} has been delivered."
    elif event.type == "delivery_failed":
        why = REASONS.get(event.reason or "", "we could not deliver it")
        subject = f"We could not deliver your parcel {tn}"
        body = f"We tried to deliver your parcel {tn} today, but {why}. We will try again."
    else:
        raise ValueError(f"no customer message for {event.type}")
    return subject, f"{body}\nTrack it: {url}/track/{tn}"


def notify_customer(session: Session, shipment_id: int, seq: int, *, mailer: Mailer,
                    sms: SmsGateway, public_url: str) -> list[Notification]:
    """Tell the customer about event ``seq`` of the shipment. Returns what was sent now."""
    sent, failures = notify_customers(session, [(shipment_id, seq)], mailer=mailer, sms=sms,
                                      public_url=public_url)
    if failures:
        raise failures[0][1]
    return sent


def notify_customers(session: Session, keys: list[tuple[int, int]], *, mailer: Mailer,
                     sms: SmsGateway, public_url: str):
    """Tell customers about events, each named by (shipment id, seq), loading them all at
    once. A message that cannot be sent is left out, not recorded: returns what was sent
    and the [(key, exception)] that failed, for the caller to retry."""
    events = shipments.events_with_orders(session, keys)
    customers = {c.id: c for c in session.scalars(select(Customer).where(
        Customer.id.in_({e.shipment.order.customer_id for e in events})))}
    done = set(session.execute(select(Notification.event_id, Notification.channel).where(
        Notification.event_id.in_([e.id for e in events]))).all())
    url = public_url.rstrip("/")
    sent, failures = [], []
    for event in events:
        shipment, order = event.shipment, event.shipment.order
        customer = customers[order.customer_id]
        partner = session.get(Partner, shipment.partner_id)
        try:
            subject, body = _text(event, shipment, partner, url)
            email = order.recipient_email or customer.email
            if (event.id, "email") not in done and customer.notify_email and email:
                sent.append(_record(event, customer, "email", email, body, mailer.name,
                                    mailer.send(email, subject, body)))
            if (event.id, "sms") not in done and customer.notify_sms:
                text = body if len(body) <= 300 else body[:297] + "..."
                sent.append(_record(event, customer, "sms", order.recipient_phone, text, sms.name,
                                    sms.send(order.recipient_phone, text)))
        except Exception as exc:  # one customer's failure must not hold back the others
            failures.append(((event.shipment_id, event.seq), exc))
    missing = set(keys) - {(e.shipment_id, e.seq) for e in events}
    failures += [(key, LookupError(f"no event {key}")) for key in missing]
    session.add_all(sent)
    return sent, failures


def _record(event, customer, channel, recipient, body, provider, message_id) -> Notification:
    return Notification(shipment_id=event.shipment_id, event_id=event.id, customer_id=customer.id,
                        milestone=event.type, channel=channel, recipient=recipient, body=body,
                        provider=provider, provider_message_id=message_id)


def notification_counts(session: Session, *, only=None) -> dict:
    """Messages sent by channel, and customer milestones with and without a message."""
    by_channel = select(Notification.channel, func.count()).group_by(Notification.channel)
    notified = select(func.count(distinct(Notification.event_id)))
    if only is not None:
        ids = list(only)
        by_channel = by_channel.where(Notification.shipment_id.in_(ids))
        notified = notified.where(Notification.shipment_id.in_(ids))
    return {"by_channel": dict(session.execute(by_channel).all()),
            "milestones": shipments.count_customer_milestones(session, only=only),
            "milestones_notified": session.scalar(notified)}


def notifications_of(session: Session, shipment_id: int) -> list[Notification]:
    """What the customer was sent about a shipment, oldest first."""
    return list(session.scalars(select(Notification).where(Notification.shipment_id == shipment_id)
                                .order_by(Notification.id)))
