"""Campaigns: a message (a sandboxed template) to a segment of customers, from a moment on.

Nothing is held open for long. A due campaign is queued a chunk of customers at a time
(``queue_chunk``, one transaction each): every customer the segment matches gets a row,
``pending`` if they gave consent to offers and did not opt out (and have the channel's
address), else ``opted_out`` — so the campaign's result counts them too. Senders claim
pending rows for a hold (``claim``), commit, send with no transaction open, and record
each outcome in a commit of its own, as customer notifications do: a message whose sender
died goes again only once its hold has run out, with the same id; a redelivered job finds
its rows sent or held."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session

from app import clock
from app.crm import customers as known
from app.crm import wording
from app.crm.messaging import new_message_id, new_reference
from app.crm.models import Campaign, CampaignMessage, Customer
from app.orders.models import Order, Shipment
from app.words import given_name

CHANNELS = ("sms", "email")
#: What a segment may say (every rule is optional; all must hold).
SEGMENT_RULES = {
    "hub_ids": "delivered to by one of these hubs",
    "min_shipments": "at least this many orders within ``days``",
    "days": "the window for min_shipments (default 90)",
    "last_within_days": "an order within this many days",
    "inactive_days": "no order for this many days",
    "language": "their language (vi, en)",
}
CHUNK = 5_000
CLAIM = 200
HOLD_PER_MESSAGE = timedelta(seconds=10)
MAX_ATTEMPTS = 3
UNSUBSCRIBE_SALT = "waybill-unsubscribe"


class CampaignError(ValueError):
    """The campaign cannot be made or changed as asked; the message says why."""


def check_segment(segment: dict) -> dict:
    segment = {k: v for k, v in (segment or {}).items() if v not in (None, "", [])}
    if unknown := set(segment) - set(SEGMENT_RULES):
        raise CampaignError(f"a segment says {', '.join(SEGMENT_RULES)} (not {', '.join(sorted(unknown))})")
    for name in ("min_shipments", "days", "last_within_days", "inactive_days"):
        if name in segment and (not isinstance(segment[name], int) or not 0 < segment[name] <= 100_000):
            raise CampaignError(f"{name.replace('_', ' ')}: a whole number more than 0")
    if "hub_ids" in segment and not all(isinstance(h, int) for h in segment["hub_ids"]):
        raise CampaignError("hubs are given by their ids")
    if segment.get("language") not in (None, *wording.LANGUAGES):
        raise CampaignError(f"language is one of {', '.join(wording.LANGUAGES)}")
    return segment


def _matching(segment: dict):
    """The where-clauses of a segment over ``customers`` (the records merges kept)."""
    now = clock.now()
    clauses = [Customer.merged_into_id.is_(None)]
    orders_of = and_(Order.customer_id == Customer.id)
    if "hub_ids" in segment:
        clauses.append(exists().where(orders_of, Shipment.order_id == Order.id,
                                      Shipment.delivery_hub_id.in_(segment["hub_ids"])))
    if "min_shipments" in segment:
        since = now - timedelta(days=segment.get("days", 90))
        count = (select(func.count()).where(orders_of, Order.created_at >= since)
                 .correlate(Customer).scalar_subquery())
        clauses.append(count >= segment["min_shipments"])
    if "last_within_days" in segment:
        clauses.append(exists().where(orders_of, Order.created_at >= now - timedelta(days=segment["last_within_days"])))
    if "inactive_days" in segment:
        clauses.append(~exists().where(orders_of, Order.created_at >= now - timedelta(days=segment["inactive_days"])))
    if "language" in segment:
        clauses.append(Customer.language == segment["language"])
    return clauses


def _reachable(channel: str):
    address = Customer.email.is_not(None) if channel == "email" else Customer.phone.is_not(None)
    return and_(Customer.marketing_consent.is_(True), Customer.opted_out_at.is_(None), address)


def audience(session: Session, segment: dict, channel: str) -> tuple[int, int]:
    """(customers the segment matches, those the campaign would reach)."""
    segment = check_segment(segment)
    matched = session.scalar(select(func.count()).select_from(Customer).where(*_matching(segment)))
    reached = session.scalar(select(func.count()).select_from(Customer).where(*_matching(segment),
                                                                              _reachable(channel)))
    return int(matched or 0), int(reached or 0)


def create(session: Session, *, name: str, channel: str, subject: str | None, body: str, segment: dict,
           user_id: int | None) -> Campaign:
    name = (name or "").strip()
    if not name:
        raise CampaignError("give the campaign a name")
    if channel not in CHANNELS:
        raise CampaignError(f"channel is one of {', '.join(CHANNELS)}")
    try:
        wording.check("campaign", channel, subject, body)
    except wording.WordingError as exc:
        raise CampaignError(str(exc)) from None
    campaign = Campaign(name=name[:200], channel=channel, subject=(subject or "").strip()[:200] or None,
                        body=body.strip()[:2000], segment=check_segment(segment), status="draft",
                        created_by=user_id, created_at=clock.now())
    session.add(campaign)
    session.flush()
    return campaign


def schedule(session: Session, campaign: Campaign, at: datetime) -> None:
    if campaign.status not in ("draft", "scheduled"):
        raise CampaignError(f"the campaign is {campaign.status}")
    if at < clock.now() - timedelta(minutes=1):
        raise CampaignError("schedule it from now on")
    campaign.status, campaign.scheduled_at = "scheduled", at
    session.flush()


def cancel(session: Session, campaign: Campaign) -> int:
    """Stop it: what is not sent yet is not sent. Returns how many messages were dropped."""
    if campaign.status in ("done", "cancelled"):
        raise CampaignError(f"the campaign is {campaign.status}")
    dropped = session.execute(update(CampaignMessage).where(
        CampaignMessage.campaign_id == campaign.id, CampaignMessage.status == "pending")
        .values(status="cancelled")).rowcount
    campaign.status, campaign.finished_at = "cancelled", clock.now()
    session.flush()
    return dropped


def start_due(session: Session) -> list[int]:
    """Campaigns whose moment has come, moved to queuing (one scheduler takes each)."""
    due = list(session.scalars(select(Campaign).where(Campaign.status == "scheduled",
                                                      Campaign.scheduled_at <= clock.now())
                               .with_for_update(skip_locked=True)))
    for campaign in due:
        campaign.status, campaign.queued_at = "queuing", clock.now()
    session.flush()
    return [c.id for c in due]


def queue_chunk(session: Session, campaign_id: int, *, size: int = CHUNK) -> int:
    """The next ``size`` customers of the segment written as the campaign's messages (one
    statement; a customer written before is left as it is). Returns how many customers
    the chunk held; 0 when the campaign is queued whole (it is then sending)."""
    campaign = session.get(Campaign, campaign_id, with_for_update=True)
    if campaign is None or campaign.status != "queuing":
        return 0
    segment, channel = campaign.segment or {}, campaign.channel
    rows = session.execute(
        select(Customer.id, Customer.phone, Customer.email, _reachable(channel).label("ok"))
        .where(*_matching(segment), Customer.id > campaign.queued_through)
        .order_by(Customer.id).limit(size)).all()
    if not rows:
        campaign.status = "sending"
        session.flush()
        return 0
    table = CampaignMessage.__table__
    values = [{"campaign_id": campaign.id, "customer_id": r.id, "status": "pending" if r.ok else "opted_out",
               "recipient": (r.email if channel == "email" else r.phone) if r.ok else None,
               "provider_message_id": (new_message_id() if channel == "email" else new_reference()) if r.ok else None,
               "attempts": 0} for r in rows]
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert
    session.execute(upsert(table).on_conflict_do_nothing(index_elements=["campaign_id", "customer_id"]), values)
    campaign.queued_through = rows[-1].id
    session.flush()
    return len(rows)


@dataclass(frozen=True)
class Outgoing:
    id: int
    channel: str
    recipient: str
    subject: str | None
    body: str
    message_id: str


def unsubscribe_token(secret: str, customer_id: int) -> str:
    return URLSafeSerializer(secret, salt=UNSUBSCRIBE_SALT).dumps(customer_id)


def customer_of_token(secret: str, token: str) -> int | None:
    try:
        value = URLSafeSerializer(secret, salt=UNSUBSCRIBE_SALT).loads(token)
    except BadSignature:
        return None
    return value if isinstance(value, int) else None


def claim(session: Session, *, public_url: str, secret: str, limit: int = CLAIM) -> list[Outgoing]:
    """Pending messages of sending campaigns, held for this sender (others skip them),
    rendered. The caller commits, then sends."""
    now = clock.now()
    rows = list(session.scalars(
        select(CampaignMessage).join(Campaign, Campaign.id == CampaignMessage.campaign_id)
        .where(Campaign.status.in_(("queuing", "sending")), CampaignMessage.status == "pending",
               or_(CampaignMessage.claimed_until.is_(None), CampaignMessage.claimed_until < now))
        .order_by(CampaignMessage.id).limit(limit).with_for_update(skip_locked=True, of=CampaignMessage)))
    if not rows:
        return []
    until = now + HOLD_PER_MESSAGE * len(rows)
    campaigns = {c.id: c for c in session.scalars(select(Campaign).where(
        Campaign.id.in_({r.campaign_id for r in rows})))}
    names = dict(session.execute(select(Customer.id, Customer.name).where(
        Customer.id.in_([r.customer_id for r in rows]))).all())
    out = []
    for row in rows:
        row.claimed_until = until
        campaign = campaigns[row.campaign_id]
        variables = {"name": given_name(names.get(row.customer_id, "")),
                     "unsubscribe_link": f"{public_url.rstrip('/')}/unsubscribe/{unsubscribe_token(secret, row.customer_id)}"}
        try:
            body = wording.render(campaign.body, variables)
            subject = wording.render(campaign.subject, variables) if campaign.subject else None
        except wording.WordingError as exc:
            row.status, row.last_error = "failed", str(exc)[:300]
            continue
        if campaign.channel == "sms" and len(body) > wording.SMS_LIMIT:
            body = body[:wording.SMS_LIMIT - 3] + "..."
        out.append(Outgoing(row.id, campaign.channel, row.recipient, subject, body, row.provider_message_id))
    session.flush()
    return out


def record_sent(session: Session, ids: list[int]) -> None:
    if ids:
        session.execute(update(CampaignMessage).where(CampaignMessage.id.in_(ids),
                                                      CampaignMessage.status == "pending")
                        .values(status="sent", sent_at=clock.now(), claimed_until=None,
                                attempts=CampaignMessage.attempts + 1))


def record_failure(session: Session, message_id: int, error: str, *, permanent: bool = False) -> None:
    row = session.get(CampaignMessage, message_id, with_for_update=True)
    if row is None or row.status != "pending":
        return
    row.attempts += 1
    row.last_error, row.claimed_until = error[:300], None
    if permanent or row.attempts >= MAX_ATTEMPTS:
        row.status = "failed"


def finish_sent(session: Session) -> list[int]:
    """Sending campaigns with nothing left pending are done."""
    pending = exists().where(CampaignMessage.campaign_id == Campaign.id, CampaignMessage.status == "pending")
    done = list(session.scalars(select(Campaign).where(Campaign.status == "sending", ~pending)))
    for campaign in done:
        campaign.status, campaign.finished_at = "done", clock.now()
    session.flush()
    return [c.id for c in done]


def results(session: Session, campaign_id: int) -> dict[str, int]:
    found = dict(session.execute(select(CampaignMessage.status, func.count()).where(
        CampaignMessage.campaign_id == campaign_id).group_by(CampaignMessage.status)).all())
    return {status: int(found.get(status, 0)) for status in ("pending", "sent", "failed", "opted_out", "cancelled")}


def campaigns(session: Session, *, limit: int = 100) -> list[Campaign]:
    return list(session.scalars(select(Campaign).order_by(Campaign.id.desc()).limit(limit)))


def unsubscribe(session: Session, customer_id: int) -> Customer | None:
    """The customer asks for no more offers (consent withdrawn; their deliveries' messages
    still go: that is a separate, stronger opt-out)."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        return None
    person = known.root_of(session, customer)
    known.set_consent(session, person, marketing=False)
    return person
