"""Customer notifications on the milestones of a delivery, by email and SMS.

No message is sent inside a transaction. ``plan_notifications`` writes the messages owed
(unique per event and channel, so a job run twice plans once) with the id the carrier
will see; a sender claims a few (``claim_due``, a hold per message), commits, sends them
with no transaction open (``send``), and records each outcome in a commit of its own
(``record_sent`` / ``record_failure``). A sender that dies between sending and recording
leaves its hold to run out: the message then goes again, with the same id."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from flask import current_app
from flask_babel import format_currency, format_date
from flask_babel import gettext as _
from sqlalchemy import bindparam, distinct, func, insert, or_, select, update
from sqlalchemy.orm import Session

from app import clock
from app.billing.money import EXPONENTS
from app.crm import csat
from app.crm.customers import roots
from app.crm.messaging import Mailer, SmsGateway, new_message_id, new_reference
from app.crm.models import Customer, Notification, Partner
from app.crm.wording import SMS_LIMIT, Wordings
from app.crm.wording import load as load_wordings
from app.i18n import speaking
from app.orders import promise_words, shipments
from app.orders.lifecycle import FAILURE_REASONS, Event
from app.orders.models import Shipment, ShipmentEvent
from app.words import given_name


def _money(amount: int, currency: str) -> str:
    """Money as the reader's language writes it ("250.000 ₫", "₫250,000")."""
    return format_currency(Decimal(amount).scaleb(-EXPONENTS[currency]), currency)


def _texts(event: ShipmentEvent, shipment: Shipment, partner: Partner, url: str, language: str | None,
           wordings: Wordings | None = None) -> dict[str, tuple[str | None, str]]:
    """channel -> (subject, body) of the message about ``event``, in ``language`` (the
    customer's): the partner's or the network's template for it when there is one
    (``crm.wording``), else Waybill's own wording."""
    with speaking(language) as spoken:
        tn, shop = shipment.tracking_number, partner.name
        order = shipment.order
        link = f"{url}/track/{tn}"
        variables = {"name": given_name(order.recipient_name), "shop": shop, "tracking_number": tn, "link": link}
        if event.type == Event.PICKED_UP:
            variables["promised_day"] = format_date(shipment.promised_date, "d MMMM yyyy")
            subject = _("Your %(shop)s parcel is on its way (%(number)s)", shop=shop, number=tn)
            body = _("%(shop)s has handed your parcel %(number)s to us. We expect to deliver it by %(day)s.",
                     shop=shop, number=tn, day=variables["promised_day"])
        elif event.type == Event.OUT_FOR_DELIVERY:
            variables["cod"] = _money(order.cod_amount, order.cod_currency) if order.cod_amount else ""
            variables["code"] = shipment.delivery_code or ""
            subject = _("Your parcel %(number)s is out for delivery today", number=tn)
            body = _("Your parcel %(number)s from %(shop)s is out for delivery today.", number=tn, shop=shop)
            if order.cod_amount:
                body += " " + _("Please have %(amount)s ready.", amount=variables["cod"])
            if shipment.delivery_code:
                body += " " + _("Give the driver this code to receive it: %(code)s.", code=shipment.delivery_code)
        elif event.type == Event.DELIVERED:
            token = csat.token_for(current_app.config["SECRET_KEY"], shipment.id)
            variables["feedback_link"] = f"{url}/feedback/{token}"
            subject = _("Your parcel %(number)s has been delivered", number=tn)
            body = _("Your parcel %(number)s from %(shop)s has been delivered.", number=tn, shop=shop)
            body += "\n" + _("How did we do? One tap to tell us: %(link)s", link=variables["feedback_link"])
        elif event.type == Event.DELIVERY_FAILED:
            reason = FAILURE_REASONS.get(event.reason or "")
            variables["reason"] = _(reason.customer) if reason else _("we could not deliver it")
            subject = _("We could not deliver your parcel %(number)s", number=tn)
            body = _("We tried to deliver your parcel %(number)s today, but %(why)s. We will try again.",
                     number=tn, why=variables["reason"])
        elif event.type == Event.PROMISE_CHANGED:
            variables["promised_day"] = format_date(shipment.promised_date, "EEEE d MMMM")
            variables["reason"] = promise_words.explain(shipment.promise_basis, clock.today())
            subject = _("A new delivery day for your parcel %(number)s", number=tn)
            body = _("Your parcel %(number)s from %(shop)s will now be delivered on %(day)s (%(why)s). "
                     "We are sorry for the wait.", number=tn, shop=shop, day=variables["promised_day"],
                     why=variables["reason"])
        else:
            raise ValueError(f"no customer message for {event.type}")
        default = (subject, body + "\n" + _("Track it: %(link)s", link=link))
        out = {}
        for channel in ("email", "sms"):
            worded = wordings.render(event.type, channel, spoken, partner.id, variables) if wordings else None
            if worded is not None and channel == "email" and worded[0] is None:
                worded = (default[0], worded[1])
            out[channel] = worded or default
        return out


