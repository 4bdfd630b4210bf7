"""CSV downloads: streamed row by row, and safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from flask import Response, stream_with_context

# A cell starting with one of these is a formula to a spreadsheet: text from residents must
# never run as one.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _lines(columns: Iterable[str], rows: Iterable[Iterable]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    yield "\ufeff".encode()  # so spreadsheet programs read the Vietnamese as UTF-8
    writer.writerow(columns)
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def csv_response(columns: Iterable[str], rows: Iterable[Iterable], filename: str) -> Response:
    return Response(stream_with_context(_lines(columns, rows)), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={filename}"})
