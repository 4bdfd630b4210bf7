"""Open data: the scoreboard and anonymised cases as CSV and JSON downloads."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from flask import Blueprint, Response, abort, render_template, request, stream_with_context
from flask_babel import gettext as _

from portal import stats
from portal.csvexport import csv_response
from portal.db import get_session
from portal.jobs import PERIODIC_JOBS
from portal.opendata.datasets import DATASETS, Dataset, Field
from portal.vocab import SECTOR_LABELS

blueprint = Blueprint("opendata", __name__)

# How often the stats-refresh job recomputes the scoreboard's aggregates.
REFRESH_MINUTES = next((int(job.interval.total_seconds()) // 60 for job in PERIODIC_JOBS
                        if job.name == "stats-refresh"), 10)
LICENCE = "CC BY 4.0"
LICENCE_URL = "https://creativecommons.org/licenses/by/4.0/"
FORMATS = ("csv", "json")


def _index(problem: Any = None, status: int = 200, errors: dict[str, Any] | None = None):
    """The page; `problem` for the notice at the top, `errors` by field ("from", "to",
    "sector") for the message next to it."""
    return render_template("opendata/index.html", datasets=DATASETS, formats=FORMATS,
                           licence=LICENCE, licence_url=LICENCE_URL, problem=problem,
                           errors=errors or {}, sectors=SECTOR_LABELS,
                           default_months=stats.DEFAULT_MONTHS, max_months=stats.MAX_MONTHS,
                           refresh_minutes=REFRESH_MINUTES, args=request.args), status


@blueprint.get("/open-data")
def index():
    return _index()


def _csv_value(value: Any) -> Any:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return value


def _json_lines(records: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    """A JSON array, one object a line, sent in pieces as it is made."""
    parts: list[str] = ["["]
    size = 1
    separator = "\n"
    for record in records:
        item = separator + json.dumps(record, ensure_ascii=False)
        separator = ",\n"
        parts.append(item)
        size += len(item)
        if size > 64 * 1024:
            yield "".join(parts).encode()
            parts, size = [], 0
    parts.append("\n]\n")
    yield "".join(parts).encode()


def _names(fields: tuple[Field, ...]) -> list[str]:
    return [f.name for f in fields]


@blueprint.get("/open-data/<file>")
def download(file: str):
    name, _dot, extension = file.rpartition(".")
    dataset: Dataset | None = DATASETS.get(name)
    if dataset is None or extension not in FORMATS:
        abort(404)
    sector = request.args.get("sector") or None
    if sector is not None and sector not in SECTOR_LABELS:
        problem = _("There is no such sector.")
        return _index(problem=problem, status=400, errors={"sector": problem})
    try:
        period = stats.parse_period(request.args.get("from"), request.args.get("to"))
    except stats.PeriodError as error:
        return _index(problem=error.message, status=400, errors={error.field: error.message})
    records = dataset.records(get_session(), period, sector)
    names = _names(dataset.fields)
    filename = f"{name}-{period.label()}{'-' + sector if sector else ''}.{extension}"
    if extension == "csv":
        return csv_response(names, ([_csv_value(r[n]) for n in names] for r in records),
                            filename)
    return Response(stream_with_context(_json_lines({n: r[n] for n in names} for r in records)),
                    mimetype="application/json",
                    headers={"Content-Disposition": f"attachment; filename={filename}"})
