"""Placing addresses on the map.

Addresses that carry coordinates are used as given. The others go through a geopy
geocoder: by default ``GazetteerGeocoder``, an offline one over the district gazetteer
that ships in ``app/hubs/data``; ``Nominatim`` when WAYBILL_GEOCODER=nominatim. An address
that cannot be placed to a district is an error, never a guess at the city centre.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from geopy.exc import GeopyError
from geopy.geocoders import Nominatim
from geopy.geocoders.base import Geocoder
from geopy.location import Location
from app.words import without_accents

DATA_DIR = Path(__file__).parent / "data"


class AddressNotPlaced(ValueError):
    """The address could not be placed on the map."""


def normalise(text: str) -> str:
    """Lower case, no accents, words separated by single spaces ("Quận 7" -> "quan 7")."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", without_accents(text).lower()).split())


@dataclass(frozen=True)
class Place:
    country: str
    city: str
    district: str
    lat: float
    lon: float
    patterns: tuple[re.Pattern, ...]


def _phrase(alias: str) -> re.Pattern:
    return re.compile(rf"(?<![0-9a-z]){re.escape(normalise(alias))}(?![0-9a-z])")


@lru_cache(maxsize=1)
def _load() -> tuple[dict[tuple[str, str], tuple[re.Pattern, ...]], tuple[Place, ...]]:
    cities = {}
    with open(DATA_DIR / "cities.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            names = [row["city"], *filter(None, row["aliases"].split("|"))]
            cities[(row["country"], row["city"])] = tuple(_phrase(n) for n in names)
    places = []
    with open(DATA_DIR / "gazetteer.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            names = [row["district"], *filter(None, row["aliases"].split("|"))]
            places.append(Place(row["country"], row["city"], row["district"],
                                float(row["lat"]), float(row["lon"]),
                                tuple(_phrase(n) for n in names)))
    return cities, tuple(places)


class GazetteerGeocoder(Geocoder):
    """An offline geocoder behind geopy's interface: places an address at the centre of
    its district, found by name in the shipped gazetteer."""

    def __init__(self):
        super().__init__()

    def geocode(self, query, *, exactly_one=True, country_codes=None):
        if isinstance(query, dict):
            text = " ".join(str(v) for k, v in query.items() if k != "country" and v)
            country = (query.get("country") or "").upper() or None
        else:
            text, country = str(query), None
        if country_codes:
            country = (country_codes if isinstance(country_codes, str) else country_codes[0]).upper()
        found = self._match(normalise(text), country)
        if not found:
            return None
        locations = [Location(f"{p.district}, {p.city}, {p.country}", (p.lat, p.lon),
                              {"district": p.district, "city": p.city, "country": p.country})
                     for p in found]
        return locations[0] if exactly_one else locations

    def _match(self, text: str, country: str | None) -> list[Place]:
        cities, places = _load()
        in_city = {key for key, patterns in cities.items()
                   if (country is None or key[0] == country) and any(p.search(text) for p in patterns)}
        scored = []
        for place in places:
            if (place.country, place.city) not in in_city:
                continue
            hits = [m.end() - m.start() for p in place.patterns if (m := p.search(text))]
            if hits:
                scored.append((max(hits), place))
        scored.sort(key=lambda x: -x[0])
        return [p for _, p in scored]


def make_geocoder(config) -> Geocoder:
    kind = config.get("WAYBILL_GEOCODER", "gazetteer")
    if kind == "gazetteer":
        return GazetteerGeocoder()
    if kind == "nominatim":
        url = urlsplit(config["NOMINATIM_URL"])
        return Nominatim(user_agent=config["NOMINATIM_USER_AGENT"], domain=url.netloc + url.path.rstrip("/"),
                         scheme=url.scheme or "https", timeout=10)
    raise ValueError(f"unknown WAYBILL_GEOCODER {kind!r}: use gazetteer or nominatim")


@dataclass(frozen=True)
class Placed:
    lat: float
    lon: float
    located_by: str


def place_address(geocoder: Geocoder, *, line1: str, city: str, country: str,
                  district: str = "", postal_code: str = "", lat: float | None = None,
                  lon: float | None = None) -> Placed:
    """Coordinates for an address: as given, or from the geocoder. Raises AddressNotPlaced."""
    if lat is not None or lon is not None:
        if lat is None or lon is None:
            raise AddressNotPlaced("give both lat and lon, or neither")
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise AddressNotPlaced(f"coordinates out of range: {lat}, {lon}")
        return Placed(lat, lon, "given")
    query = {"street": line1, "county": district, "city": city, "postalcode": postal_code,
             "country": country}
    try:
        location = geocoder.geocode({k: v for k, v in query.items() if v}, exactly_one=True)
    except GeopyError as exc:
        raise AddressNotPlaced(f"the geocoder failed: {exc}") from exc
    if location is None:
        raise AddressNotPlaced(
            f"cannot place {', '.join(v for v in (line1, district, city, country) if v)}: "
            "give a known district or lat/lon"
        )
    name = "gazetteer" if isinstance(geocoder, GazetteerGeocoder) else type(geocoder).__name__.lower()
    return Placed(location.latitude, location.longitude, name)
