"""Published answers: resolved cases whose reporter agreed, with the Front-reviewed text."""

from __future__ import annotations

from datetime import date

from babel.dates import format_skeleton
from flask import Blueprint, abort, render_template, request
from flask_babel import get_locale
from sqlalchemy import select

from portal.db import get_session
from portal.models import Agency
from portal.published.answers import AnswerFilters, answers_page, published_answer
from portal.published.forms import AnswerFilterForm
from portal.vocab import SECTOR_LABELS

blueprint = Blueprint("published", __name__)


def month_of(day: date) -> str:
    """A month as people write it in the page's language: "tháng 10 năm 2026", "October 2026"."""
    return format_skeleton("yMMMM", day, locale=get_locale())


@blueprint.context_processor
def _helpers() -> dict:
    return {"month_of": month_of}


@blueprint.get("/answers")
def answers():
    db = get_session()
    form = AnswerFilterForm(request.args)
    form.fill_choices(db)
    form.validate()
    code = (form.agency.data or "").strip()
    agency = db.scalar(select(Agency).where(Agency.code == code)) if code else None
    filters = AnswerFilters(
        search="" if form.q.errors else (form.q.data or ""),
        agency=agency,
        sector=form.sector.data if form.sector.data in SECTOR_LABELS else None)
    page = answers_page(db, filters, request.args.get("after"))
    # The filters again, for the link to the next page.
    query = {key: value for key, value in (("q", filters.search),
                                           ("agency", agency.code if agency else ""),
                                           ("sector", filters.sector or "")) if value}
    return render_template("published/list.html", form=form, page=page, query=query,
                           agency=agency, unknown_agency=bool(code) and agency is None,
                           filtered=bool(query), continued=bool(request.args.get("after")))


@blueprint.get("/answers/<reference>")
def answer(reference: str):
    item = published_answer(get_session(), reference)
    if item is None:
        abort(404)
    return render_template("published/answer.html", item=item)
