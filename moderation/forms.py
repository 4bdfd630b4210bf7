"""The Front's forms: queue filters and one form per action on a case.

Each action form knows the keyword arguments of its lifecycle function
(`arguments()`); the view passes them on with the version the page was built from.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
    ValidationError,
)
from wtforms.validators import DataRequired, InputRequired, NumberRange, Optional

from portal.citizen.forms import TEXT, at_most, plain_text, to_int_or_none
from portal.db import get_session
from portal.i18n import translated
from portal.models import Agency, CannedReply
from portal.vocab import CONDUCT_LABELS, REJECT_REASON_LABELS, SECTOR_LABELS, STATUS_LABELS
from portal.widgets import QuickSelect


def _filter(label, **kwargs) -> SelectField:
    """A filter read from the query string: a value not in the list filters nothing."""
    return SelectField(label, widget=QuickSelect(), validate_choice=False, **kwargs)


class QueueFilterForm(FlaskForm):
    """Read from the query string: filtering changes nothing, so it needs no CSRF token."""

    class Meta:
        csrf = False

    status = _filter(_l("Status"), default="open")
    agency = _filter(_l("Agency"), coerce=to_int_or_none)
    conduct = _filter(_l("Conduct"))
    sector = _filter(_l("Sector"))
    commune = _filter(_l("Commune or ward"), coerce=to_int_or_none)
    committee = _filter(_l("Front committee"), coerce=to_int_or_none)
    claimed = _filter(_l("Taken by"))
    confidential = _filter(_l("Identity"))
    overdue = BooleanField(_l("Overdue only"))
    escalated = BooleanField(_l("Escalated only"))
    due_within = IntegerField(_l("Due within (working days)"),
                              validators=[Optional(), NumberRange(min=0, max=90)])
    q = StringField(_l("Search"), **TEXT, validators=[at_most(200)])
    sort = _filter(_l("Sort by"), default="deadline", choices=[
        ("deadline", _l("Deadline")), ("newest", _l("Newest")), ("oldest", _l("Oldest"))])

    def fill_choices(self, agencies, communes, committees, colleagues) -> None:
        everything = ("", _l("All"))
        self.status.choices = [("open", _l("Open")), everything] + list(
            translated(STATUS_LABELS).items())
        self.agency.choices = [everything] + agencies
        self.conduct.choices = [everything] + list(translated(CONDUCT_LABELS).items())
        self.sector.choices = [everything] + list(translated(SECTOR_LABELS).items())
        self.commune.choices = [everything] + communes
        self.committee.choices = [everything] + committees
        self.claimed.choices = [everything, ("me", _l("Me")), ("nobody", _l("Nobody"))] + colleagues
        self.confidential.choices = [everything, ("yes", _l("Kept from the agency")),
                                     ("no", _l("Not confidential"))]


class ActionForm(FlaskForm):
    # The version of the case the page showed: without it, a change could overwrite another.
    version = HiddenField(validators=[InputRequired(_l("This page is out of date. Reload it."))])

    def arguments(self) -> dict:
        return {}

    def expected_version(self) -> int:
        # A version that is no number matches no case: the change is refused as stale.
        version = to_int_or_none(self.version.data)
        return -1 if version is None else version


def _canned_choices(purpose: str) -> list:
    replies = get_session().scalars(
        select(CannedReply).where(CannedReply.purpose == purpose, CannedReply.active.is_(True))
        .order_by(CannedReply.title))
    return [("", _l("— write my own —"))] + [(str(r.id), r.title) for r in replies]


class CannedTextForm(ActionForm):
    """A text that may come from a canned reply when the box is left empty."""

    purpose = ""
    canned = _filter(_l("Canned reply"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.canned.choices = _canned_choices(self.purpose)

    def text_or_canned(self, text: str | None) -> str:
        if text:
            return text
        reply = get_session().get(CannedReply, to_int_or_none(self.canned.data) or 0)
        return reply.body if reply is not None and reply.purpose == self.purpose else ""


class NoFieldsForm(ActionForm):
    """claim, release, acknowledge-like actions: nothing but the version."""


class NoteForm(ActionForm):
    text = TextAreaField(_l("Internal note"), **TEXT, validators=[
        DataRequired(_l("Write the note.")), at_most(5000)])

    def arguments(self) -> dict:
        return {"text": self.text.data}


class AskInfoForm(CannedTextForm):
    purpose = "ask_info"
    question = TextAreaField(_l("Question for the reporter"), **TEXT,
                             validators=[plain_text, at_most(5000)])

    def arguments(self) -> dict:
        return {"question": self.text_or_canned(self.question.data)}


class RejectForm(CannedTextForm):
    purpose = "reject"
    reason = SelectField(_l("Reason"), choices=list(REJECT_REASON_LABELS.items()),
                         validate_choice=False)
    note = TextAreaField(_l("Explanation for the reporter"), **TEXT,
                         validators=[plain_text, at_most(5000)])

    def validate_reason(self, field):
        if field.data not in REJECT_REASON_LABELS:
            raise ValidationError(_l("Choose a reason from the list."))

    def arguments(self) -> dict:
        return {"reason": self.reason.data, "note": self.text_or_canned(self.note.data)}


class MergeForm(ActionForm):
    into = StringField(_l("Main case (number, e.g. PA26-0000123)"), **TEXT, validators=[
        DataRequired(_l("Give the number of the main case.")), at_most(40)])

    def validate_into(self, field):
        number = field.data.rsplit("-", 1)[-1].strip()
        if not number.isdigit() or to_int_or_none(number) is None:
            raise ValidationError(_l("A case number looks like PA26-0000123."))

    def arguments(self) -> dict:
        return {"into_case_id": to_int_or_none(self.into.data.rsplit("-", 1)[-1].strip())}


class ForwardForm(CannedTextForm):
    purpose = "forward"
    agency_id = _filter(_l("Agency responsible"), coerce=to_int_or_none)
    recommendation = TextAreaField(_l("The Front's recommendation"), **TEXT,
                                   validators=[plain_text, at_most(5000)])
    due_on = DateField(_l("Acknowledgement deadline (supervisors only; empty: the rule)"),
                       validators=[Optional()])

    def validate_agency_id(self, field):
        agency = get_session().get(Agency, field.data) if field.data else None
        if agency is None or not agency.active:
            raise ValidationError(_l("Choose an agency from the list."))

    def arguments(self) -> dict:
        arguments = {"agency_id": self.agency_id.data,
                     "recommendation": self.text_or_canned(self.recommendation.data)}
        if self.due_on.data:
            arguments["due_on"] = self.due_on.data
        return arguments


class ReasonForm(ActionForm):
    """refer_up, return_answer: a reason is required."""

    reason = TextAreaField(_l("Reason"), **TEXT, validators=[
        DataRequired(_l("Give the reason.")), at_most(5000)])

    def arguments(self) -> dict:
        return {"reason": self.reason.data}


class AssessmentForm(CannedTextForm):
    """accept_answer, uphold_answer: the Front's assessment, shown to the reporter."""

    purpose = "review"
    assessment = TextAreaField(_l("The Front's assessment"), **TEXT,
                               validators=[plain_text, at_most(5000)])

    def arguments(self) -> dict:
        return {"assessment": self.text_or_canned(self.assessment.data)}


class TransferDecisionForm(ActionForm):
    note = TextAreaField(_l("Decision note"), **TEXT, validators=[at_most(5000)])

    def arguments(self) -> dict:
        return {"note": self.note.data or ""}


class RedactForm(ActionForm):
    redacted_text = TextAreaField(_l("Text the agency and the public read"), **TEXT, validators=[
        DataRequired(_l("Write the text the agency and the public see.")), at_most(10000)])

    def arguments(self) -> dict:
        return {"redacted_text": self.redacted_text.data}


# Which form each action of the Front's case page uses.
ACTION_FORMS: dict[str, type[ActionForm]] = {
    "claim": NoFieldsForm,
    "release": NoFieldsForm,
    "note": NoteForm,
    "ask_info": AskInfoForm,
    "reject": RejectForm,
    "merge": MergeForm,
    "forward": ForwardForm,
    "refer_up": ReasonForm,
    "redact": RedactForm,
    "accept_answer": AssessmentForm,
    "return_answer": ReasonForm,
    "uphold_answer": AssessmentForm,
    "approve_transfer": TransferDecisionForm,
    "refuse_transfer": TransferDecisionForm,
    "unpublish": ReasonForm,
}

