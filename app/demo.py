"""The demo courier network in Ho Chi Minh City: one shipping centre, four local hubs,
retail partners with pickup locations, drivers and rate cards."""
from __future__ import annotations

import random
import secrets
from datetime import date, datetime, time

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import clock
from app.billing.models import RateCard
from app.crm import accounts
from app.crm import services as crm
from app.crm.models import Partner
from app.delivery import services as delivery
from app.hubs import services as hubs
from app.hubs.geocoding import GazetteerGeocoder
from app.hubs.models import Hub, HubKind
from app.orders.intake import AddressIn, ContactIn, OrderIn, ParcelIn

CITY, COUNTRY, CURRENCY = "Ho Chi Minh City", "VN", "VND"

#: (code, name, address, lat, lon, delivery radius km); the first is the shipping centre.
HUBS = (
    ("SGN-C", "Tan Binh Sort Centre", "2 Truong Son, Tan Binh", 10.8015, 106.6527, 4.5),
    ("SGN-TD", "Thu Duc Hub", "Vo Van Ngan, Thu Duc", 10.8494, 106.7537, 10.0),
    ("SGN-D7", "District 7 Hub", "Nguyen Thi Thap, District 7", 10.7340, 106.7216, 8.0),
    ("SGN-BT", "Binh Tan Hub", "Kinh Duong Vuong, Binh Tan", 10.7652, 106.6038, 9.0),
    ("SGN-GV", "Go Vap Hub", "Quang Trung, Go Vap", 10.8387, 106.6653, 9.0),
)

#: (name, pickup address, district, lat, lon)
PARTNERS = (
    ("Saigon Books", "45 Le Loi", "District 1", 10.7735, 106.7005),
    ("Ben Thanh Fashion", "120 Nguyen Trai", "District 5", 10.7560, 106.6680),
    ("Mekong Home Goods", "88 Cong Hoa", "Tan Binh", 10.8010, 106.6470),
)

def _tariff(scale: float, per_km: int = 0) -> dict:
    """Zones by distance from the pickup (the city's usual inner / outer / suburbs), weight
    bands to 3 kg and an amount per kg above; prices scaled per service level."""
    def zone(code, name, up_to_km, prices, per_kg):
        bands = [[g, int(round(p * scale, -3))] for g, p in zip((500, 1000, 2000, 3000), prices)]
        return {"code": code, "name": name, "up_to_km": up_to_km, "bands": bands,
                "per_kg_over": int(round(per_kg * scale, -3))}
    return {"zones": [zone("A", "Same district", 5, (16_000, 18_000, 22_000, 26_000), 4_000),
                      zone("B", "Inner city", 15, (20_000, 23_000, 28_000, 33_000), 5_000),
                      zone("C", "Outer city", None, (26_000, 30_000, 36_000, 42_000), 6_000)],
            "hub_pairs": {}, "per_km": per_km}


#: service level -> the default card's tariff and return fee (VND). Every card: COD fee
#: 0.8 % (at least 5,000), failed attempt 5,000, remote area 10,000 beyond 7 km from the
#: delivering hub, insurance 0.5 % of the declared value, VAT 8 %.
RATES = {
    "standard": (_tariff(1.0), 12_000),
    "express": (_tariff(1.4), 15_000),
    "same_day": (_tariff(2.0, per_km=1_000), 20_000),
}
SURCHARGES = {"failed_attempt_amount": 5_000, "cod_fee_bp": 80, "cod_fee_min": 5_000, "remote_amount": 10_000,
              "remote_beyond_km": 7.0, "insurance_bp": 50, "vat_bp": 800}