#: Wait after each failed try; after the last one the message is given up.
RETRY_DELAYS = tuple(timedelta(minutes=m) for m in (1, 5, 30, 120, 360))
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
#: Messages a sender claims at a time.
CLAIM_BATCH = 10
#: A claim holds the message being sent and the next one; the sender renews the hold of
#: the rest as it goes (``hold_on``), so the messages of a sender that died go again after
#: two holds, not one hold per message it had claimed.
HELD_AHEAD = 2


def hold_per_message() -> timedelta:
    """How long a sender may hold each message it claimed: three times the longest a
    carrier may take to answer (MAIL_TIMEOUT, SMS_GATEWAY_TIMEOUT; 45 s by default), room
    for two tries. A sender killed mid-batch leaves the rest to go when the hold runs out."""
    config = current_app.config
    return timedelta(seconds=3 * max(config.get("MAIL_TIMEOUT", 15), config.get("SMS_GATEWAY_TIMEOUT", 10)))


def held_until(now: datetime, count: int) -> datetime:
    """The end of the hold on ``count`` messages a sender is about to send, claimed ``now``."""
    return now + hold_per_message() * min(count, HELD_AHEAD)



@dataclass(frozen=True)
class Outgoing:
    """A claimed message, as plain values: what a sender needs with no session open."""

    id: int
    channel: str
    recipient: str
    subject: str | None
    body: str
    #: The id the carrier sees: the same in every try.
    message_id: str


def plan_notifications(session: Session, keys: list[tuple[int, int]], *, public_url: str,
                       now: datetime | None = None) -> list[tuple[tuple[int, int], Exception]]:
    """Write, unsent, the messages customers are owed about events, each named by
    (shipment id, seq): one per event and channel the customer accepts. An event planned
    before is left as it is. Returns the [(key, exception)] that could not be planned."""
    return plan_and_claim(session, keys, public_url=public_url, now=now, claim=False)[1]


def plan_and_claim(session: Session, keys: list[tuple[int, int]], *, public_url: str,
                   now: datetime | None = None, claim: bool = True):
    """``plan_notifications``, and the messages planned now claimed by the caller (held
    as ``claim_due`` holds them): (outgoing, failures). The caller commits, then sends."""
    now = now or clock.now()
    events = shipments.events_with_orders(session, keys)
    customers = {c.id: c for c in session.scalars(select(Customer).where(
        Customer.id.in_({e.shipment.order.customer_id for e in events})))}
    people = roots(session, customers)
    wordings = load_wordings(session)
    done = set(session.execute(select(Notification.event_id, Notification.channel).where(
        Notification.event_id.in_([e.id for e in events]))).all())
    url = public_url.rstrip("/")
    partners: dict[int, Partner] = {}
    planned, failures = [], []
    for event in events:
        shipment, order = event.shipment, event.shipment.order
        # A merged record speaks through its survivor: the same person's wishes.
        customer = people[order.customer_id]
        if customer.opted_out_at is not None and not (event.type == Event.OUT_FOR_DELIVERY
                                                      and shipment.delivery_code):
            continue  # they asked for no messages: only a delivery code they need still goes
        if shipment.partner_id not in partners:
            partners[shipment.partner_id] = session.get(Partner, shipment.partner_id)
        try:
            texts = _texts(event, shipment, partners[shipment.partner_id], url, customer.language, wordings)
        except Exception as exc:  # one event's failure must not hold back the others
            failures.append(((event.shipment_id, event.seq), exc))
            continue
        email = order.recipient_email or customer.email
        if (event.id, "email") not in done and customer.notify_email and email:
            subject, body = texts["email"]
            planned.append(_message(event, customers[order.customer_id], "email", email, subject, body,
                                    new_message_id(), now))
        if (event.id, "sms") not in done and customer.notify_sms:
            body = texts["sms"][1]
            text = body if len(body) <= SMS_LIMIT else body[:SMS_LIMIT - 3] + "..."
            planned.append(_message(event, customers[order.customer_id], "sms", order.recipient_phone, None, text,
                                    new_reference(), now))
    missing = set(keys) - {(e.shipment_id, e.seq) for e in events}
    failures += [(key, LookupError(f"no event {key}")) for key in missing]
    if not planned:
        return [], failures
    if claim:
        until = held_until(now, len(planned))
        for row in planned:
            row["claimed_until"] = until
    # Core rows, not ORM objects: this runs inside the outbox job's transaction, which on
    # SQLite holds the only write lock.
    ids = session.execute(_INSERT, planned).scalars().all()
    if not claim:
        return [], failures
    return [Outgoing(i, r["channel"], r["recipient"], r["subject"], r["body"], r["provider_message_id"])
            for i, r in zip(ids, planned)], failures


