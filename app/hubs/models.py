"""The network: shipping centres, local hubs, and the line-haul trips between them."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, UTCDateTime, utcnow


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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    fed_by: Mapped["Hub | None"] = relationship(remote_side=[id])

    @property
    def is_centre(self) -> bool:
        return self.kind is HubKind.SHIPPING_CENTRE


class TripStatus(str, enum.Enum):
    DEPARTED = "departed"
    ARRIVED = "arrived"


class LinehaulTrip(Base):
    """One run of a truck from a shipping centre to a local hub."""

    __tablename__ = "linehaul_trips"

    id: Mapped[int] = mapped_column(primary_key=True)
    from_hub_id: Mapped[int] = mapped_column(ForeignKey("hubs.id"), index=True)
    to_hub_id: Mapped[int] = mapped_column(ForeignKey("hubs.id"), index=True)
    status: Mapped[TripStatus] = mapped_column(Enum(TripStatus, native_enum=False, length=20))
    departed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    from_hub: Mapped[Hub] = relationship(foreign_keys=[from_hub_id])
    to_hub: Mapped[Hub] = relationship(foreign_keys=[to_hub_id])
