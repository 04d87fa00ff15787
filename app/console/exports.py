"""Any console list as a file, with the list's filters applied: CSV streamed as it is read
(a page of rows at a time, keyset-paged, so the first bytes leave at once and memory stays
flat however long the list), or XLSX built in constant memory (xlsxwriter writes each row
to disk as it goes) and sent when complete. Times are the network's local time."""
from __future__ import annotations

import csv
import io
import os
import tempfile
from datetime import date, datetime
from decimal import Decimal
from typing import Callable, Iterable, Iterator, Sequence

import xlsxwriter
from flask import Response, abort, send_file, stream_with_context

from app import clock

FORMATS = ("csv", "xlsx")
#: Rows read from the database at a time.
PAGE = 2_000
#: What one XLSX sheet holds (Excel's limit, less the header).
XLSX_MAX_ROWS = 1_048_575


def paged(fetch: Callable[[object], tuple[list, object]]) -> Iterator:
    """Every row of a list read a page at a time: ``fetch(after)`` returns a page and the
    key to read the next one after (None when it was the last)."""
    after = None
    while True:
        rows, after = fetch(after)
        yield from rows
        if after is None:
            return


def _cell(value):
    if isinstance(value, datetime):
        return clock.local(value).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, (dict, list)):
        return "; ".join(f"{k}: {v}" for k, v in value.items()) if isinstance(value, dict) else ", ".join(map(str, value))
    return value


def _text(value) -> str:
    value = _cell(value)
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def send(name: str, fmt: str, header: Sequence[str], rows: Iterable[Sequence]) -> Response:
    """``rows`` as ``name``.``fmt``: a download."""
    if fmt not in FORMATS:
        abort(404)
    stamp = clock.today().isoformat()
    filename = f"{name}-{stamp}.{fmt}"
    if fmt == "csv":
        return _csv(filename, header, rows)
    return _xlsx(name, filename, header, rows)


def _csv(filename: str, header: Sequence[str], rows: Iterable[Sequence]) -> Response:
    def generate():
        out = io.StringIO()
        writer = csv.writer(out)
        out.write("\ufeff")  # so that a spreadsheet reads the Vietnamese letters as UTF-8
        writer.writerow(header)
        for i, row in enumerate(rows, 1):
            writer.writerow([_text(v) for v in row])
            if i % 500 == 0:
                yield out.getvalue()
                out.seek(0)
                out.truncate()
        yield out.getvalue()

    return Response(stream_with_context(generate()), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})


def _xlsx(name: str, filename: str, header: Sequence[str], rows: Iterable[Sequence]) -> Response:
    handle, path = tempfile.mkstemp(suffix=".xlsx")
    os.close(handle)
    try:
        book = xlsxwriter.Workbook(path, {"constant_memory": True, "strings_to_urls": False,
                                          "strings_to_formulas": False})
        sheet = book.add_worksheet(name[:31])
        bold = book.add_format({"bold": True})
        when = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
        day = book.add_format({"num_format": "yyyy-mm-dd"})
        sheet.write_row(0, 0, header, bold)
        for r, row in enumerate(rows, 1):
            if r > XLSX_MAX_ROWS:
                book.close()
                abort(400, description="more rows than a spreadsheet holds: narrow the filters, or download CSV")
            for c, value in enumerate(row):
                value = _cell(value)
                if isinstance(value, datetime):
                    sheet.write_datetime(r, c, value, when)
                elif isinstance(value, date):
                    sheet.write_datetime(r, c, datetime.combine(value, datetime.min.time()), day)
                elif isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
                    sheet.write_number(r, c, value)
                elif value is not None:
                    sheet.write_string(r, c, str(value))
        book.close()
        stream = open(path, "rb")  # noqa: SIM115 (closed by the response)
    finally:
        os.unlink(path)  # the open handle keeps the file until the response is sent
    response = send_file(stream, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                         as_attachment=True, download_name=filename)
    response.headers["Cache-Control"] = "no-store"
    return response
