"""The sales pipeline: leads from the "ship with us" form, imports and manual entry,
through qualified, proposal (an offer: a draft contract card from the default card with a
discount, and its quote for the lead's typical parcel) and negotiation, to won or lost.

Won onboards the account in one transaction: the partner (onboarding, owned by the lead's
owner), its first contact and portal login, an API key, its pickup place, and the offer
saved as its contract card from tomorrow (``billing.cards.save``, finance's own model).
The login's password and the key are returned once, to be handed over, and never kept."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import clock
from app.auth import services as logins
from app.billing import cards
from app.billing.models import RateCard
from app.billing.money import Money, round_minor
from app.billing.rating import SERVICE_LEVELS, CardError, Shipped, fuel_bp_on
from app.crm import accounts
from app.crm import services as crm
from app.crm.models import Lead, LeadStageChange, Partner
from app.crm.services import InvalidPhone, normalise_phone
from app.orders.intake import IntakeError, add_pickup_location

STAGES = ("new", "qualified", "proposal", "negotiation", "won", "lost")
OPEN_STAGES = STAGES[:4]
#: Stage -> where a lead may go from it by hand ("won" through ``win``, "lost" through ``lose``).
MOVES = {"new": {"qualified"}, "qualified": {"new"}, "proposal": {"qualified", "negotiation"},
         "negotiation": {"proposal"}, "won": set(), "lost": {"new"}}
SOURCES = ("web", "import", "manual")
#: The distance the offer's quote assumes for a typical parcel within the city.
TYPICAL_KM = 8.0
#: The most an offer may take off the default card.
MAX_DISCOUNT_BP = 5_000


class PipelineError(ValueError):
    """The lead cannot be changed as asked; the message says why."""


def _record(session: Session, lead: Lead, to_stage: str, by: int | None) -> None:
    session.add(LeadStageChange(lead_id=lead.id, from_stage=lead.stage if lead.id else None, to_stage=to_stage,
                                by_user_id=by, at=clock.now()))
    lead.stage, lead.stage_changed_at = to_stage, clock.now()


def add_lead(session: Session, *, company: str, contact_name: str, email: str | None = None, phone: str | None = None,
             source: str = "manual", monthly_parcels: int = 0, typical_grams: int = 1000,
             service_level: str = "standard", typical_cod: int = 0, pickup_address: str | None = None,
             note: str | None = None, owner_id: int | None = None, created_by: int | None = None,
             currency: str = "VND") -> Lead:
    """A new lead, checked as every path gives it (form, import, console). Flushes."""
    company, contact_name = (company or "").strip(), (contact_name or "").strip()
    if not company:
        raise PipelineError("give the company's name")
    if not contact_name:
        raise PipelineError("give a person to talk to")
    email = (email or "").strip().lower() or None
    if email and not accounts.EMAIL.fullmatch(email):
        raise PipelineError(f"{email!r} is not an e-mail address")
    try:
        phone = normalise_phone(phone) if phone and phone.strip() else None
    except InvalidPhone as exc:
        raise PipelineError(str(exc)) from None
    if not email and not phone:
        raise PipelineError("give an e-mail address or a phone number to reach them")
    if source not in SOURCES:
        raise PipelineError(f"source is one of {', '.join(SOURCES)}")
    if service_level not in SERVICE_LEVELS:
        raise PipelineError(f"service level is one of {', '.join(SERVICE_LEVELS)}")
    for name, value, top in (("parcels a month", monthly_parcels, 10_000_000), ("weight", typical_grams, 100_000),
                             ("cash on delivery", typical_cod, 10**12)):
        if not isinstance(value, int) or not 0 <= value <= top:
            raise PipelineError(f"{name}: a whole number from 0 to {top:,}")
    lead = Lead(company=company[:200], contact_name=contact_name[:200], email=email, phone=phone, source=source,
                monthly_parcels=monthly_parcels, typical_grams=max(typical_grams, 1), service_level=service_level,
                typical_cod=typical_cod, pickup_address=(pickup_address or "").strip()[:300] or None,
                note=(note or "").strip()[:2000] or None, owner_id=owner_id, created_by=created_by, currency=currency,
                created_at=clock.now(), stage="new", stage_changed_at=clock.now())
    session.add(lead)
    session.flush()
    session.add(LeadStageChange(lead_id=lead.id, from_stage=None, to_stage="new", by_user_id=created_by,
                                at=lead.created_at))
    session.flush()
    return lead


def move(session: Session, lead: Lead, stage: str, *, by: int | None) -> None:
    if stage not in STAGES:
        raise PipelineError(f"stage is one of {', '.join(STAGES)}")
    if stage == lead.stage:
        return
    if stage in ("won", "lost", "proposal") and stage not in MOVES[lead.stage]:
        raise PipelineError({"won": "win it with its offer", "lost": "say why it is lost",
                             "proposal": "make an offer to propose"}[stage])
    if stage not in MOVES[lead.stage]:
        raise PipelineError(f"a lead that is {lead.stage} cannot go to {stage}")
    _record(session, lead, stage, by)
    session.flush()


def lose(session: Session, lead: Lead, reason: str, *, by: int | None) -> None:
    reason = (reason or "").strip()
    if not reason:
        raise PipelineError("say why it is lost (price, service area, went to a competitor, ...)")
    if lead.stage not in OPEN_STAGES:
        raise PipelineError(f"the lead is {lead.stage}")
    lead.lost_reason = reason[:200]
    _record(session, lead, "lost", by)
    session.flush()


@dataclass(frozen=True)
class Offer:
    draft: cards.Draft
    #: The price of the typical parcel on it, VAT included, and on the default card.
    price: Money
    list_price: Money


def _default_card(session: Session, service_level: str, currency: str, on: date) -> RateCard:
    found = session.scalars(select(RateCard).where(
        RateCard.partner_id.is_(None), RateCard.service_level == service_level, RateCard.currency == currency,
        RateCard.effective_from <= on).order_by(RateCard.effective_from.desc())).first()
    if found is None:
        raise PipelineError(f"there is no default {service_level} card in {currency} to start the offer from")
    return found


def draft_offer(session: Session, lead: Lead, *, discount_bp: int, service_level: str | None = None) -> Offer:
    """The default card in force with every freight price ``discount_bp`` lower, as a
    draft contract card; and its price for the lead's typical parcel."""
    if not isinstance(discount_bp, int) or not 0 <= discount_bp <= MAX_DISCOUNT_BP:
        raise PipelineError(f"the discount is from 0 to {MAX_DISCOUNT_BP / 100:g} %")
    level = service_level or lead.service_level
    base = _default_card(session, level, lead.currency, clock.today())
    keep = Decimal(10_000 - discount_bp) / 10_000
    tariff = {**base.tariff, "zones": [
        {**zone, "bands": [[grams, round_minor(Decimal(amount) * keep)] for grams, amount in zone["bands"]],
         "per_kg_over": round_minor(Decimal(zone.get("per_kg_over") or 0) * keep)}
        for zone in base.tariff["zones"]],
        "per_km": round_minor(Decimal(base.tariff.get("per_km") or 0) * keep)}
    surcharges = {name: getattr(base, name) for name in cards.SURCHARGES}
    draft = cards.Draft(partner_id=None, service_level=level, currency=lead.currency,
                        effective_from=clock.today() + timedelta(days=1), name=f"{lead.company} contract",
                        tariff=tariff, surcharges=surcharges, note=f"offer to lead {lead.id}")
    typical = Shipped(distance_km=TYPICAL_KM, grams=lead.typical_grams, cod_amount=lead.typical_cod)
    fuel = fuel_bp_on(session, clock.today())
    try:
        price = cards.preview(draft, typical, fuel_bp=fuel).amount
        base_draft = cards.Draft(None, level, lead.currency, draft.effective_from, "list", base.tariff, surcharges)
        list_price = cards.preview(base_draft, typical, fuel_bp=fuel).amount
    except CardError as exc:
        raise PipelineError(str(exc)) from None
    return Offer(draft, price, list_price)


