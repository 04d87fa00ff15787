"""Webhook services: endpoints, fan-out of shipment events, delivery with retries,
replay and test events.

Every applied shipment event (and an order's creation) writes a ``webhook`` outbox row
in the transaction of the change. ``fan_out`` turns a batch of them into one delivery
per subscribed endpoint. ``claim_due`` leases the deliveries that are due, and
``send_batch`` sends one endpoint's, in order, recording every attempt and scheduling
the next. ``now`` is a parameter throughout, so the schedule is testable without waiting;
the signature's timestamp is always the real time of sending.
"""
from __future__ import annotations

import json
import secrets
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, delete, func, insert, or_, select, tuple_, update
from sqlalchemy.orm import Session, aliased

from app import clock
from app.crm.models import Partner
from app.db import db
from app.hubs.models import Hub
from app.orders import lifecycle
from app.orders.lifecycle import public_status
from app.orders.models import Order, Shipment, ShipmentEvent
from app.outbox import add_outbox
from app.webhooks import transport
from app.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from app.webhooks.signing import new_secret, signed_headers

#: Shipment event type -> webhook event type, where it is an order's rather than the parcel's.
ORDER_EVENTS = {lifecycle.CREATED_EVENT: "order.created", "cancelled": "order.cancelled",
                lifecycle.ADDRESS_CHANGED_EVENT: "order.address_changed"}
TEST_EVENT = "webhook.test"


def webhook_type(event_type: str) -> str:
    return ORDER_EVENTS.get(event_type) or f"shipment.{event_type}"


#: Events about a partner's account rather than a shipment.
ACCOUNT_EVENTS = ("invoice.issued", "credit_note.issued", "remittance.paid")
#: Every event type an endpoint can subscribe to.
EVENT_TYPES = tuple(sorted(
    {webhook_type(t.event) for t in lifecycle.TRANSITIONS.values()} | set(ORDER_EVENTS.values())
    | {webhook_type(e) for e in (lifecycle.REROUTED_EVENT, lifecycle.RESCHEDULED_EVENT, lifecycle.BACK_AT_HUB_EVENT,
                                 lifecycle.PROMISE_CHANGED_EVENT)}
    | set(ACCOUNT_EVENTS)))

#: Wait after each failed attempt: ten attempts over about three days.
RETRY_DELAYS = tuple(timedelta(seconds=s) for s in (
    10, 60, 10 * 60, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600, 24 * 3600))
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
#: The longest wait a Retry-After header may ask for.
MAX_RETRY_AFTER = timedelta(hours=24)
MAX_ENDPOINTS = 10
#: How many of one shipment's deliveries to an endpoint a sender takes at a time.
BATCH = 20
#: Lanes (shipments) one endpoint has sent to side by side, at most, per sweep.
ENDPOINT_LANES = 500
#: Lanes a sender sends at once (threads); a sweep's lanes are shared among the senders.
SENDER_THREADS = 8
#: Lanes one send message carries.
LANES_PER_MESSAGE = 16
ROTATION_OVERLAP = timedelta(hours=24)
#: Events one replay may send again; and all of a partner's replays in REPLAY_WINDOW.
MAX_REPLAY = 1_000
REPLAY_QUOTA = 5_000
REPLAY_WINDOW = timedelta(hours=1)


