"""The network: shipping centres, local hubs, and the line-haul trips between them."""
from __future__ import annotations

import enum
from datetime import datetime, time

from sqlalchemy import Enum, Float, ForeignKey, Index, Integer, String, Time, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.db import Base, UTCDateTime


class HubKind(str, enum.Enum):
    SHIPPING_CENTRE = "shipping_centre"
    LOCAL_HUB = "local_hub"


class Hub(Base):
    __tablename__ = "hubs"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[HubKind] = mapped_column(Enum(HubKind, native_enum=False, length=20))
    address: Mapped[str] = mapped_column(String(255), default="")
    city: Mapped[str] = mapped_column(String(120))
    country: Mapped[str] = mapped_column(String(2))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    #: Radius in km around the hub within which its drivers deliver.
    delivery_radius_km: Mapped[float] = mapped_column(Float)
    #: The shipping centre whose line-hauls feed this local hub (None for a centre).
    fed_by_id: Mapped[int | None] = mapped_column(ForeignKey("hubs.id"))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    # Its schedule, what delivery promises are worked out from (``orders.promises``).
    #: The days it works, ISO weekdays ("123456": Monday to Saturday); never a public holiday.
    working_days: Mapped[str] = mapped_column(String(7), default="123456", server_default="123456")
    #: A centre: orders ready by then are picked up that day.
    pickup_cutoff: Mapped[time] = mapped_column(Time, default=time(14), server_default="14:00:00")
    #: A local hub: the line-haul to it leaves its centre then, on the centre's working days...
    linehaul_departs: Mapped[time] = mapped_column(Time, default=time(20), server_default="20:00:00")
    #: ... and takes this long.
    linehaul_hours: Mapped[int] = mapped_column(Integer, default=8, server_default="8")
    #: A parcel at the hub by then goes out for delivery that day.
    out_by: Mapped[time] = mapped_column(Time, default=time(9), server_default="09:00:00")
    #: A centre's afternoon run for same-day parcels: one at the centre by then goes out on
    #: it. None: the centre runs none, and same day is not promised from it.
    same_day_out_by: Mapped[time | None] = mapped_column(Time, default=time(13), server_default="13:00:00")
    #: Parcels its drivers can deliver a working day (None: no limit): a full day is not promised.
    daily_capacity: Mapped[int | None] = mapped_column(Integer)
    #: The delivery window it offers customers, if any.
    window_from: Mapped[time | None] = mapped_column(Time)
    window_until: Mapped[time | None] = mapped_column(Time)

    fed_by: Mapped["Hub | None"] = relationship(remote_side=[id])

    @property
    def is_centre(self) -> bool:
        return self.kind is HubKind.SHIPPING_CENTRE


class TripStatus(str, enum.Enum):
    DEPARTED = "departed"
    ARRIVED = "arrived"


class LinehaulTrip(Base):
    """One run of a truck from a shipping centre to a local hub: the bags loaded on it,
    or (dispatched by the schedule) the parcels waiting for that hub."""

    __tablename__ = "linehaul_trips"

    id: Mapped[int] = mapped_column(primary_key=True)
    from_hub_id: Mapped[int] = mapped_column(ForeignKey("hubs.id"), index=True)
    to_hub_id: Mapped[int] = mapped_column(ForeignKey("hubs.id"), index=True)
    status: Mapped[TripStatus] = mapped_column(Enum(TripStatus, native_enum=False, length=20))
    departed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    #: Who finished receiving it at the hub, when the hub reported on it.
    received_by: Mapped[str | None] = mapped_column(String(60))

    from_hub: Mapped[Hub] = relationship(foreign_keys=[from_hub_id])
    to_hub: Mapped[Hub] = relationship(foreign_keys=[to_hub_id])


class BagStatus(str, enum.Enum):
    OPEN = "open"
    CLOSED = "closed"
    DISPATCHED = "dispatched"
    RECEIVED = "received"


class Bag(Base):
    """A sealed bag (or cage) of parcels from a centre to one local hub. Parcels are sorted
    into the hub's open bag; a closed bag goes on the next trip to that hub."""

    __tablename__ = "bags"
    __table_args__ = (Index("ix_bags_route_status", "from_hub_id", "to_hub_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Printed on the bag's tag and scanned: "BG" and the id, zero-padded.
    code: Mapped[str | None] = mapped_column(String(20), unique=True)
    from_hub_id: Mapped[int] = mapped_column(ForeignKey("hubs.id"))
    to_hub_id: Mapped[int] = mapped_column(ForeignKey("hubs.id"))
    status: Mapped[BagStatus] = mapped_column(Enum(BagStatus, native_enum=False, length=20))
    trip_id: Mapped[int | None] = mapped_column(ForeignKey("linehaul_trips.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    items: Mapped[list["BagItem"]] = relationship(back_populates="bag", order_by="BagItem.id",
                                                   cascade="all, delete-orphan")


class BagItem(Base):
    """A parcel (its shipment) in a bag, and when the receiving hub scanned it."""

    __tablename__ = "bag_items"
    __table_args__ = (UniqueConstraint("bag_id", "shipment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bag_id: Mapped[int] = mapped_column(ForeignKey("bags.id"))
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"), index=True)
    added_by: Mapped[str] = mapped_column(String(60))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    bag: Mapped[Bag] = relationship(back_populates="items")


class TripDiscrepancy(Base):
    """What a hub found wrong when it received a trip: a parcel that should have been on
    it and was not scanned ("missing"), or one scanned that was not on it ("unexpected")."""

    __tablename__ = "trip_discrepancies"
    __table_args__ = (UniqueConstraint("trip_id", "shipment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    trip_id: Mapped[int] = mapped_column(ForeignKey("linehaul_trips.id"), index=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"))
    kind: Mapped[str] = mapped_column(String(12))
    noted_by: Mapped[str] = mapped_column(String(60))
    noted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