PARTNER_PROFILES = {p[0]: p for p in PARTNERS}
#: The demo partners' billing details: one nets its invoices from its COD, one is invoiced weekly.
BILLING = {
    "Saigon Books": {"legal_name": "Công ty TNHH Sách Sài Gòn", "tax_id": "0312345678",
                     "billing_address": "45 Lê Lợi, Phường Bến Nghé, Quận 1, TP. Hồ Chí Minh",
                     "billing_email": "ketoan@saigonbooks.example", "bank_account": "Vietcombank 0071000123456",
                     "net_cod_against_invoices": True},
    "Ben Thanh Fashion": {"legal_name": "Công ty CP Thời trang Bến Thành", "tax_id": "0309876543",
                          "billing_address": "120 Nguyễn Trãi, Quận 5, TP. Hồ Chí Minh",
                          "billing_email": "finance@benthanhfashion.example",
                          "bank_account": "Techcombank 19033333444555", "payment_terms_days": 30},
    "Mekong Home Goods": {"legal_name": "Công ty TNHH Gia dụng Mekong", "tax_id": "0315557777",
                          "billing_address": "88 Cộng Hòa, Tân Bình, TP. Hồ Chí Minh",
                          "billing_email": "ap@mekonghome.example", "bank_account": "ACB 2233445566",
                          "billing_cycle": "weekly"},
}
#: The demo accounts' people: (name, e-mail, phone, roles).
CONTACTS = {
    "Saigon Books": [("Trần Thị Mai", "ketoan@saigonbooks.example", "0903 111 222", ["billing"]),
                     ("Lê Văn Hùng", "hung@saigonbooks.example", "0903 111 333", ["operations", "escalation"])],
    "Ben Thanh Fashion": [("Phạm Ngọc Anh", "anh@benthanhfashion.example", "0912 222 444",
                           ["billing", "escalation"]),
                          ("Võ Minh Khoa", "dev@benthanhfashion.example", "0912 222 555", ["technical"])],
    "Mekong Home Goods": [("Đặng Thu Trang", "trang@mekonghome.example", "0938 333 666",
                           ["billing", "operations", "escalation"])],
}
_GAZETTEER = GazetteerGeocoder()

FIRST_NAMES = ("An", "Binh", "Chi", "Dung", "Giang", "Hoa", "Khanh", "Lan", "Minh", "Nam",
               "Phuong", "Quang", "Thao", "Trang", "Tuan", "Vy")
FAMILY_NAMES = ("Nguyen", "Tran", "Le", "Pham", "Hoang", "Vo", "Dang", "Bui", "Do", "Ngo")
STREETS = ("Nguyen Hue", "Hai Ba Trung", "Dien Bien Phu", "Cach Mang Thang Tam", "Vo Van Tan",
           "Nguyen Van Linh", "Pham Van Dong", "Le Van Sy", "Phan Xich Long", "Tran Hung Dao")
#: Districts where drop-offs are drawn; all inside the network's delivery areas.
DROP_DISTRICTS = ("District 1", "District 3", "District 4", "District 5", "District 7",
                  "District 10", "Binh Thanh", "Go Vap", "Phu Nhuan", "Tan Binh", "Tan Phu",
                  "Binh Tan", "Thu Duc", "District 12", "District 6", "District 11")


def has_data(session: Session) -> bool:
    return bool(session.scalar(select(func.count()).select_from(Hub)))


def seed_network(session: Session) -> dict:
    """Hubs, rate cards, partners with API keys, drivers. Returns what was made, with keys."""
    (code, name, addr, lat, lon, radius), *locals_ = HUBS
    centre = hubs.create_hub(session, code=code, name=name, kind=HubKind.SHIPPING_CENTRE,
                             city=CITY, country=COUNTRY, lat=lat, lon=lon,
                             delivery_radius_km=radius, address=addr)
    all_hubs = [centre]
    for code, name, addr, lat, lon, radius in locals_:
        all_hubs.append(hubs.create_hub(session, code=code, name=name, kind=HubKind.LOCAL_HUB,
                                        city=CITY, country=COUNTRY, lat=lat, lon=lon,
                                        delivery_radius_km=radius, address=addr, fed_by=centre))
    for level, (tariff, ret) in RATES.items():
        session.add(RateCard(service_level=level, currency=CURRENCY, effective_from=date(2020, 1, 1),
                             name=f"{level.replace('_', ' ').capitalize()} (default)", tariff=tariff,
                             return_amount=ret, **SURCHARGES))
    partners = []
    for name, *_ in PARTNERS:
        partner = crm.create_partner(session, name, currency=CURRENCY)
        for field_name, value in BILLING.get(name, {}).items():
            setattr(partner, field_name, value)
        for contact_name, email, phone, roles in CONTACTS.get(name, ()):
            accounts.add_contact(session, partner.id, contact_name, email=email, phone=phone, roles=roles)
        _, key = crm.issue_api_key(session, partner)
        partners.append({"id": partner.id, "name": name, "api_key": key})
    rng = random.Random(7)
    drivers = 0
    for hub in all_hubs:
        for i in range(4 if hub.is_centre else 3):
            delivery.create_driver(session, name=f"{rng.choice(FIRST_NAMES)} {rng.choice(FAMILY_NAMES)}",
                                   phone=f"+8490{hub.id:02d}{i:02d}{rng.randrange(1000):03d}",
                                   hub_id=hub.id, capacity=60)
            drivers += 1
    session.flush()
    return {"hubs": [h.code for h in all_hubs], "partners": partners, "drivers": drivers}


