"""Drivers, pickup runs, run sheets, delivery attempts and proof of delivery."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.db import Base, UTCDateTime


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
    #: "motorbike", "van", ... and its plate, as the hub knows it.
    vehicle: Mapped[str] = mapped_column(String(60), default="", server_default="")
    #: ISO weekdays the driver works, "1234567" = every day; the planner leaves the others out.
    working_days: Mapped[str] = mapped_column(String(7), default="1234567", server_default="1234567")

    def works_on(self, day) -> bool:
        return str(day.isoweekday()) in (self.working_days or "1234567")


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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RunSheet(Base):
    """A driver's stops from one hub on one day, in the order to visit them.

    "planned" while the dispatcher may still move stops; "dispatched" once the driver has
    left with the parcels (they are then out for delivery)."""

    __tablename__ = "run_sheets"
    __table_args__ = (Index("ix_run_sheets_hub_date", "hub_id", "run_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hub_id: Mapped[int] = mapped_column(ForeignKey("hubs.id"), index=True)
    driver_id: Mapped[int] = mapped_column(ForeignKey("drivers.id"), index=True)
    run_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="planned", server_default="dispatched")
    #: Length of the planned tour from the hub and back, km.
    planned_km: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    stops: Mapped[list["RunSheetStop"]] = relationship(
        back_populates="run_sheet", order_by="RunSheetStop.seq", cascade="all, delete-orphan")


class RunSheetStop(Base):
    """One stop on a run sheet: a delivery of one shipment, or a pickup run at a retailer."""

    __tablename__ = "run_sheet_stops"
    __table_args__ = (UniqueConstraint("run_sheet_id", "shipment_id"),
                      UniqueConstraint("run_sheet_id", "pickup_run_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    run_sheet_id: Mapped[int] = mapped_column(ForeignKey("run_sheets.id"), index=True)
    #: 1-based place in the driver's order of visits.
    seq: Mapped[int] = mapped_column(Integer)
    #: "delivery", "pickup" or "return" (a parcel handed back to its shop).
    kind: Mapped[str] = mapped_column(String(10))
    shipment_id: Mapped[int | None] = mapped_column(ForeignKey("shipments.id"), index=True)
    pickup_run_id: Mapped[int | None] = mapped_column(ForeignKey("pickup_runs.id"), index=True)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    #: When the parcel was scanned out onto the driver's van at the hub.
    loaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    run_sheet: Mapped[RunSheet] = relationship(back_populates="stops")


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
    #: A photo the driver took (the closed door, the damage), stored under WAYBILL_PHOTO_DIR.
    photo_ref: Mapped[str | None] = mapped_column(String(255))
    driver_id: Mapped[int | None] = mapped_column(ForeignKey("drivers.id"))
    run_sheet_id: Mapped[int | None] = mapped_column(ForeignKey("run_sheets.id"))
    event_id: Mapped[int] = mapped_column(ForeignKey("shipment_events.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

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
    #: Why the cash taken differs from the amount due (the driver says; finance settles).
    cod_difference_reason: Mapped[str | None] = mapped_column(String(200))
    driver_id: Mapped[int | None] = mapped_column(ForeignKey("drivers.id"))

    event = relationship("ShipmentEvent")