_INSERT = insert(Notification.__table__).returning(Notification.__table__.c.id, sort_by_parameter_order=True)


def _message(event, customer, channel, recipient, subject, body, message_id, now) -> dict:
    return {"shipment_id": event.shipment_id, "event_id": event.id, "customer_id": customer.id,
            "milestone": event.type, "channel": channel, "recipient": recipient, "subject": subject,
            "body": body, "status": "pending", "provider_message_id": message_id, "attempts": 0,
            "next_attempt_at": now, "claimed_until": None, "last_error": None, "provider": None,
            "sent_at": None, "created_at": now}


def claim_due(session: Session, *, now: datetime | None = None, limit: int = CLAIM_BATCH) -> list[Outgoing]:
    """Take the due messages for sending, oldest first: each is held for this sender
    until its hold runs out. Other senders skip the rows locked here. The caller commits."""
    now = now or clock.now()
    rows = list(session.scalars(
        select(Notification).where(
            Notification.status == "pending", Notification.next_attempt_at <= now,
            or_(Notification.claimed_until.is_(None), Notification.claimed_until < now))
        .order_by(Notification.id).limit(limit).with_for_update(skip_locked=True, key_share=True)))
    until = held_until(now, len(rows))
    for row in rows:
        row.claimed_until = until
    return [_outgoing(r) for r in rows]


def _outgoing(message: Notification) -> Outgoing:
    return Outgoing(message.id, message.channel, message.recipient, message.subject, message.body,
                    message.provider_message_id)


def hold_on(session: Session, notification_ids: list[int], *, now: datetime | None = None) -> None:
    """The sender still holds these messages (it is sending the ones before them): their
    hold starts again (``held_until``)."""
    if notification_ids:
        until = held_until(now or clock.now(), len(notification_ids))
        session.execute(update(Notification).where(Notification.id.in_(notification_ids),
                                                   Notification.status == "pending")
                        .values(claimed_until=until))


def send(message: Outgoing, *, mailer: Mailer, sms: SmsGateway) -> str:
    """Hand one message to its carrier. No database here: call it with no transaction
    open. Returns the carrier's name."""
    if message.channel == "email":
        mailer.send(message.recipient, message.subject or "", message.body, message_id=message.message_id)
        return mailer.name
    sms.send(message.recipient, message.body, reference=message.message_id)
    return sms.name


_notifications = Notification.__table__
_RECORD_SENT = (update(_notifications).where(_notifications.c.id == bindparam("b_id")).values(
    status="sent", provider=bindparam("b_provider"), sent_at=bindparam("b_at"),
    attempts=_notifications.c.attempts + 1, claimed_until=None, next_attempt_at=None, last_error=None))


def record_sent(session: Session, proofs: list[tuple[int, str, datetime]]) -> None:
    """Messages the carriers took, each as (id, carrier, when): the proof that keeps
    them from going again."""
    if proofs:
        session.execute(_RECORD_SENT, [{"b_id": i, "b_provider": p, "b_at": at} for i, p, at in proofs])


def record_failure(session: Session, notification_id: int, error: str, *, now: datetime | None = None,
                   permanent: bool = False) -> None:
    """The carrier refused or could not be reached: try again later, or give up after
    the last attempt (at once when the refusal is ``permanent``: a bad number)."""
    now = now or clock.now()
    message = session.get(Notification, notification_id, with_for_update={"key_share": True})
    if message is None or message.status != "pending":
        return
    message.attempts += 1
    message.last_error, message.claimed_until = error[:300], None
    if message.attempts >= MAX_ATTEMPTS or permanent:
        message.status, message.next_attempt_at = "failed", None
    else:
        message.next_attempt_at = now + RETRY_DELAYS[message.attempts - 1]


def notification_counts(session: Session, *, only=None) -> dict:
    """Messages sent by channel, and customer milestones with and without a message."""
    by_channel = (select(Notification.channel, func.count()).where(Notification.status == "sent")
                  .group_by(Notification.channel))
    notified = select(func.count(distinct(Notification.event_id))).where(Notification.status == "sent")
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


def messages_of_customers(session: Session, customer_ids: list[int], *, limit: int = 100) -> list[Notification]:
    """What was sent (or is to be) to these customer records, newest first."""
    return list(session.scalars(select(Notification).where(Notification.customer_id.in_(customer_ids))
                                .order_by(Notification.id.desc()).limit(limit)))
