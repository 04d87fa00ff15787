"""Orders from a CSV file: one row per parcel; consecutive rows with the same reference
are one order (its other columns are read from its first row). Every order is taken or
refused on its own, through the same intake service as the API, and refusals name the
line and the column."""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from app.crm.models import Partner
from app.orders.intake import AddressIn, ContactIn, CreatedOrder, IntakeError, OrderIn, ParcelIn, create_orders, locate

ADDRESS_COLUMNS = ("line1", "line2", "district", "city", "postal_code", "country", "lat", "lon")
PARCEL_COLUMNS = ("weight_grams", "length_cm", "width_cm", "height_cm", "declared_value_amount",
                  "declared_value_currency")
#: Every column Waybill reads, in the order of the template.
COLUMNS = (
    "reference", "service_level",
    "pickup_name", "pickup_phone", *(f"pickup_{c}" for c in ADDRESS_COLUMNS),
    "dropoff_name", "dropoff_phone", "dropoff_email", *(f"dropoff_{c}" for c in ADDRESS_COLUMNS),
    *PARCEL_COLUMNS, "cod_amount", "cod_currency",
)
REQUIRED = ("reference", "service_level", "pickup_name", "pickup_phone", "pickup_line1", "pickup_city",
            "pickup_country", "dropoff_name", "dropoff_phone", "dropoff_line1", "dropoff_city",
            "dropoff_country", "weight_grams", "length_cm", "width_cm", "height_cm")


class CsvFileError(ValueError):
    """The file as a whole cannot be read (not CSV, or its header is wrong)."""


@dataclass
class CsvRow:
    """One order of the file: what became of it."""

    line: int
    reference: str | None
    created: CreatedOrder | None = None
    errors: list[dict] = field(default_factory=list)


@dataclass
class CsvOrder:
    """The rows of one order, with their line numbers."""

    line: int
    rows: list[tuple[int, dict]]


def template() -> str:
    """A header line and one example order, for partners to start from."""
    example = {
        "reference": "SO-1001", "service_level": "standard", "pickup_name": "Saigon Books",
        "pickup_phone": "028 3822 1234", "pickup_line1": "45 Le Loi", "pickup_district": "District 1",
        "pickup_city": "Ho Chi Minh City", "pickup_country": "VN", "dropoff_name": "Lan Nguyen",
        "dropoff_phone": "0903 123 456", "dropoff_email": "lan@example.com",
        "dropoff_line1": "12 Nguyen Hue", "dropoff_district": "District 7",
        "dropoff_city": "Ho Chi Minh City", "dropoff_country": "VN", "weight_grams": "1200",
        "length_cm": "30", "width_cm": "20", "height_cm": "10", "cod_amount": "250000",
        "cod_currency": "VND"}
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerow(example)
    return out.getvalue()


def read_orders(text: str) -> list[CsvOrder]:
    """Group the file's rows into orders; raises CsvFileError for a wrong header."""
    # newline="": the csv module reads line ends itself (quoted fields may hold them).
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""), restkey="\0extra")
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise CsvFileError(f"line 1: {exc}") from None
    if not header:
        raise CsvFileError("the file is empty: the first line must name the columns")
    unknown = [h for h in header if h not in COLUMNS]
    missing = [c for c in REQUIRED if c not in header]
    if unknown or missing:
        problems = []
        if unknown:
            problems.append(f"unknown columns {', '.join(unknown)}")
        if missing:
            problems.append(f"missing columns {', '.join(missing)}")
        raise CsvFileError("; ".join(problems) + f". The columns are: {', '.join(COLUMNS)}")
    reader.fieldnames = header
    orders: list[CsvOrder] = []
    try:
        for row in reader:
            line = reader.line_num
            if not any((v or "").strip() for k, v in row.items() if k != "\0extra"):
                continue  # a blank line
            clean = {k: (v or "").strip() for k, v in row.items() if k != "\0extra"}
            if "\0extra" in row:
                clean["\0extra"] = row["\0extra"]
            if orders and clean["reference"] and clean["reference"] == orders[-1].rows[0][1]["reference"]:
                orders[-1].rows.append((line, clean))
            else:
                orders.append(CsvOrder(line, [(line, clean)]))
    except csv.Error as exc:
        raise CsvFileError(f"line {reader.line_num}: {exc}") from None
    return orders


@dataclass
class Parsed:
    """A file's orders read and checked, their addresses placed: ready to take."""

    results: list[CsvRow]
    to_take: list[tuple[CsvRow, CsvOrder, OrderIn]]