#: One demo login per role: (role, email, name).
STAFF = (
    ("admin", "admin@waybill.demo", "An Admin"),
    ("dispatcher", "dispatch@waybill.demo", "Dung Dispatcher"),
    ("hub_operator", "d7@waybill.demo", "Hoa Hub Operator (SGN-D7)"),
    ("finance", "finance@waybill.demo", "Phuc Finance"),
    ("account_manager", "accounts@waybill.demo", "Mai Account Manager"),
    ("customer_service", "care@waybill.demo", "Lan Customer Service"),
    ("driver", "driver@waybill.demo", ""),
    ("partner", "shop@waybill.demo", "Partner staff"),
)


def seed_users(session: Session) -> list[dict]:
    """One login per role, each with a new random password (printed once by ``demo``)."""
    from app.auth.services import create_user
    from app.delivery.models import Driver

    d7 = session.scalars(select(Hub).where(Hub.code == "SGN-D7")).one()
    driver = session.scalars(select(Driver).where(Driver.hub_id == d7.id).order_by(Driver.id)).first()
    partner = session.scalars(select(Partner).order_by(Partner.id)).first()
    made = []
    for role, email, name in STAFF:
        password = secrets.token_urlsafe(12)
        create_user(session, email, role=role, password=password, name=name or driver.name,
                    hub_id=d7.id if role == "hub_operator" else None,
                    driver_id=driver.id if role == "driver" else None,
                    partner_id=partner.id if role == "partner" else None)
        made.append({"role": role, "email": email, "password": password})
    return made


def give_the_demo_driver_a_round(session: Session, today: date) -> None:
    """The demo driver's login goes to a driver of the shipping centre with parcels out
    today, who also takes the day's pickups and the parcels ready at the centre: the
    driver's pages open on a round with pickups and deliveries."""
    from app.auth.models import User
    from app.delivery import planning
    from app.delivery.models import Driver, RunSheet
    from app.delivery.services import drivers_of
    from app.orders.models import Shipment

    centre = session.scalars(select(Hub).where(Hub.kind == HubKind.SHIPPING_CENTRE).order_by(Hub.id)).first()
    ours = [d.id for d in drivers_of(session, centre.id)]
    out = dict(session.execute(
        select(RunSheet.driver_id, func.count()).join(Shipment, Shipment.run_sheet_id == RunSheet.id)
        .where(Shipment.status == "out_for_delivery", RunSheet.driver_id.in_(ours))
        .group_by(RunSheet.driver_id)).all())
    driver_id = max(ours, key=lambda d: (out.get(d, 0), -d))
    # Their own sheet: the day's pickups and what is ready at the centre, out now (a full
    # sheet more, as the simulated day gives drivers).
    for sheet in planning.plan_run_sheets(session, centre.id, today, driver_ids=[driver_id],
                                          capacity_per_day=False):
        planning.dispatch_run_sheet(session, sheet.id, actor="system:demo")
    user = session.scalars(select(User).where(User.role == "driver").order_by(User.id)).first()
    user.driver_id = driver_id
    user.name = session.get(Driver, driver_id).name


