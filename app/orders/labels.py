"""Shipping labels: one 4x6-inch page per parcel, drawn with reportlab.

Each label carries the tracking number as a Code 128 barcode (what scanners read) and as
a QR code of the public tracking page, the sort code of the delivering hub in large type,
the route, the recipient and the sender, the parcel's place in the order, and the cash to
collect. Many orders make one PDF."""
from __future__ import annotations

import io

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode import code128
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.pagesizes import inch
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen import canvas
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.billing.money import Money
from app.crm.models import Partner, PickupLocation
from app.hubs.models import Hub
from app.orders.models import Order, Shipment
from app.pdf import Fonts, fonts, plain

PAGE = (4 * inch, 6 * inch)
MARGIN = 12
MAX_ORDERS = 100
#: Pages (parcels) in one label PDF: a few seconds to draw; more would hold a worker for minutes.
MAX_PAGES = 500


def orders_for_labels(session: Session, partner_id: int, order_ids: list[int]) -> list[Order]:
    """The partner's orders among ``order_ids``, in the order asked, with what a label shows."""
    found = {o.id: o for o in session.scalars(
        select(Order).where(Order.id.in_(order_ids), Order.partner_id == partner_id)
        .options(selectinload(Order.parcels), selectinload(Order.shipment),
                 selectinload(Order.dropoff_address),
                 selectinload(Order.pickup_location).selectinload(PickupLocation.address)))}
    return [found[i] for i in order_ids if i in found]


def render(session: Session, orders: list[Order], *, public_url: str, font: str | None = None) -> bytes:
    """One PDF with a page per parcel of every order, in order."""
    found = fonts(font)
    hubs = {h.id: h for h in session.scalars(select(Hub))}
    partners = {p.id: p for p in session.scalars(select(Partner).where(
        Partner.id.in_({o.partner_id for o in orders})))}
    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=PAGE, pageCompression=1)
    pdf.setTitle("Waybill labels")
    pdf.setCreator("Waybill")
    for order in orders:
        for parcel in order.parcels:
            _draw(pdf, found, order, order.shipment, parcel, len(order.parcels), hubs,
                  partners[order.partner_id], public_url)
            pdf.showPage()
    pdf.save()
    return out.getvalue()


def _draw(pdf, fonts: Fonts, order: Order, shipment: Shipment, parcel, count: int, hubs: dict,
          partner: Partner, public_url: str) -> None:
    width, height = PAGE
    text = (lambda s: s) if fonts.unicode else plain
    left, right = MARGIN, width - MARGIN

    def line(x, y, value, size, bold=False, anchor="left"):
        pdf.setFont(fonts.bold if bold else fonts.regular, size)
        draw = {"left": pdf.drawString, "right": pdf.drawRightString, "centre": pdf.drawCentredString}[anchor]
        draw(x, y, text(str(value)))

    def rule(y):
        pdf.setLineWidth(1.2)
        pdf.line(left, y, right, y)

    # Header: the carrier, the service.
    line(left, height - 26, "WAYBILL", 16, bold=True)
    line(right, height - 26, order.service_level.replace("_", " ").upper(), 14, bold=True, anchor="right")
    rule(height - 34)

    # Sort code of the delivering hub, the route, the parcel's place in the order.
    delivery_hub = hubs[shipment.delivery_hub_id]
    centre = hubs[shipment.centre_id]
    line(left, height - 74, delivery_hub.code, 32, bold=True)
    route = f"{centre.code} > {delivery_hub.code}" if shipment.route == "linehaul" else f"{centre.code} direct"
    line(left, height - 90, route, 10)
    line(right, height - 70, f"{parcel.seq}/{count}", 24, bold=True, anchor="right")
    line(right, height - 90, f"{parcel.weight_grams / 1000:.2f} kg", 10, anchor="right")
    rule(height - 98)

    # Recipient.
    a = order.dropoff_address
    y = height - 112
    line(left, y, "TO", 8, bold=True)
    y -= 16
    line(left, y, order.recipient_name, 13, bold=True)
    address = ", ".join(p for p in (a.line1, a.line2, a.district) if p)
    for piece in simpleSplit(text(address), fonts.regular, 11, right - left)[:3]:
        y -= 14
        line(left, y, piece, 11)
    y -= 14
    line(left, y, f"{a.city} {a.postal_code}".strip() + f", {a.country}", 11)
    y -= 14
    line(left, y, order.recipient_phone, 11)
    rule(height - 206)

    # Sender.
    place = order.pickup_location
    p = place.address
    y = height - 220
    line(left, y, "FROM", 8, bold=True)
    sender_name = partner.name if place.name == partner.name else f"{partner.name} · {place.name}"
    line(left + 32, y, sender_name[:60], 9)
    sender = ", ".join(x for x in (p.line1, p.district, p.city) if x)
    line(left + 32, y - 11, simpleSplit(text(sender), fonts.regular, 9, right - left - 32)[0], 9)
    rule(height - 238)

    # The tracking number as Code 128, with its text.
    barcode = code128.Code128(shipment.tracking_number, barHeight=62, barWidth=1.35, quiet=False)
    barcode.drawOn(pdf, (width - barcode.width) / 2, height - 312)
    line(width / 2, height - 326, shipment.tracking_number, 13, bold=True, anchor="centre")
    rule(height - 334)

    # The tracking page as a QR code; reference, promised date, cash to collect.
    qr = QrCodeWidget(f"{public_url.rstrip('/')}/track/{shipment.tracking_number}", barLevel="M")
    x0, y0, x1, y1 = qr.getBounds()
    size = 86
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(qr)
    renderPDF.draw(drawing, pdf, right - size, MARGIN - 4)
    y = height - 352
    line(left, y, f"Ref {order.reference}"[:34], 10)
    line(left, y - 14, f"Deliver by {shipment.promised_date:%d %b %Y}", 10)
    if order.cod_amount:
        line(left, y - 40, "COLLECT", 9, bold=True)
        line(left, y - 58, str(Money(order.cod_amount, order.cod_currency)), 16, bold=True)
    else:
        line(left, y - 40, "PREPAID", 12, bold=True)