class ReplayQuotaExceeded(Exception):
    """A partner's replays would go over REPLAY_QUOTA; ``retry_after`` in seconds."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class WebhookError(ValueError):
    """A request about endpoints that cannot be done; the message says why."""


# -- endpoints -------------------------------------------------------------------------

def check_event_types(event_types: list[str]) -> list[str]:
    unknown = [t for t in event_types if t not in EVENT_TYPES]
    if unknown:
        raise WebhookError(f"unknown event types {', '.join(unknown)}; the types are {', '.join(EVENT_TYPES)}")
    return sorted(set(event_types))


def create_endpoint(session: Session, partner: Partner, *, url: str, event_types: list[str],
                    description: str = "", allow_private: bool = False) -> WebhookEndpoint:
    """A new endpoint with a new secret (read it from ``endpoint.secret`` once, to show it)."""
    count = session.query(WebhookEndpoint).filter_by(partner_id=partner.id).count()
    if count >= MAX_ENDPOINTS:
        raise WebhookError(f"at most {MAX_ENDPOINTS} endpoints per partner")
    _check_url(url, allow_private)
    endpoint = WebhookEndpoint(partner_id=partner.id, url=url, description=description,
                               event_types=check_event_types(event_types), enabled=True,
                               secret=new_secret())
    session.add(endpoint)
    session.flush()
    return endpoint


def update_endpoint(session: Session, endpoint: WebhookEndpoint, *, allow_private: bool = False,
                    **changes) -> WebhookEndpoint:
    """Change url, event_types, description or enabled. Enabling again clears the reason
    it was disabled; disabling cancels what was waiting to be sent."""
    if "url" in changes:
        _check_url(changes["url"], allow_private)
        endpoint.url = changes["url"]
    if "event_types" in changes:
        endpoint.event_types = check_event_types(changes["event_types"])
    if "description" in changes:
        endpoint.description = changes["description"]
    if "enabled" in changes and changes["enabled"] != endpoint.enabled:
        if changes["enabled"]:
            endpoint.enabled, endpoint.disabled_reason, endpoint.disabled_at = True, None, None
            endpoint.failing_since = None
        else:
            _disable(session, endpoint, "disabled by the partner", clock.now(), tell=False)
    session.flush()
    return endpoint


def delete_endpoint(session: Session, endpoint: WebhookEndpoint) -> None:
    session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(
        select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint.id))))
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    session.delete(endpoint)
    session.flush()


def rotate_secret(session: Session, endpoint: WebhookEndpoint, *, now: datetime | None = None) -> str:
    """A new secret; the old one still signs (a second signature) for 24 hours, so the
    partner can switch its receiver without losing a delivery."""
    now = now or clock.now()
    endpoint.previous_secret, endpoint.previous_secret_expires_at = endpoint.secret, now + ROTATION_OVERLAP
    endpoint.secret = new_secret()
    session.flush()
    return endpoint.secret


def secrets_in_force(endpoint: WebhookEndpoint, at: datetime) -> list[str]:
    found = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > at:
        found.append(endpoint.previous_secret)
    return found


def endpoint_of(session: Session, partner_id: int, endpoint_id: int) -> WebhookEndpoint | None:
    found = session.get(WebhookEndpoint, endpoint_id)
    return found if found is not None and found.partner_id == partner_id else None


def disabled_endpoints(session: Session, limit: int = 20) -> list[WebhookEndpoint]:
    """Endpoints Waybill (or their partner) disabled, the latest first: the exceptions queue."""
    return list(session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(False))
                                .order_by(WebhookEndpoint.disabled_at.desc()).limit(limit)))


def endpoints_of(session: Session, partner_id: int) -> list[WebhookEndpoint]:
    return list(session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.partner_id == partner_id)
                                .order_by(WebhookEndpoint.id)))


def _check_url(url: str, allow_private: bool) -> None:
    try:
        transport.check_url(url, allow_private=allow_private)
    except transport.UrlRefused as exc:
        raise WebhookError(str(exc)) from None


# -- events ----------------------------------------------------------------------------

def event_id(event_row_id: int) -> str:
    return f"evt_{event_row_id}"


def _envelope(event: ShipmentEvent, shipment: Shipment, order: Order, hub_code: str | None) -> dict:
    data = {
        "order_id": order.id, "reference": order.reference, "tracking_number": shipment.tracking_number,
        "sequence": event.seq,
        "status": public_status(event.to_status, shipment.outcome),
        "event": event.type,
        "occurred_at": _iso(event.device_time or event.server_time),
        "hub": hub_code, "reason": event.reason,
    }
    if event.type == lifecycle.ADDRESS_CHANGED_EVENT and event.data:
        data["address"] = {"from": event.data["from"]["address"], "to": event.data["to"]["address"]}
    if event.type == lifecycle.PROMISE_CHANGED_EVENT and event.data:
        data["promised_date"] = {"from": event.data["from"], "to": event.data["to"]}
    return {"id": event_id(event.id), "type": webhook_type(event.type), "timestamp": _iso(event.server_time),
            "data": data}


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _events(session: Session, where) -> list[tuple[int, int, dict]]:
    """(partner id, shipment id, envelope) of the applied events matching ``where``, in order."""
    hub = aliased(Hub)
    rows = session.execute(
        select(ShipmentEvent, Shipment, Order, hub.code)
        .join(Shipment, Shipment.id == ShipmentEvent.shipment_id)
        .join(Order, Order.id == Shipment.order_id)
        .outerjoin(hub, hub.id == ShipmentEvent.hub_id)
        .where(where, ShipmentEvent.applied.is_(True))
        .order_by(ShipmentEvent.shipment_id, ShipmentEvent.seq))
    return [(shipment.partner_id, shipment.id, _envelope(event, shipment, order, code))
            for event, shipment, order, code in rows]


def fan_out(session: Session, keys: list[tuple[int, int]], *, now: datetime | None = None) -> int:
    """One pending delivery per (event, subscribed endpoint) for the events named by
    (shipment id, seq). Returns how many deliveries were made. Flushes."""
    if not keys:
        return 0
    # Endpoints first: most events belong to partners without one, and then nothing is built.
    endpoints = defaultdict(list)
    for endpoint in session.scalars(select(WebhookEndpoint).where(
            WebhookEndpoint.enabled.is_(True),
            WebhookEndpoint.partner_id.in_(select(Shipment.partner_id).where(
                Shipment.id.in_({shipment_id for shipment_id, _ in keys}))))):
        endpoints[endpoint.partner_id].append(endpoint)
    if not endpoints:
        return 0
    events = _events(session, tuple_(ShipmentEvent.shipment_id, ShipmentEvent.seq).in_(keys))
    return _add_deliveries(session, [(e, shipment_id, env) for p, shipment_id, env in events
                                     for e in endpoints[p] if e.wants(env["type"])],
                           origin="event", now=now or clock.now())


def notify_partner(session: Session, partner_id: int, event_type: str, event_key: str, data: dict, *,
                   now: datetime | None = None) -> int:
    """An event about the partner's account to each of its endpoints that subscribes to
    it, signed and retried like a shipment's. ``event_key`` is its id (the same on every
    try and replay of the outbox row). Returns how many deliveries were made."""
    now = now or clock.now()
    envelope = {"id": event_key, "type": event_type, "timestamp": _iso(now), "data": data}
    wanted = [(e, None, envelope) for e in session.scalars(select(WebhookEndpoint).where(
        WebhookEndpoint.partner_id == partner_id, WebhookEndpoint.enabled.is_(True))) if e.wants(event_type)]
    return _add_deliveries(session, wanted, origin="event", now=now)


def _add_deliveries(session: Session, items: list[tuple[WebhookEndpoint, int, dict]], *, origin: str,
                    now: datetime) -> int:
    if items:
        session.execute(insert(WebhookDelivery), [{
            "endpoint_id": endpoint.id, "message_id": envelope["id"], "event_type": envelope["type"],
            "shipment_id": shipment_id, "payload": envelope, "status": "pending", "attempts": 0,
            "next_attempt_at": now, "origin": origin, "created_at": now}
            for endpoint, shipment_id, envelope in items])
    return len(items)


def replay(session: Session, endpoint: WebhookEndpoint, *, event: str | None = None,
           since: datetime | None = None, until: datetime | None = None,
           now: datetime | None = None) -> int:
    """Send again one event (by its id) or every event of a time range that the endpoint
    subscribes to, with their original ids. Returns how many deliveries were made."""
    partner_events = ShipmentEvent.shipment_id.in_(
        select(Shipment.id).where(Shipment.partner_id == endpoint.partner_id))
    if event is not None:
        number = event.removeprefix("evt_")
        if not number.isdigit():
            raise LookupError(f"no event {event}")
        where = (ShipmentEvent.id == int(number)) & partner_events
    else:
        if since is None or until is None or since >= until:
            raise WebhookError("give an event id, or since and until with since before until")
        where = ShipmentEvent.server_time.between(since, until) & partner_events
    found = [(endpoint, shipment_id, env) for _, shipment_id, env in _events(session, where)
             if event is not None or endpoint.wants(env["type"])]
    if event is not None and not found:
        raise LookupError(f"no event {event}")
    if len(found) > MAX_REPLAY:
        raise WebhookError(f"{len(found)} events in that range; replay at most {MAX_REPLAY} at a time")
    now = now or clock.now()
    recent = select(WebhookDelivery.created_at).join(
        WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id).where(
        WebhookEndpoint.partner_id == endpoint.partner_id, WebhookDelivery.origin == "replay",
        WebhookDelivery.created_at > now - REPLAY_WINDOW)
    used = session.scalar(select(func.count()).select_from(recent.subquery()))
    if used + len(found) > REPLAY_QUOTA:
        oldest = session.scalar(select(func.min(recent.subquery().c.created_at)))
        wait = max(1, int(((oldest or now) + REPLAY_WINDOW - now).total_seconds()))
        raise ReplayQuotaExceeded(f"{used} events replayed in the last hour; at most {REPLAY_QUOTA} an hour "
                                  f"(this replay has {len(found)})", wait)
    return _add_deliveries(session, found, origin="replay", now=now)


def send_test(session: Session, endpoint: WebhookEndpoint, *, now: datetime | None = None) -> WebhookDelivery:
    """A ``webhook.test`` event, delivered like any other (signed, retried, logged)."""
    now = now or clock.now()
    message_id = f"evt_test_{secrets.token_hex(8)}"
    delivery = WebhookDelivery(
        endpoint_id=endpoint.id, message_id=message_id, event_type=TEST_EVENT, status="pending",
        attempts=0, next_attempt_at=now, origin="test", created_at=now,
        payload={"id": message_id, "type": TEST_EVENT, "timestamp": _iso(now),
                 "data": {"endpoint_id": endpoint.id,
                          "message": "a test event from Waybill: your endpoint is reachable"}})
    session.add(delivery)
    session.flush()
    return delivery


# -- delivery --------------------------------------------------------------------------

def claim_due(session: Session, *, now: datetime | None = None, limit: int = 2_000) -> list[list[int]]:
    """Lease the due deliveries as **lanes**: one shipment's events to one endpoint, in
    order, at most BATCH a lane (an event that is not a shipment's is a lane of its own). A
    lane starts at its shipment's earliest pending delivery to that endpoint, or is not
    taken: while that one waits for its retry (or another sender holds it), the shipment's
    later events wait behind it, and other shipments' go on. At most ENDPOINT_LANES lanes
    an endpoint a sweep. Other senders skip the rows locked here. The caller commits."""
    now = now or clock.now()
    rows = session.execute(
        select(WebhookDelivery.id, WebhookDelivery.endpoint_id, WebhookDelivery.shipment_id)
        .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now,
               or_(WebhookDelivery.leased_until.is_(None), WebhookDelivery.leased_until < now))
        .order_by(WebhookDelivery.id).limit(limit).with_for_update(skip_locked=True, key_share=True)).all()
    if not rows:
        return []
    heads = _heads(session, {(e, s) for _, e, s in rows if s is not None})
    lanes: dict[tuple, list[int] | None] = {}
    per_endpoint: dict[int, int] = defaultdict(int)
    for delivery_id, endpoint_id, shipment_id in rows:
        key = (endpoint_id, shipment_id if shipment_id is not None else f"d{delivery_id}")
        if key not in lanes:
            behind = shipment_id is not None and heads.get(key) != delivery_id
            if behind or per_endpoint[endpoint_id] >= ENDPOINT_LANES:
                lanes[key] = None  # the whole lane waits for a later sweep
                continue
            per_endpoint[endpoint_id] += 1
            lanes[key] = []
        lane = lanes[key]
        if lane is not None and len(lane) < BATCH:
            lane.append(delivery_id)
    taken = [lane for lane in lanes.values() if lane]
    # A lane is leased for as long as its deliveries may take (each up to the timeout) and a
    # minute in the queue: a sender that died leaves a short lane to the next sweep soon.
    by_length: dict[int, list[int]] = defaultdict(list)
    for lane in taken:
        by_length[len(lane)] += lane
    for length, ids in by_length.items():
        lease = now + timedelta(seconds=transport.TIMEOUT_SECONDS * length + 60)
        for chunk in range(0, len(ids), 1_000):
            session.execute(update(WebhookDelivery).where(WebhookDelivery.id.in_(ids[chunk:chunk + 1_000]))
                            .values(leased_until=lease))
    return taken


def _heads(session: Session, keys: set[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """(endpoint, shipment) -> the id of the shipment's earliest pending delivery to it."""
    if not keys:
        return {}
    rows = session.execute(
        select(WebhookDelivery.endpoint_id, WebhookDelivery.shipment_id, func.min(WebhookDelivery.id))
        .where(WebhookDelivery.status == "pending",
               WebhookDelivery.shipment_id.in_({s for _, s in keys}),
               WebhookDelivery.endpoint_id.in_({e for e, _ in keys}))
        .group_by(WebhookDelivery.endpoint_id, WebhookDelivery.shipment_id))
    return {(e, s): head for e, s, head in rows}


def send_lanes(lanes: list[list[int]], *, threads: int = SENDER_THREADS, **options) -> int:
    """Send lanes side by side, each in order in a thread of its own with its own session
    (``send_batch``): a slow or failing delivery holds back only its shipment's events.
    Returns how many succeeded. An edge: it commits."""
    if not lanes:
        return 0
    app = current_app._get_current_object()

    def one(lane: list[int]) -> int:
        with app.app_context():
            try:
                return send_batch(db.session, lane, **options)
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=min(threads, len(lanes)), thread_name_prefix="webhook-lane") as pool:
        return sum(pool.map(one, lanes))