def random_order(rng: random.Random, partner: Partner, reference: str) -> OrderIn:
    """A plausible order from one of the demo partners to a customer in the city."""
    pname, paddr, pdistrict, plat, plon = PARTNER_PROFILES.get(partner.name, PARTNERS[0])
    district = rng.choice(DROP_DISTRICTS)
    place = _GAZETTEER.geocode(f"{district}, {CITY}")
    given = rng.random() < 0.7  # most partners send coordinates; the rest are geocoded
    first, family = rng.choice(FIRST_NAMES), rng.choice(FAMILY_NAMES)
    cod = rng.choice((0, 0, 150_000, 250_000, 499_000))
    weight = rng.choice((300, 800, 1200, 2500, 4000))
    return OrderIn(
        reference=reference,
        service_level=rng.choices(("standard", "express", "same_day"), (6, 3, 1))[0],
        pickup=ContactIn(name=pname, phone="028 3822 1234",
                         address=AddressIn(line1=paddr, district=pdistrict, city=CITY,
                                           country=COUNTRY, lat=plat, lon=plon)),
        dropoff=ContactIn(
            name=f"{first} {family}", phone=f"09{rng.randrange(10**8):08d}",
            email=f"{first.lower()}.{family.lower()}{rng.randrange(1000)}@example.com" if rng.random() < 0.6 else None,
            address=AddressIn(
                line1=f"{rng.randrange(1, 300)} {rng.choice(STREETS)}", district=district, city=CITY,
                country=COUNTRY,
                lat=place.latitude + rng.uniform(-0.006, 0.006) if given else None,
                lon=place.longitude + rng.uniform(-0.006, 0.006) if given else None)),
        parcels=[ParcelIn(weight_grams=weight, length_cm=rng.choice((20, 30, 40)),
                          width_cm=rng.choice((15, 20, 30)), height_cm=rng.choice((5, 10, 20)),
                          declared_value_amount=cod or 200_000, declared_value_currency=CURRENCY)
                 for _ in range(rng.choice((1, 1, 1, 2)))],
        cod_amount=cod, cod_currency=CURRENCY if cod else None,
    )