def propose(session: Session, lead: Lead, *, discount_bp: int, service_level: str | None = None,
            by: int | None) -> Offer:
    """Make (or remake) the lead's offer: it moves to proposal (from qualified, or stays
    in proposal or negotiation); its value is the offer's price for its parcels a month."""
    if lead.stage not in ("qualified", "proposal", "negotiation"):
        raise PipelineError("qualify the lead before making an offer" if lead.stage == "new"
                            else f"the lead is {lead.stage}")
    offer = draft_offer(session, lead, discount_bp=discount_bp, service_level=service_level)
    lead.service_level = offer.draft.service_level
    lead.offer = {"service_level": offer.draft.service_level, "discount_bp": discount_bp,
                  "tariff": offer.draft.tariff, "surcharges": offer.draft.surcharges,
                  "price": offer.price.amount, "list_price": offer.list_price.amount, "currency": lead.currency,
                  "typical": {"grams": lead.typical_grams, "km": TYPICAL_KM, "cod": lead.typical_cod},
                  "made_at": clock.now().isoformat()}
    lead.value_amount = offer.price.amount * lead.monthly_parcels
    if lead.stage == "qualified":
        _record(session, lead, "proposal", by)
    session.flush()
    return offer


@dataclass(frozen=True)
class Onboarded:
    partner: Partner
    login_email: str
    #: Shown once, to hand over; never stored.
    password: str
    api_key: str
    contract: RateCard


