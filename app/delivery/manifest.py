"""The printed run sheet (manifest): one A4 page or more per driver, the stops in visiting
order with who, where, what to collect, and a column for the recipient's signature;
totals to hand over at the end of the day. Drawn with reportlab's tables."""
from __future__ import annotations

import io

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import (
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from app.billing.money import Money
from app.delivery.reads import SheetView
from app.hubs.models import Hub
from app.pdf import fonts, plain
from app.words import counted


def render(hub: Hub, views: list[SheetView], *, font: str | None = None) -> bytes:
    """One PDF with every sheet in ``views``, each starting on a new page."""
    found = fonts(font)
    text = (lambda s: s) if found.unicode else plain
    body = ParagraphStyle("body", fontName=found.regular, fontSize=8.5, leading=10.5)
    bold = ParagraphStyle("bold", parent=body, fontName=found.bold)
    title = ParagraphStyle("title", parent=body, fontName=found.bold, fontSize=15, leading=19)

    def p(value, style=body):
        return Paragraph(_escape(text(str(value))), style)

    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=landscape(A4), leftMargin=12 * mm, rightMargin=12 * mm,
                            topMargin=12 * mm, bottomMargin=12 * mm, title="Waybill run sheets",
                            creator="Waybill")
    story = []
    for n, view in enumerate(views):
        sheet, driver = view.sheet, view.driver
        if n:
            story.append(PageBreak())
        story.append(p(f"Run sheet {sheet.id} · {hub.code} {hub.name} · {sheet.run_date:%a %d %b %Y}", title))
        cod = ", ".join(str(Money(amount, currency)) for currency, amount in view.cod_total.items()) or "none"
        story.append(p(f"Driver: {driver.name} ({driver.phone}) · {counted(len(view.stops), 'stop')} · "
                       f"{sheet.planned_km or 0:.1f} km planned · cash to collect: {cod} · {sheet.status}"))
        story.append(Spacer(1, 4 * mm))
        rows = [[p(h, bold) for h in ("#", "Stop", "Name / phone", "Address", "Parcels", "Collect",
                                      "Signature / reason")]]
        for stop in view.stops:
            kind = "PICKUP " if stop.kind == "pickup" else ""
            window = (f" · {stop.window[0]:%H:%M}–{stop.window[1]:%H:%M}" if stop.window else "")
            rows.append([
                p(stop.seq, bold),
                p(f"{kind}{stop.title}{window}", bold if stop.kind == "pickup" else body),
                p(f"{stop.name} · {stop.phone}"),
                p(stop.address),
                p(stop.parcels),
                p(str(Money(stop.cod_amount, stop.cod_currency)) if stop.cod_amount else "—"),
                "",
            ])
        table = Table(rows, colWidths=[9 * mm, 48 * mm, 50 * mm, 82 * mm, 15 * mm, 28 * mm, 40 * mm],
                      repeatRows=1)
        table.setStyle(TableStyle([
            ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f6f6f6")]),
            ("TOPPADDING", (0, 1), (-1, -1), 5),
            ("BOTTOMPADDING", (0, 1), (-1, -1), 9),
        ]))
        story.append(table)
        story.append(Spacer(1, 6 * mm))
        story.append(p("Handed over at the hub — cash received: ____________   "
                       "parcels returned: ______   hub operator: ____________________"))
    if not story:
        story.append(p(f"No run sheets at {hub.code}.", title))
    doc.build(story)
    return out.getvalue()


def _escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