def seed_orders(sim, n: int) -> dict:
    """Create ``n`` demo orders and leave them spread over every state of the lifecycle,
    moved there by the same services the real surfaces use."""
    from app.orders import shipments
    from app.orders.lifecycle import Status

    session = sim.session
    ids = sim.create_orders(n, prefix="DEMO", order_factory=random_order)
    k = max(1, len(ids) // 14)
    # Only line-haul shipments can stop in transit or at a local hub.
    linehaul = shipments.ids_in_status(session, [Status.CREATED], route="linehaul", only=ids)
    sim.rng.shuffle(linehaul)
    groups = {"in_transit": set(linehaul[:k]), "at_hub": set(linehaul[k:2 * k])}
    rest = [i for i in ids if i not in groups["in_transit"] | groups["at_hub"]]
    sim.rng.shuffle(rest)
    names = ("cancelled", "created", "scheduled", "picked_up", "at_centre", "on_hold", "out",
             "failed", "returned")
    groups.update({name: set(rest[i * k:(i + 1) * k]) for i, name in enumerate(names)})
    groups["delivered"] = set(rest[len(names) * k:])

    for sid in sorted(groups["cancelled"]):
        shipments.transition(session, sid, "cancel", actor="partner:demo", reason="customer changed their mind")
    session.commit()
    moving = set(ids) - groups["cancelled"] - groups["created"]

    def step(name: str, stop: str | None):
        nonlocal moving
        sim.only = set(moving)
        getattr(sim, name)()
        if stop:
            moving -= groups[stop]

    step("schedule_pickups", "scheduled")
    step("pick_up", "picked_up")
    step("scan_in_at_centres", "at_centre")
    step("dispatch_trips", "in_transit")
    step("receive_trips", "at_hub")
    for sid in sorted(groups["on_hold"] & moving):
        shipments.transition(session, sid, "hold", actor="user:dispatcher",
                             reason="address problem: no house number")
    session.commit()
    moving -= groups["on_hold"]
    step("send_out", "out")

    rate = sim.fail_rate
    sim.fail_rate = 1.0
    sim.only = groups["failed"] & moving
    sim.attempt_deliveries()
    sim.only = groups["returned"] & moving
    sim.run()
    sim.fail_rate = rate
    sim.only = groups["delivered"] & moving
    sim.run()
    sim.drain()
    return shipments.count_by_status(session)


#: Days of a past month the demo plays: orders taken and carried to the door on each.
MONTH_DAYS = (3, 10, 17, 24)


def count_cash(session: Session, day: date, *, short: int = 0) -> int:
    """Every driver hands over the day's cash and their hub counts it (the first count
    ``short`` of what is due, with a note). Returns how many counts were made."""
    from app.billing import cash
    from app.delivery.models import Driver

    tz = clock.network_zone()
    made = 0
    for driver in session.scalars(select(Driver).order_by(Driver.id)):
        due = cash.still_to_hand_over(session, driver, day, tz, CURRENCY)
        if due <= 0:
            continue
        handover = cash.declare(session, driver, day, tz, CURRENCY, due)
        received = due - short if made == 0 and short else due
        cash.confirm(session, handover.id, received, user_id=None, hub_id=None,
                     note="counted short: the driver will repay" if received != due else None)
        made += 1
    session.commit()
    return made


def seed_month(sim, period: str, n: int) -> dict:
    """Play a month that has ended: ``n`` orders taken over a few of its days, each day's
    carried to the door (or back) that day and its cash counted at the hubs, fees charged
    and posted, so that finance has a month to invoice, remit and close."""
    from app.billing import periods
    from app.outbox import count_unprocessed

    start, end = periods.bounds(period)
    if end > clock.today():
        raise ValueError(f"{period} has not ended: a month is played once it is over")
    tz = clock.network_zone()
    session = sim.session
    per_day = max(1, n // len(MONTH_DAYS))
    made = []
    for i, day in enumerate(MONTH_DAYS):
        with clock.at(datetime.combine(start.replace(day=day), time(8), tz)):
            made += sim.create_orders(per_day, prefix=f"M{period.replace('-', '')}{day:02d}",
                                      order_factory=random_order)
            sim.run(max_days=6)
            count_cash(session, clock.today(), short=10_000 if i == 1 else 0)
            for _ in range(3):  # what the day's last jobs wrote (a closed shipment's webhook) is done that day too
                if not count_unprocessed(session):
                    break
                sim.drain()
    return {"period": period, "orders": len(made)}


#: Shops the sales team is talking to: (company, person, e-mail, phone, parcels a month, stage, discount %).
LEADS = (
    ("Hoa Sen Cosmetics", "Lê Thị Hồng", "hong@hoasen.example", "0938 111 001", 1_200, "new", None),
    ("Phố Cổ Tea", "Trần Minh Đức", "duc@phocotea.example", "0938 111 002", 450, "qualified", None),
    ("Mekong Kids", "Ngô Thanh Vy", "vy@mekongkids.example", "0938 111 003", 2_500, "proposal", 10),
    ("Sài Gòn Sneakers", "Phạm Quốc Bảo", "bao@sgsneakers.example", "0938 111 004", 6_000, "negotiation", 15),
)


def seed_leads(session: Session) -> int:
    """A few leads along the pipeline, owned by the demo account manager."""
    from app.auth.models import User
    from app.crm import pipeline

    owner = session.scalars(select(User.id).where(User.role == "account_manager").order_by(User.id)).first()
    for company, person, email, phone, parcels, stage, discount in LEADS:
        lead = pipeline.add_lead(session, company=company, contact_name=person, email=email, phone=phone,
                                 monthly_parcels=parcels, source="web" if stage == "new" else "manual",
                                 owner_id=owner, created_by=owner, currency=CURRENCY)
        if stage != "new":
            pipeline.move(session, lead, "qualified", by=owner)
        if discount is not None:
            pipeline.propose(session, lead, discount_bp=discount * 100, by=owner)
        if stage == "negotiation":
            pipeline.move(session, lead, "negotiation", by=owner)
    session.flush()
    return len(LEADS)