def send_batch(session: Session, delivery_ids: list[int], *, now: datetime | None = None,
               allow_private: bool = False, disable_after: timedelta = timedelta(days=5)) -> int:
    """Send one lane's deliveries (a shipment's events to an endpoint) in order: read
    them and end the transaction, post them with no transaction open — stopping at the
    first failure — then record every answer in one commit and release the rest of the
    lane for a later turn (the shipment's order kept; other lanes go on). A sender that
    dies while posting leaves the lane leased: it is sent again after the lease, at least
    once. Returns how many succeeded.

    This is an edge, like an actor: it commits."""
    at = now or clock.now()
    deliveries = {d.id: d for d in session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.id.in_(delivery_ids))
        .execution_options(populate_existing=True))}
    endpoints = {e.id: e for e in session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.id.in_({d.endpoint_id for d in deliveries.values()}))
        .execution_options(populate_existing=True))}
    requests = [(i, _request(deliveries.get(i), endpoints, at)) for i in delivery_ids]
    session.commit()
    answers: list[tuple[int, transport.Answer]] = []
    for delivery_id, request in requests:
        if request is None:
            continue
        answer = transport.post(request.url, request.body, request.headers, allow_private=allow_private)
        answers.append((delivery_id, answer))
        if not answer.ok:
            break
    # Leased to this sender, the deliveries changed only here: the successes are written in
    # two statements for the lane; a failure (the last answer, if any) goes through ``record``.
    done = [(delivery_id, answer) for delivery_id, answer in answers if answer.ok]
    if done:  # Core statements: the ORM's bulk machinery cost more than the rows here
        session.execute(_INSERT_ATTEMPT, [{
            "delivery_id": i, "number": deliveries[i].attempts + 1, "attempted_at": at, "status_code": a.status_code,
            "duration_ms": a.duration_ms, "error": None, "response_excerpt": a.excerpt} for i, a in done])
        session.execute(_RECORD_SUCCESS, [{
            "b_id": i, "b_attempts": deliveries[i].attempts + 1, "b_at": at, "b_code": a.status_code}
            for i, a in done])
        for endpoint in {endpoints[deliveries[i].endpoint_id] for i, _ in done}:
            if endpoint.failing_since is not None:
                endpoint.failing_since = None
        for i, _ in done:
            session.expire(deliveries[i])  # written around the ORM: read again when next used
    for delivery_id, answer in answers:
        if not answer.ok:
            delivery = deliveries[delivery_id]
            record(session, delivery, endpoints[delivery.endpoint_id], answer, now=at, disable_after=disable_after)
    succeeded = len(done)
    if answers and not answers[-1][1].ok:
        rest = delivery_ids[delivery_ids.index(answers[-1][0]) + 1:]
        if rest:
            session.execute(update(WebhookDelivery).where(WebhookDelivery.id.in_(rest)).values(leased_until=None))
    session.commit()
    return succeeded


