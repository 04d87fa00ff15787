"""Drivers, pickup runs, run sheets, delivery attempts and proof of delivery."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, UTCDateTime, utcnow


class Driver(Base):
    __tablename__ = "drivers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(32), unique=True)
    #: The hub the driver starts from each day.
    hub_id: Mapped[int] = mapped_column(ForeignKey("hubs.id"), index=True)
    #: Most stops the driver takes in a day.
    capacity: Mapped[int] = mapped_column(Integer, default=40)
    active: Mapped[bool] = mapped_column(default=True)


class PickupRun(Base):
    """A visit to one pickup location on one day to collect the partner's parcels."""

    __tablename__ = "pickup_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    pickup_location_id: Mapped[int] = mapped_column(ForeignKey("pickup_locations.id"), index=True)
    run_date: Mapped[date] = mapped_column(Date)
    driver_id: Mapped[int | None] = mapped_column(ForeignKey("drivers.id"))
    #: "planned" until the driver confirms the pickup, then "completed".
    status: Mapped[str] = mapped_column(String(20), default="planned")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RunSheet(Base):
    """A driver's deliveries from one hub on one day."""

    __tablename__ = "run_sheets"

    id: Mapped[int] = mapped_column(primary_key=True)
    hub_id: Mapped[int] = mapped_column(ForeignKey("hubs.id"), index=True)
    driver_id: Mapped[int] = mapped_column(ForeignKey("drivers.id"), index=True)
    run_date: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempts"
    __table_args__ = (UniqueConstraint("shipment_id", "attempt_no"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"))
    attempt_no: Mapped[int] = mapped_column(Integer)
    #: "delivered" or "failed".
    outcome: Mapped[str] = mapped_column(String(20))
    #: For a failure: not_home, refused, wrong_address, ...
    reason_code: Mapped[str | None] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(String(500))
    driver_id: Mapped[int | None] = mapped_column(ForeignKey("drivers.id"))
    run_sheet_id: Mapped[int | None] = mapped_column(ForeignKey("run_sheets.id"))
    event_id: Mapped[int] = mapped_column(ForeignKey("shipment_events.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    event = relationship("ShipmentEvent")


class ProofOfDelivery(Base):
    __tablename__ = "proofs_of_delivery"

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"), unique=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("shipment_events.id"))
    recipient_name: Mapped[str] = mapped_column(String(200))
    #: self, family, neighbour, reception.
    relation: Mapped[str] = mapped_column(String(20))
    #: Signature strokes as SVG path data, when drawn.
    signature_svg: Mapped[str | None] = mapped_column(String)
    photo_ref: Mapped[str | None] = mapped_column(String(255))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Cash actually handed over, in minor units of the order's COD currency.
    cod_received_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    #: cash, card or transfer; None when nothing was due.
    cod_method: Mapped[str | None] = mapped_column(String(20))
    driver_id: Mapped[int | None] = mapped_column(ForeignKey("drivers.id"))

    event = relationship("ShipmentEvent")
