"""The public scoreboard: every agency's record, and each agency's page with its trends.

Thin: `portal.stats` reads the figures from the aggregates the `stats-refresh` job keeps
current (two queries for the whole scoreboard, four for an agency's page, whatever the number
of agencies or cases); `portal.scoreboard.charts` lays out the charts the templates draw.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask import Blueprint, abort, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from markupsafe import Markup
from sqlalchemy import select
from wtforms import SelectField, StringField
from wtforms.validators import Optional

from portal import stats
from portal.db import get_session
from portal.memo import EngineMemo
from portal.models import Agency
from portal.scoreboard import charts
from portal.vocab import AGENCY_KIND_LABELS, SECTOR_LABELS

blueprint = Blueprint("scoreboard", __name__)


class PeriodForm(FlaskForm):
    """The period (months, as YYYY-MM), sector and kind of agency: a GET form, no token.

    The months are read by `stats.parse_period`, the same as the open data's; its error goes
    next to the field it names.
    """

    class Meta:
        csrf = False

    since = StringField(_l("From (month)"), name="from", validators=[Optional()])
    until = StringField(_l("To (month)"), name="to", validators=[Optional()])
    sector = SelectField(_l("Sector"), choices=[("", _l("Every sector")), *SECTOR_LABELS.items()],
                         validators=[Optional()])
    kind = SelectField(_l("Kind"), choices=[("", _l("Every kind")), *AGENCY_KIND_LABELS.items()],
                       validators=[Optional()])


@dataclass(frozen=True)
class Selection:
    """What the figures are for: a period, and optionally one sector and one kind of agency."""

    period: stats.Period
    sector: str | None
    kind: str | None

    def args(self, **changes: Any) -> dict[str, str]:
        """The query string of this selection, for links that keep it."""
        values = {"from": f"{self.period.since:%Y-%m}", "to": f"{self.period.until:%Y-%m}",
                  "sector": self.sector or "", "kind": self.kind or ""}
        values.update(changes)
        return {k: v for k, v in values.items() if v}


def _selection() -> tuple[PeriodForm, Selection, bool]:
    """The selection asked for, and whether it is valid: if not, the form has the errors and
    the figures are for the default period when the months are at fault."""
    form = PeriodForm(request.args)
    valid = form.validate()
    try:
        period = stats.parse_period(form.since.data, form.until.data)
    except stats.PeriodError as error:
        field = form.since if error.field == "from" else form.until
        field.errors = [*field.errors, error.message]
        valid = False
        period = stats.parse_period(None, None)
    if valid:  # the fields show the period the figures are for
        form.since.data, form.until.data = f"{period.since:%Y-%m}", f"{period.until:%Y-%m}"
    sector = form.sector.data if valid and form.sector.data else None
    kind = form.kind.data if valid and form.kind.data else None
    return form, Selection(period, sector, kind), valid


def percent(value: float | None) -> str:
    """A share as a whole percentage, halves rounded up; empty for none."""
    if value is None:
        return ""
    return str(Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def days(value: int | None) -> str:
    if value is None:
        return ""
    return f"{stats.LAST_BUCKET}+" if value >= stats.LAST_BUCKET else str(value)


def display_name(row: stats.AgencyRow | Agency) -> str:
    if row.name_en and str(get_locale()) == "en":
        return row.name_en
    return row.name


# The scoreboard's columns: query key, label, value of a row, the natural direction.
@dataclass(frozen=True)
class Column:
    key: str
    label: Any
    value: Callable[[stats.AgencyRow], Any]
    descending: bool = True


COLUMNS = (
    Column("rank", _l("Rank"), lambda r: r.rank, descending=False),
    Column("agency", _l("Agency"), lambda r: display_name(r).casefold(), descending=False),
    Column("received", _l("Received"), lambda r: r.received),
    Column("open", _l("Open now"), lambda r: r.open_now),
    Column("overdue", _l("Overdue now"), lambda r: r.overdue_now),
    Column("answered", _l("Answered"), lambda r: r.answered),
    Column("on_time", _l("On time"), lambda r: r.on_time),
    Column("median", _l("Median working days"), lambda r: r.median_days),
    Column("p90", _l("90th percentile, working days"), lambda r: r.p90_days),
    Column("transfers", _l("Transfer requests"), lambda r: r.transfers_requested),
    Column("refused", _l("Transfers refused"), lambda r: r.transfers_refused),
    Column("ping_pong", _l("Ping-pong"), lambda r: r.ping_pong),
    Column("returned", _l("Answers returned"), lambda r: r.answers_returned),
    Column("disputes", _l("Disputes"), lambda r: r.disputes),
    Column("reopened", _l("Reopened"), lambda r: r.reopened),
    Column("ratings", _l("Ratings"), lambda r: r.ratings),
    Column("satisfaction", _l("Satisfaction"), lambda r: r.satisfaction),
)
COLUMNS_BY_KEY = {column.key: column for column in COLUMNS}


def _sorted(rows: list[stats.AgencyRow], column: Column, descending: bool) -> list[stats.AgencyRow]:
    """Rows by one column; rows without a value (no answers, too few ratings) always last."""
    present = [r for r in rows if column.value(r) is not None]
    missing = [r for r in rows if column.value(r) is None]
    # Python's sort is stable: equal values keep the rank order they came in.
    present.sort(key=column.value, reverse=descending)
    return present + missing


@blueprint.get("/agencies")
def index():
    form, selection, valid = _selection()
    period = selection.period
    rows = stats.scoreboard(get_session(), period.since, period.until, selection.sector)
    column = COLUMNS_BY_KEY.get(request.args.get("sort", ""), COLUMNS_BY_KEY["rank"])
    order = request.args.get("order")
    descending = column.descending if order not in ("asc", "desc") else order == "desc"
    groups = []
    for kind in AGENCY_KIND_LABELS:
        if selection.kind and kind != selection.kind:
            continue
        of_kind = [row for row in rows if row.kind == kind]
        if of_kind:
            groups.append((kind, _sorted(of_kind, column, descending)))
    snapshot_at = max((row.snapshot_at for row in rows if row.snapshot_at), default=None)
    tables = RenderedTables.of(get_session()).kept(
        (str(get_locale()), tuple(sorted(selection.args().items())), column.key, descending,
         tuple(rows)),
        lambda: render_template(
            "scoreboard/_tables.html", groups=groups, columns=COLUMNS, selection=selection,
            sort=column.key, descending=descending, percent=percent, days=days,
            display_name=display_name, kind_labels=AGENCY_KIND_LABELS))
    return render_template(
        "scoreboard/index.html", form=form, period=period, selection=selection,
        tables=Markup(tables), sort=column.key, descending=descending,  # noqa: S704
        snapshot_at=snapshot_at, min_ratings=stats.MIN_RATINGS, min_answers=stats.MIN_ANSWERS,
    ), 200 if valid else 400


class RenderedTables(EngineMemo):
    """The scoreboard's tables as HTML, kept per language, selection, sort and figures.

    A hundred and fifty agencies of seventeen columns took most of the page's time to
    render, and the figures change only when the statistics are refreshed (every ten
    minutes): the key holds every figure shown, so new figures make a new entry.
    """

    SIZE = 32


@blueprint.get("/agencies/<code>")
def agency(code: str):
    db = get_session()
    found = db.scalars(select(Agency).where(Agency.code == code)).one_or_none()
    if found is None:
        abort(404)
    form, selection, valid = _selection()
    period, sector = selection.period, selection.sector
    row, peers = stats.agency_row(db, found, period.since, period.until, sector)
    months = stats.monthly(db, found.id, period.since, period.until, sector)
    labels = [f"{m.month:%m/%y}" for m in months]
    volume = charts.bar_chart(labels, [(_("Received"), [m.received for m in months]),
                                       (_("Answered"), [m.answered for m in months])])
    on_time = charts.percent_chart(labels, [m.on_time_percent for m in months])
    satisfaction = charts.percent_chart(labels, [m.satisfaction_percent for m in months],
                                        [m.satisfaction_interval for m in months])
    return render_template(
        "scoreboard/agency.html", agency=found, row=row, peers=len(peers), months=months,
        form=form, period=period, selection=selection, volume=volume, on_time=on_time,
        satisfaction=satisfaction, percent=percent, days=days, display_name=display_name,
        min_ratings=stats.MIN_RATINGS, min_answers=stats.MIN_ANSWERS,
        kind_labels=AGENCY_KIND_LABELS,
    ), 200 if valid else 400