_deliveries = WebhookDelivery.__table__
_INSERT_ATTEMPT = insert(WebhookAttempt.__table__)
_RECORD_SUCCESS = update(_deliveries).where(_deliveries.c.id == bindparam("b_id")).values(
    attempts=bindparam("b_attempts"), status="succeeded", finished_at=bindparam("b_at"), next_attempt_at=None,
    last_status_code=bindparam("b_code"), last_error=None, leased_until=None)


@dataclass(frozen=True)
class _Request:
    url: str
    body: bytes
    headers: dict


def _request(delivery: WebhookDelivery | None, endpoints: dict[int, WebhookEndpoint], at: datetime) -> _Request | None:
    """What to post for a delivery, as plain values; None when there is nothing to send
    (done already, or its endpoint disabled: then it is cancelled)."""
    if delivery is None or delivery.status != "pending":
        return None
    endpoint = endpoints[delivery.endpoint_id]
    if not endpoint.enabled:
        delivery.status, delivery.finished_at, delivery.last_error = "cancelled", at, "endpoint disabled"
        return None
    body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False)
    # The schedule runs on ``now``; the signature's timestamp is always the real time.
    headers = signed_headers(secrets_in_force(endpoint, at), delivery.message_id, clock.now(), body)
    return _Request(endpoint.url, body.encode(), headers)


