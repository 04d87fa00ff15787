"""Orders, their parcels, the shipment that carries them, and its event history."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.db import Base, UTCDateTime
from app.orders.lifecycle import Status


class Address(Base):
    __tablename__ = "addresses"

    id: Mapped[int] = mapped_column(primary_key=True)
    line1: Mapped[str] = mapped_column(String(255))
    line2: Mapped[str] = mapped_column(String(255), default="")
    #: District or ward; the offline gazetteer places an address by it.
    district: Mapped[str] = mapped_column(String(120), default="")
    city: Mapped[str] = mapped_column(String(120))
    postal_code: Mapped[str] = mapped_column(String(20), default="")
    country: Mapped[str] = mapped_column(String(2))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    #: "given" when the partner sent coordinates, else the geocoder that placed it.
    located_by: Mapped[str] = mapped_column(String(20), default="given")


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("partner_id", "reference"),
                      # The console's search by reference or phone, across partners.
                      Index("ix_orders_reference", "reference"),
                      Index("ix_orders_recipient_phone", "recipient_phone"))

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    #: The partner's own order number, unique per partner.
    reference: Mapped[str] = mapped_column(String(100))
    service_level: Mapped[str] = mapped_column(String(20))
    pickup_location_id: Mapped[int] = mapped_column(ForeignKey("pickup_locations.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    dropoff_address_id: Mapped[int] = mapped_column(ForeignKey("addresses.id"))
    #: Recipient as written on this order (the customer record may change later).
    recipient_name: Mapped[str] = mapped_column(String(200))
    recipient_phone: Mapped[str] = mapped_column(String(32))
    recipient_email: Mapped[str | None] = mapped_column(String(254))
    #: Cash to collect on delivery, in minor units of cod_currency; 0 for none.
    cod_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    cod_currency: Mapped[str | None] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, onupdate=clock.now)

    parcels: Mapped[list["Parcel"]] = relationship(
        back_populates="order", order_by="Parcel.seq", cascade="all, delete-orphan"
    )
    dropoff_address = relationship("Address", foreign_keys=[dropoff_address_id])
    pickup_location = relationship("PickupLocation")
    customer = relationship("Customer")
    shipment: Mapped["Shipment"] = relationship(back_populates="order", uselist=False)


class Parcel(Base):
    __tablename__ = "parcels"
    __table_args__ = (UniqueConstraint("order_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    #: 1-based position of the parcel in its order (printed as "2 of 3").
    seq: Mapped[int] = mapped_column(Integer)
    weight_grams: Mapped[int] = mapped_column(Integer)
    length_cm: Mapped[int] = mapped_column(Integer)
    width_cm: Mapped[int] = mapped_column(Integer)
    height_cm: Mapped[int] = mapped_column(Integer)
    declared_value_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    declared_value_currency: Mapped[str | None] = mapped_column(String(3))

    order: Mapped[Order] = relationship(back_populates="parcels")


class Shipment(Base):
    """The movement of one order's parcels from the retailer to the customer.

    ``status`` changes only through ``app.orders.shipments.transition``.
    """

    __tablename__ = "shipments"
    __table_args__ = (
        Index("ix_shipments_status_partner", "status", "partner_id"),
        Index("ix_shipments_status_hub", "status", "delivery_hub_id"),
        # The dashboard's late and at-risk counts, today's intake and volume, on-time rate.
        Index("ix_shipments_status_promised", "status", "promised_date"),
        Index("ix_shipments_created_at", "created_at"),
        #: An account's figures by week.
        Index("ix_shipments_partner_created", "partner_id", "created_at"),
        Index("ix_shipments_delivered_at", "delivered_at", postgresql_include=["promised_date"]),
        #: A hub's load on a day: what delivery promises count against its capacity.
        Index("ix_shipments_hub_promised", "delivery_hub_id", "promised_date"),
        #: Stage SLAs: the shipments of a stage that entered it before a moment.
        Index("ix_shipments_status_stage_since", "status", "stage_since"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), unique=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    tracking_number: Mapped[str] = mapped_column(String(20), unique=True)
    status: Mapped[str] = mapped_column(String(30))
    #: Optimistic concurrency counter: the ORM bumps it on every flush of the row and
    #: checks it (a change from a stale copy fails); ``orders.assignments``' bulk
    #: updates bump it too. Nothing outside ``app/orders`` writes this table.
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    #: Status to go back to when a hold is released.
    held_from: Mapped[str | None] = mapped_column(String(30))
    hold_reason: Mapped[str | None] = mapped_column(String(200))
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: How the shipment ended: "delivered" or "returned" (kept once closed).
    outcome: Mapped[str | None] = mapped_column(String(20))
    #: When the delivery was recorded (the dashboard's deliveries and on-time rate).
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Sequence number of the last event appended (events are numbered per shipment).
    last_event_seq: Mapped[int] = mapped_column(Integer, default=0)
    centre_id: Mapped[int] = mapped_column(ForeignKey("hubs.id"))
    #: The hub whose drivers deliver: the centre itself when the route is direct.
    delivery_hub_id: Mapped[int] = mapped_column(ForeignKey("hubs.id"))
    #: "direct" or "linehaul".
    route: Mapped[str] = mapped_column(String(10))
    #: The planned legs: [{"kind", "from", "to"}], hub codes or "pickup"/"dropoff".
    planned_legs: Mapped[list] = mapped_column(JSON)
    #: Great-circle distance from the pickup to the drop-off, km.
    distance_km: Mapped[float] = mapped_column(Float)
    #: Greater of actual and volumetric weight, grams: the weight that is charged.
    billable_grams: Mapped[int] = mapped_column(Integer)
    quoted_fee_amount: Mapped[int] = mapped_column(BigInteger)
    quoted_fee_currency: Mapped[str] = mapped_column(String(3))
    #: The quote's breakdown (``rating.Rate.breakdown``): what the delivery fee will be.
    quote: Mapped[dict | None] = mapped_column(JSON)
    promised_date: Mapped[date] = mapped_column(Date)
    #: The day promised at intake (``promised_date`` moves when a step slips).
    first_promised_date: Mapped[date | None] = mapped_column(Date)
    #: Why that day (``orders.promises``): the steps, in data, for each reader's words.
    promise_basis: Mapped[list | None] = mapped_column(JSON)
    #: How many times the promise was moved.
    promise_revisions: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: When the shipment entered the stage of its journey it is in (``orders.stages``): what
    #: stage SLAs are measured from.
    stage_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The one-time code the customer gives the driver, when the partner asks for one.
    delivery_code: Mapped[str | None] = mapped_column(String(6))
    #: Wrong codes given for it in a row; at MAX_CODE_TRIES the code is locked until a
    #: dispatcher unlocks it (a six-digit code must not be guessed).
    delivery_code_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: Not to be delivered before this day (rescheduled at the customer's request).
    not_before: Mapped[date | None] = mapped_column(Date)
    pickup_run_id: Mapped[int | None] = mapped_column(ForeignKey("pickup_runs.id"), index=True)
    linehaul_trip_id: Mapped[int | None] = mapped_column(ForeignKey("linehaul_trips.id"), index=True)
    run_sheet_id: Mapped[int | None] = mapped_column(ForeignKey("run_sheets.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, onupdate=clock.now)

    order: Mapped[Order] = relationship(back_populates="shipment")

    __mapper_args__ = {"version_id_col": version}

    @property
    def standing(self):
        """Where the shipment stands in its journey, a hold aside: the status it was in
        when it was put on hold, else its status."""
        return Status(self.held_from or self.status)


class ShipmentEvent(Base):
    """One thing that happened to a shipment. Appended, never changed."""

    __tablename__ = "shipment_events"
    __table_args__ = (UniqueConstraint("shipment_id", "seq"),
                      # The scan station's latest scans at a hub.
                      Index("ix_shipment_events_hub", "hub_id", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"))
    #: Position in the shipment's history, from 1; partners see it on webhooks.
    seq: Mapped[int] = mapped_column(Integer)
    #: Past-tense name: "picked_up", "delivered", ...
    type: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(30))
    to_status: Mapped[str] = mapped_column(String(30))
    #: False for a late scan kept in history that did not move the state.
    applied: Mapped[bool] = mapped_column(default=True)
    #: Who did it: "driver:12", "user:3", "partner:4", "system:schedule_pickups".
    actor: Mapped[str] = mapped_column(String(60))
    reason: Mapped[str | None] = mapped_column(String(200))
    hub_id: Mapped[int | None] = mapped_column(ForeignKey("hubs.id"))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    #: When the device says it happened (may be late or out of order).
    device_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the server recorded it.
    server_time: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    #: Id made by the device for this scan; a resend with the same id is a duplicate.
    client_event_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    data: Mapped[dict | None] = mapped_column(JSON)

    shipment: Mapped[Shipment] = relationship()


class StageTarget(Base):
    """How many hours a shipment may stay in a stage of its journey (``orders.stages``):
    for the whole network (no hub, no partner), a hub, a partner's contract, or a partner
    at a hub. The most specific one counts."""

    __tablename__ = "stage_targets"
    __table_args__ = (UniqueConstraint("stage", "hub_id", "partner_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    stage: Mapped[str] = mapped_column(String(20))
    hub_id: Mapped[int | None] = mapped_column(ForeignKey("hubs.id"))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
    hours: Mapped[int] = mapped_column(Integer)


def _partition_events(metadata, connection, **kw) -> None:
    """``create_all`` on PostgreSQL makes the schema the migrations make: shipment events
    partitioned by month (``event_partitions``)."""
    from app.orders import event_partitions

    if connection.dialect.name == "postgresql" and ShipmentEvent.__table__.name in {
            t.name for t in kw.get("tables") or metadata.sorted_tables}:
        event_partitions.partition_table(connection, event_partitions.utc_today())


event.listen(Base.metadata, "after_create", _partition_events)