def win(session: Session, lead: Lead, *, pickup=None, by: int | None) -> Onboarded:
    """The lead signs: its account, first contact and portal login, an API key, its
    pickup place (``pickup``: an ``intake.AddressIn`` already located, or None), and the
    offer as its contract card from tomorrow. One transaction; flushes."""
    if lead.stage not in ("proposal", "negotiation"):
        raise PipelineError("make an offer before winning it" if lead.stage in ("new", "qualified")
                            else f"the lead is {lead.stage}")
    if not lead.offer:
        raise PipelineError("the lead has no offer")
    if not lead.email:
        raise PipelineError("the first contact needs an e-mail address for their login")
    try:
        partner = crm.create_partner(session, lead.company, currency=lead.currency)
    except ValueError as exc:
        raise PipelineError(str(exc)) from None
    partner.status, partner.active, partner.owner_id = "onboarding", True, lead.owner_id
    partner.contact_email = partner.billing_email = lead.email
    accounts.add_contact(session, partner.id, lead.contact_name, email=lead.email, phone=lead.phone,
                         roles=list(accounts.CONTACT_ROLES))
    password = secrets.token_urlsafe(12)
    try:
        logins.create_user(session, lead.email, role="partner", password=password, name=lead.contact_name,
                           partner_id=partner.id)
    except logins.AccountError as exc:
        raise PipelineError(f"the login: {exc}") from None
    _, key = crm.issue_api_key(session, partner)
    if pickup is not None:
        try:
            add_pickup_location(session, partner.id, name=lead.company, phone=lead.phone or "", address=pickup)
        except IntakeError as exc:
            raise PipelineError(str(exc)) from None
    offer = lead.offer
    try:
        contract = cards.save(session, cards.Draft(
            partner_id=partner.id, service_level=offer["service_level"], currency=offer["currency"],
            effective_from=clock.today() + timedelta(days=1), name=f"{lead.company} contract",
            tariff=offer["tariff"], surcharges=offer["surcharges"],
            note=f"won from lead {lead.id} ({offer['discount_bp'] / 100:g} % off the default card)"), user_id=by)
    except CardError as exc:
        raise PipelineError(f"the contract: {exc}") from None
    lead.partner_id = partner.id
    _record(session, lead, "won", by)
    accounts.log_activity(session, "partner", partner.id, "note", f"Won from lead {lead.id}: onboarding",
                          created_by=by)
    session.flush()
    return Onboarded(partner, lead.email, password, key, contract)


# -- reading ------------------------------------------------------------------------------

def leads(session: Session, *, stage: str | None = None, owner_id: int | None = None, limit: int = 500) -> list[Lead]:
    stmt = select(Lead)
    if stage:
        stmt = stmt.where(Lead.stage == stage)
    if owner_id is not None:
        stmt = stmt.where(Lead.owner_id == owner_id)
    return list(session.scalars(stmt.order_by(Lead.stage_changed_at.desc(), Lead.id.desc()).limit(limit)))


def board(session: Session) -> dict[str, tuple[int, int]]:
    """Stage -> (leads, monthly value) of every lead now in it."""
    found = {stage: (n, int(v or 0)) for stage, n, v in session.execute(
        select(Lead.stage, func.count(), func.sum(Lead.value_amount)).group_by(Lead.stage))}
    return {stage: found.get(stage, (0, 0)) for stage in STAGES}


def funnel(session: Session, *, months: int = 6) -> list[tuple[str, dict[str, int]]]:
    """Per month (the last ``months``, newest first): how many leads reached each stage in
    it (a lead counts once per stage and month). Conversion is each stage over the last."""
    first = (clock.today().replace(day=1) - timedelta(days=31 * (months - 1))).replace(day=1)
    since = datetime.combine(first, datetime.min.time(), clock.network_zone())
    rows = session.execute(select(LeadStageChange.lead_id, LeadStageChange.to_stage, LeadStageChange.at)
                           .where(LeadStageChange.at >= since))
    seen: dict[str, dict[str, set]] = {}
    for lead_id, stage, at in rows:
        month = clock.local(at).strftime("%Y-%m")
        seen.setdefault(month, {}).setdefault(stage, set()).add(lead_id)
    out = []
    day = clock.today().replace(day=1)
    for _ in range(months):
        month = day.strftime("%Y-%m")
        out.append((month, {stage: len(seen.get(month, {}).get(stage, ())) for stage in STAGES}))
        day = (day - timedelta(days=1)).replace(day=1)
    return out


def stage_changes(session: Session, lead_id: int) -> list[LeadStageChange]:
    return list(session.scalars(select(LeadStageChange).where(LeadStageChange.lead_id == lead_id)
                                .order_by(LeadStageChange.id)))