def record(session: Session, delivery: WebhookDelivery, endpoint: WebhookEndpoint,
           answer: transport.Answer, *, now: datetime, disable_after: timedelta) -> None:
    """Log one attempt and decide what follows: done, the next attempt, or give up."""
    delivery.attempts += 1
    session.add(WebhookAttempt(delivery_id=delivery.id, number=delivery.attempts, attempted_at=now,
                               status_code=answer.status_code, duration_ms=answer.duration_ms,
                               error=answer.error, response_excerpt=answer.excerpt))
    delivery.last_status_code, delivery.last_error, delivery.leased_until = answer.status_code, answer.error, None
    if answer.ok:
        delivery.status, delivery.finished_at, delivery.next_attempt_at = "succeeded", now, None
        endpoint.failing_since = None
        return
    endpoint.failing_since = endpoint.failing_since or now
    if answer.status_code == 410:
        delivery.status, delivery.finished_at, delivery.next_attempt_at = "failed", now, None
        _disable(session, endpoint, "the endpoint answered 410 Gone", now)
        return
    if delivery.attempts >= MAX_ATTEMPTS:
        delivery.status, delivery.finished_at, delivery.next_attempt_at = "failed", now, None
    else:
        wait = RETRY_DELAYS[delivery.attempts - 1]
        if answer.retry_after is not None:
            wait = max(wait, min(timedelta(seconds=answer.retry_after), MAX_RETRY_AFTER))
        delivery.next_attempt_at = now + wait
    if now - endpoint.failing_since >= disable_after:
        _disable(session, endpoint, f"every delivery has failed since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC", now)