def read_file(text: str, *, max_orders: int | None = None) -> Parsed:
    """Read a CSV file's orders, check each row and place the addresses, all before any
    transaction (the geocoder may be a network service). A file of more than
    ``max_orders`` orders is refused whole (CsvFileError)."""
    grouped = read_orders(text)
    if max_orders is not None and len(grouped) > max_orders:
        raise CsvFileError(f"the file holds {len(grouped)} orders; send at most {max_orders} at a time")
    return parse(grouped)


def parse(grouped: list[CsvOrder]) -> Parsed:
    """Orders read by ``read_orders``, each checked; the addresses of the good ones placed."""
    results: list[CsvRow] = []
    to_take: list[tuple[CsvRow, CsvOrder, OrderIn]] = []
    for order in grouped:
        first = order.rows[0][1]
        result = CsvRow(order.line, first["reference"] or None)
        results.append(result)
        data, errors = _order_in(order)
        if errors:
            result.errors = errors
        else:
            to_take.append((result, order, data))
    locate([data for _, _, data in to_take])
    return Parsed(results, to_take)


def take_parsed(session: Session, partner: Partner, parsed: Parsed, *, actor: str,
                now: datetime | None = None) -> list[CsvRow]:
    """Take the good orders of a parsed file; one CsvRow per order of the file. Flushes."""
    results, to_take = parsed.results, parsed.to_take
    taken = create_orders(session, partner, [data for _, _, data in to_take], actor=actor, now=now)
    for (result, order, _), outcome in zip(to_take, taken):
        if isinstance(outcome, IntakeError):
            result.errors = [_column_error(order, e) for e in outcome.errors]
        else:
            result.created = outcome
    return results


def _order_in(order: CsvOrder) -> tuple[OrderIn | None, list[dict]]:
    errors: list[dict] = []
    first_line, first = order.rows[0]
    for line, row in order.rows:
        if "\0extra" in row:
            errors.append({"line": line, "column": None, "message": "more values than columns"})

    def number(line, row, column, kind=int, required=False):
        value = row.get(column, "")
        if value == "":
            if required:
                errors.append({"line": line, "column": column, "message": "is required"})
            return None
        try:
            return kind(value.replace(",", "")) if kind is int else kind(value)
        except ValueError:
            errors.append({"line": line, "column": column,
                           "message": f"{value!r} is not a {'whole number' if kind is int else 'number'}"})
            return None

    def contact(side: str) -> ContactIn:
        address = AddressIn(
            line1=first.get(f"{side}_line1", ""), line2=first.get(f"{side}_line2", ""),
            district=first.get(f"{side}_district", ""), city=first.get(f"{side}_city", ""),
            postal_code=first.get(f"{side}_postal_code", ""), country=first.get(f"{side}_country", ""),
            lat=number(first_line, first, f"{side}_lat", float),
            lon=number(first_line, first, f"{side}_lon", float))
        return ContactIn(name=first.get(f"{side}_name", ""), phone=first.get(f"{side}_phone", ""),
                         email=first.get(f"{side}_email") or None, address=address)

    for column in ("reference", "service_level", "pickup_name", "pickup_phone", "dropoff_name",
                   "dropoff_phone"):
        if not first.get(column):
            errors.append({"line": first_line, "column": column, "message": "is required"})
    parcels = []
    for line, row in order.rows:
        dims = {c: number(line, row, c, required=True) for c in PARCEL_COLUMNS[:4]}
        parcels.append(ParcelIn(**{k: v or 0 for k, v in dims.items()},
                                declared_value_amount=number(line, row, "declared_value_amount") or 0,
                                declared_value_currency=row.get("declared_value_currency") or None))
    data = OrderIn(reference=first.get("reference", ""), service_level=first.get("service_level", ""),
                   pickup=contact("pickup"), dropoff=contact("dropoff"), parcels=parcels,
                   cod_amount=number(first_line, first, "cod_amount") or 0,
                   cod_currency=first.get("cod_currency") or None)
    return (None if errors else data), errors


_PARCEL_FIELD = re.compile(r"^parcels\[(\d+)\]\.(.+)$")


def _column_error(order: CsvOrder, error: dict) -> dict:
    """An intake error's field ("dropoff.address.city", "parcels[1].weight_grams") as the
    line and column of the file."""
    name = error["field"]
    line = order.line
    match = _PARCEL_FIELD.match(name)
    if match:
        index, name = int(match.group(1)), match.group(2)
        if index < len(order.rows):
            line = order.rows[index][0]
        name = name.replace("declared_value.", "declared_value_")
    else:
        name = name.replace(".address.", "_").replace(".address", "_address").replace(".", "_")
    column = name if name in COLUMNS else None
    message = error["message"] if column else f"{error['field']}: {error['message']}"
    return {"line": line, "column": column, "message": message}
