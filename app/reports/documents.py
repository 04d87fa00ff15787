"""Reports as files: PDF (reportlab, its charts drawn on the server with reportlab's
graphics) and XLSX (xlsxwriter: the figures, each table on its sheet, and native charts
over the data). The same drawing serves a monthly report and a builder's result."""
from __future__ import annotations

import io
import re
from datetime import datetime
from xml.sax.saxutils import escape

import xlsxwriter
from flask_babel import gettext as _
from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.charts.linecharts import HorizontalLineChart
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer
from reportlab.platypus import Table as PdfTable
from reportlab.platypus import TableStyle

from app import clock
from app.billing.documents import Company
from app.pdf import fonts, plain
from app.reports.monthly import Chart, Report

INK = colors.HexColor("#1f4e79")
WIDTH = 178 * mm


def cell_text(value, fmt: str) -> str:
    if value is None:
        return "—"
    if fmt == "time":
        return value.isoformat()
    if fmt == "rate":
        return f"{value * 100:.1f} %"
    if fmt == "hours":
        return f"{value:.1f}"
    if fmt in ("count", "money") and isinstance(value, int):
        return f"{value:,}"
    return str(value)


class _Pdf:
    def __init__(self, font: str | None, title: str):
        found = fonts(font)
        self.font = found
        self.text = (lambda s: s) if found.unicode else plain
        self.body = ParagraphStyle("body", fontName=found.regular, fontSize=9, leading=12)
        self.small = ParagraphStyle("small", parent=self.body, fontSize=7.5, leading=9.5,
                                    textColor=colors.HexColor("#555"))
        self.bold = ParagraphStyle("bold", parent=self.body, fontName=found.bold)
        self.h1 = ParagraphStyle("h1", parent=self.body, fontName=found.bold, fontSize=17, leading=21)
        self.h2 = ParagraphStyle("h2", parent=self.body, fontName=found.bold, fontSize=11.5, leading=15,
                                 spaceBefore=6, spaceAfter=4, textColor=INK)
        self.out = io.BytesIO()
        self.doc = SimpleDocTemplate(self.out, pagesize=A4, leftMargin=16 * mm, rightMargin=16 * mm,
                                     topMargin=14 * mm, bottomMargin=14 * mm, title=title, creator="Waybill")
        self.story: list = []

    def p(self, value, style=None):
        return Paragraph(escape(self.text(str(value))), style or self.body)

    def table(self, header: list[str], rows: list[list], widths=None, right_from: int = 1):
        data = [[self.p(h, self.bold) for h in header]] + [[self.p(c) for c in row] for row in rows]
        table = PdfTable(data, colWidths=widths, repeatRows=1)
        table.setStyle(TableStyle([("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
                                   ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
                                   ("VALIGN", (0, 0), (-1, -1), "TOP"),
                                   ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f6f6f6")])]))
        self.story.append(table)

    def chart(self, chart: Chart):
        self.story.append(KeepTogether([drawing_of(chart, self.font), Spacer(1, 3 * mm)]))

    def build(self) -> bytes:
        self.doc.build(self.story)
        return self.out.getvalue()


def drawing_of(chart: Chart, font, width: float = WIDTH) -> Drawing:
    """A chart drawn here (for the PDF, and as SVG for the pages): a day by day series as
    columns (a line when long or asked for), categories as horizontal bars."""
    text = (lambda s: s) if font.unicode else plain
    values = [float(v or 0) for v in chart.values]
    labels = [text(str(label)) for label in chart.labels]
    title = 6 * mm
    if chart.kind in ("days", "line"):
        drawing = Drawing(width, 58 * mm + title)
        plot = HorizontalLineChart() if chart.kind == "line" or len(values) > 62 else VerticalBarChart()
        plot.x, plot.y, plot.width, plot.height = 14 * mm, 8 * mm, width - 18 * mm, 48 * mm
        step = max(1, len(labels) // 12)
        plot.categoryAxis.categoryNames = [label if i % step == 0 else "" for i, label in enumerate(labels)]
        if isinstance(plot, VerticalBarChart):
            plot.bars[0].fillColor = INK
            plot.bars[0].strokeColor = None
            plot.barSpacing = 0.5
        else:
            plot.lines[0].strokeColor = INK
            plot.lines[0].strokeWidth = 1.5
    else:
        height = (7 * len(values) + 6) * mm
        drawing = Drawing(width, height + 8 * mm + title)
        plot = HorizontalBarChart()
        plot.x, plot.y, plot.width, plot.height = 58 * mm, 6 * mm, width - 64 * mm, height
        plot.categoryAxis.categoryNames = [label[:38] for label in labels]
        plot.categoryAxis.reverseDirection = True
        plot.bars[0].fillColor = INK
        plot.bars[0].strokeColor = None
    plot.data = [values]
    top = max(values + [1])
    plot.valueAxis.valueMin = 0
    plot.valueAxis.valueStep = _step(top, whole=all(float(v).is_integer() for v in values))
    plot.valueAxis.valueMax = plot.valueAxis.valueStep * (int(top // plot.valueAxis.valueStep) + 1)
    plot.valueAxis.labels.fontName = plot.categoryAxis.labels.fontName = font.regular
    plot.valueAxis.labels.fontSize = plot.categoryAxis.labels.fontSize = 7
    plot.valueAxis.labelTextFormat = lambda v: f"{v:,.2f}".rstrip("0").rstrip(".") if top < 5 else f"{v:,.0f}"
    drawing.add(plot)
    drawing.add(String(0, drawing.height - 4 * mm, text(chart.title), fontName=font.bold, fontSize=9.5))
    return drawing


def chart_svg(chart: Chart, *, font: str | None = None) -> str:
    """The chart as an SVG element for a page (the same drawing as the PDF's)."""
    from reportlab.graphics import renderSVG

    svg = renderSVG.drawToString(drawing_of(chart, fonts(font)))
    svg = svg[svg.index("<svg"):]
    # The pages' Content-Security-Policy refuses inline styles: the same as SVG's attributes.
    svg = re.sub(r'style="([^"]*)"', _attributes, svg)
    # The PDF's font names mean nothing to a browser; the page's own sans-serif instead.
    svg = svg.replace('font-family="Label-Bold"', 'font-family="sans-serif" font-weight="bold"')
    svg = svg.replace('font-family="Label"', 'font-family="sans-serif"')
    # As wide as the page allows, keeping its proportions.
    return re.sub(r'^<svg width="[^"]*" height="[^"]*"', '<svg width="100%"', svg, count=1)


def _attributes(found: re.Match) -> str:
    pairs = (part.split(":", 1) for part in found.group(1).split(";") if ":" in part)
    return " ".join(f'{name.strip()}="{value.strip()}"' for name, value in pairs)


def _step(top: float, *, whole: bool = False) -> float:
    """A round step for a value axis that reaches ``top`` in about five steps (at least one
    when the values are whole numbers)."""
    import math

    raw = max(top / 5, 1) if whole else top / 5
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for nice in (1, 2, 5, 10):
        if raw <= nice * magnitude:
            return nice * magnitude
    return 10 * magnitude


def report_pdf(report: Report, company: Company, *, font: str | None = None) -> bytes:
    """A monthly (or any period's) report: its figures, charts and tables."""
    d = _Pdf(font, f"{report.title} {report.subject} {report.period}")
    d.story += [d.p(company.name, d.small), d.p(f"{report.title} · {report.subject}", d.h1),
                d.p(_("Period: %(start)s to %(end)s · made %(when)s", start=report.start.isoformat(),
                      end=report.end.isoformat(), when=clock.local().strftime("%Y-%m-%d %H:%M")), d.small),
                Spacer(1, 5 * mm)]
    half = (len(report.figures) + 1) // 2
    left, right = report.figures[:half], report.figures[half:]
    rows = []
    for i in range(half):
        row = [d.p(left[i].label), d.p(left[i].text, d.bold)]
        row += [d.p(right[i].label), d.p(right[i].text, d.bold)] if i < len(right) else ["", ""]
        rows.append(row)
    figures = PdfTable(rows, colWidths=[52 * mm, 37 * mm, 52 * mm, 37 * mm])
    figures.setStyle(TableStyle([("LINEBELOW", (0, 0), (-1, -1), 0.3, colors.HexColor("#ccc")),
                                 ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    d.story += [figures, Spacer(1, 6 * mm)]
    for chart in report.charts:
        d.chart(chart)
    for table in report.tables:
        d.story.append(d.p(table.title, d.h2))
        if table.rows:
            formats = table.formats or ["text"] * len(table.header)
            d.table(table.header, [[cell_text(v, f) for v, f in zip(row, formats)] for row in table.rows])
        else:
            d.story.append(d.p(_("Nothing in the period."), d.small))
    return d.build()


def report_xlsx(report: Report) -> bytes:
    """The report as a workbook: a sheet of figures with its charts, a sheet per table."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    formats = _formats(book)
    sheet = book.add_worksheet(_("Summary")[:31])
    sheet.set_column(0, 0, 44)
    sheet.set_column(1, 2, 22)
    sheet.write(0, 0, f"{report.title} · {report.subject}", formats["title"])
    sheet.write(1, 0, _("Period: %(start)s to %(end)s", start=report.start.isoformat(), end=report.end.isoformat()))
    for r, figure in enumerate(report.figures, 3):
        sheet.write(r, 0, figure.label)
        sheet.write(r, 1, figure.text)
        if figure.value is not None:
            sheet.write_number(r, 2, figure.value, formats.get(figure.unit, formats["number"]))
    row = len(report.figures) + 5
    for i, chart in enumerate(report.charts):
        sheet.insert_chart(row, 0, _native_chart(book, chart, f"{_('Chart')} {i + 1}"), {"x_scale": 1.6})
        row += 17
    for table in report.tables:
        ws = book.add_worksheet(_sheet_name(book, table.title))
        _write_table(ws, table.header, table.rows, table.formats, formats)
    book.close()
    return out.getvalue()


def _native_chart(book, chart: Chart, sheet: str):
    """A spreadsheet's own chart of ``chart``, over its data on a sheet of its own."""
    data = book.add_worksheet(sheet[:31])
    data.write_row(0, 0, [_("Label"), chart.title])
    for r, (label, value) in enumerate(zip(chart.labels, chart.values), 1):
        data.write(r, 0, str(label))
        data.write_number(r, 1, float(value or 0))
    native = book.add_chart({"type": {"line": "line", "days": "column"}.get(chart.kind, "bar")})
    native.add_series({"name": chart.title, "categories": [data.name, 1, 0, len(chart.labels), 0],
                       "values": [data.name, 1, 1, len(chart.labels), 1]})
    native.set_title({"name": chart.title})
    native.set_legend({"none": True})
    return native


def _sheet_name(book, title: str) -> str:
    name = "".join(ch for ch in title if ch not in "[]:*?/\\")[:31]
    taken = {ws.name for ws in book.worksheets()}
    i = 2
    base = name
    while name in taken:
        name = f"{base[:28]} {i}"
        i += 1
    return name


def _formats(book) -> dict:
    return {"title": book.add_format({"bold": True, "font_size": 14}), "bold": book.add_format({"bold": True}),
            "rate": book.add_format({"num_format": "0.0%"}), "number": book.add_format({"num_format": "#,##0.##"}),
            "hours": book.add_format({"num_format": "0.0"}), "day": book.add_format({"num_format": "yyyy-mm-dd"})}


def _write_table(ws, header, rows, kinds, formats) -> None:
    ws.write_row(0, 0, [str(h) for h in header], formats["bold"])
    ws.set_column(0, len(header) - 1, 18)
    for r, row in enumerate(rows, 1):
        for c, value in enumerate(row):
            kind = kinds[c] if c < len(kinds) else "text"
            if value is None:
                continue
            if kind == "rate":
                ws.write_number(r, c, value, formats["rate"])
            elif kind == "hours":
                ws.write_number(r, c, value, formats["hours"])
            elif kind in ("count", "money", "number") and isinstance(value, (int, float)):
                ws.write_number(r, c, value, formats["number"])
            elif kind == "time":
                ws.write_datetime(r, c, datetime.combine(value, datetime.min.time()), formats["day"])
            else:
                ws.write_string(r, c, str(value))


# -- a builder's result ----------------------------------------------------------------

def chart_of(result) -> Chart | None:
    """The chart of a builder's result: its first measure along its first dimension (summed
    over the others when it is a count or an amount); None when there is nothing to draw."""
    if result.spec.chart == "table" or not result.spec.dimensions or not result.rows:
        return None
    dims = len(result.spec.dimensions)
    first = next(i for i, c in enumerate(result.columns) if c.measure)
    measure = result.columns[first]
    if dims > 1 and measure.kind not in ("count", "money"):
        return None
    dim = result.columns[0]
    totals: dict = {}
    for row in result.rows:
        label = row[0].strftime("%d/%m/%y") if dim.kind == "time" and row[0] else str(result.label(dim, row[0]))
        totals[label] = totals.get(label, 0) + (row[first] or 0)
    if len(totals) > 400:
        return None
    if measure.kind == "rate":
        values = [v * 100 for v in totals.values()]
        title = f"{measure.label} (%) · {dim.label}"
    else:
        values = list(totals.values())
        title = f"{measure.label} · {dim.label}"
    kind = ("line" if result.spec.chart == "line" else "days") if dim.kind == "time" else "bar"
    if kind == "bar" and len(values) > 40:
        return None
    return Chart(title, kind, list(totals), values)


def result_pdf(result, title: str, company: Company, *, font: str | None = None) -> bytes:
    """A builder's report: what it was asked, its chart, its table."""
    d = _Pdf(font, title)
    spec = result.spec
    d.story += [d.p(company.name, d.small), d.p(title, d.h1),
                d.p(_("Period: %(start)s to %(end)s · made %(when)s", start=spec.start.isoformat(),
                      end=spec.end.isoformat(), when=clock.local().strftime("%Y-%m-%d %H:%M")), d.small)]
    if spec.filters:
        d.story.append(d.p(_("Filters: %(filters)s", filters="; ".join(
            f"{k}: {', '.join(map(str, v))}" for k, v in spec.filters.items())), d.small))
    d.story.append(Spacer(1, 5 * mm))
    chart = chart_of(result)
    if chart is not None:
        d.chart(chart)
    header, rows, kinds = result_rows(result)
    if rows:
        d.table(header, [[cell_text(v, k) for v, k in zip(row, kinds)] for row in rows])
    else:
        d.story.append(d.p(_("Nothing in the period."), d.small))
    if result.truncated:
        d.story.append(d.p(_("Only the first %(n)s rows are shown.", n=f"{len(rows):,}"), d.small))
    return d.build()


def result_xlsx(result, title: str) -> bytes:
    """A builder's report as a workbook: its table, and its chart beside it."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    formats = _formats(book)
    ws = book.add_worksheet(_sheet_name(book, title))
    header, rows, kinds = result_rows(result)
    _write_table(ws, header, rows, kinds, formats)
    chart = chart_of(result)
    if chart is not None:
        ws.insert_chart(1, len(header) + 1, _native_chart(book, chart, _("Chart")), {"x_scale": 1.4})
    book.close()
    return out.getvalue()


def result_rows(result) -> tuple[list[str], list[list], list[str]]:
    """A builder's result as a header, rows with names in place of ids, and each column's kind."""
    header = [str(c.label) for c in result.columns]
    kinds = [c.kind for c in result.columns]
    rows = [[result.label(c, v) if c.kind in ("id", "code") else v for c, v in zip(result.columns, row)]
            for row in result.rows]
    return header, rows, kinds