def _disable(session: Session, endpoint: WebhookEndpoint, reason: str, now: datetime, *, tell: bool = True) -> None:
    """Disable an endpoint, cancel what waits for it, and (unless the partner did it)
    write to the partner."""
    endpoint.enabled, endpoint.disabled_reason, endpoint.disabled_at = False, reason[:300], now
    session.execute(update(WebhookDelivery).where(
        WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status == "pending")
        .values(status="cancelled", finished_at=now, next_attempt_at=None, last_error="endpoint disabled"))
    if tell:
        add_outbox(session, "endpoint_disabled", {"endpoint_id": endpoint.id})


def disabled_notice(session: Session, endpoint_id: int) -> tuple[str, str, str] | None:
    """(to, subject, body) of the email telling a partner that an endpoint was disabled
    and why; None when the partner has no contact email."""
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    partner = session.get(Partner, endpoint.partner_id) if endpoint else None
    if partner is None or not partner.contact_email:
        return None
    return (partner.contact_email, "Waybill: a webhook endpoint was disabled",
            f"Your webhook endpoint {endpoint.url} (id {endpoint.id}) was disabled: "
            f"{endpoint.disabled_reason}.\n\nEvents since then were not sent to it. Enable it "
            f"again with PATCH /api/v1/webhook-endpoints/{endpoint.id} and replay what it "
            f"missed with POST /api/v1/webhook-endpoints/{endpoint.id}/replay.\n")


