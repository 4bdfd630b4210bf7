"""The filters of the published answers, read from the query string."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import Session
from wtforms import SelectField, StringField

from portal.citizen.forms import TEXT, at_most
from portal.i18n import agency_name
from portal.models import Agency
from portal.vocab import AGENCY_KIND_LABELS, SECTOR_LABELS


class AnswerFilterForm(FlaskForm):
    """Searching changes nothing, so it needs no CSRF token."""

    class Meta:
        csrf = False

    q = StringField(_l("Search the published answers"), **TEXT, validators=[at_most(200)])
    agency = SelectField(_l("Agency"), validate_choice=False)
    sector = SelectField(_l("Sector"), validate_choice=False)

    def fill_choices(self, session: Session) -> None:
        everything = ("", _l("All"))
        groups: dict[str, list[tuple[str, str]]] = {}
        for agency in session.scalars(select(Agency).order_by(Agency.kind, Agency.name)):
            label = str(AGENCY_KIND_LABELS.get(agency.kind, agency.kind))
            groups.setdefault(label, []).append((agency.code, agency_name(agency)))
        order = [str(label) for label in AGENCY_KIND_LABELS.values()]
        grouped = dict(sorted(groups.items(), key=lambda item: order.index(item[0])
                              if item[0] in order else len(order)))
        self.agency.choices = grouped  # the template adds "All" before the groups
        self.sector.choices = [everything, *SECTOR_LABELS.items()]