def deliveries_of(session: Session, endpoint_id: int, *, status: str | None = None,
                  before_id: int | None = None, limit: int = 50) -> tuple[list[WebhookDelivery], int | None]:
    """An endpoint's deliveries, newest first, with their attempts; and the id to continue before."""
    stmt = (select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
            .order_by(WebhookDelivery.id.desc()).limit(limit + 1))
    if status:
        stmt = stmt.where(WebhookDelivery.status == status)
    if before_id:
        stmt = stmt.where(WebhookDelivery.id < before_id)
    found = list(session.scalars(stmt))
    more = len(found) > limit
    page = found[:limit]
    return page, (page[-1].id if more else None)


def prune(session: Session, *, before: datetime) -> int:
    """Delete finished deliveries (and their attempts) older than ``before``."""
    old = select(WebhookDelivery.id).where(WebhookDelivery.status != "pending",
                                           WebhookDelivery.finished_at < before)
    session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(old)))
    return session.execute(delete(WebhookDelivery).where(WebhookDelivery.status != "pending",
                                                         WebhookDelivery.finished_at < before)).rowcount


def health_of(session: Session, partner_id: int, *, since: datetime) -> list[tuple[WebhookEndpoint, dict[str, int]]]:
    """Each of the partner's endpoints with its deliveries created since ``since``, by
    status (pending, succeeded, failed, cancelled)."""
    endpoints = endpoints_of(session, partner_id)
    counts: dict[int, dict[str, int]] = {e.id: {} for e in endpoints}
    if endpoints:
        for endpoint_id, status, n in session.execute(
                select(WebhookDelivery.endpoint_id, WebhookDelivery.status, func.count())
                .where(WebhookDelivery.endpoint_id.in_(list(counts)), WebhookDelivery.created_at >= since)
                .group_by(WebhookDelivery.endpoint_id, WebhookDelivery.status)):
            counts[endpoint_id][status] = n
    return [(e, counts[e.id]) for e in endpoints]
