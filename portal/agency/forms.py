"""The agency's forms: one per action on a case, each knowing its lifecycle arguments."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import IntegerField, MultipleFileField, RadioField, SelectField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, NumberRange, ValidationError

from moderation.forms import ActionForm, NoFieldsForm
from portal.citizen.forms import TEXT, at_most, plain_text, to_int_or_none
from portal.db import get_session
from portal.models import Agency
from portal.vocab import OUTCOME_LABELS


class AssignOfficerForm(ActionForm):
    officer_id = SelectField(_l("Officer responsible"), coerce=to_int_or_none,
                             validate_choice=False,
                             validators=[InputRequired(_l("Choose an officer."))])

    def validate_officer_id(self, field):
        if field.data is None:
            raise ValidationError(_l("Choose an officer."))

    def arguments(self) -> dict:
        return {"officer_id": self.officer_id.data}


class ExtensionForm(ActionForm):
    working_days = IntegerField(_l("Working days more"), validators=[
        InputRequired(_l("Give the number of working days.")),
        NumberRange(min=1, max=30, message=_l("Between %(min)s and %(max)s working days."))])
    reason = TextAreaField(_l("Why the agency needs more time (shown publicly)"), **TEXT,
                           validators=[DataRequired(_l("Give the reason.")), plain_text,
                                       at_most(2000)])

    def arguments(self) -> dict:
        return {"working_days": self.working_days.data, "reason": self.reason.data}


class TransferForm(ActionForm):
    to_agency_id = SelectField(_l("Agency that is competent"), coerce=to_int_or_none,
                               validate_choice=False,
                               validators=[InputRequired(_l("Choose an agency."))])
    reason = TextAreaField(_l("Why that agency is competent (legal basis)"), **TEXT,
                           validators=[DataRequired(_l("Give the reason.")), plain_text,
                                       at_most(5000)])

    def validate_to_agency_id(self, field):
        agency = get_session().get(Agency, field.data) if field.data else None
        if agency is None or not agency.active:
            raise ValidationError(_l("Choose an agency from the list."))

    def arguments(self) -> dict:
        return {"to_agency_id": self.to_agency_id.data, "reason": self.reason.data}


class AnswerForm(ActionForm):
    findings = TextAreaField(_l("What the agency found"), **TEXT, validators=[
        DataRequired(_l("Write what the agency found.")), plain_text, at_most(20000)])
    actions_taken = TextAreaField(_l("What the agency did"), **TEXT,
                                  validators=[plain_text, at_most(20000)])
    outcome = RadioField(_l("Outcome"), choices=list(OUTCOME_LABELS.items()),
                         validate_choice=False,
                         validators=[InputRequired(_l("Choose the outcome."))])
    reply_to_recommendation = TextAreaField(_l("Reply to the Front's recommendation"), **TEXT,
                                            validators=[plain_text, at_most(5000)])
    evidence = MultipleFileField(_l("Documents: photos (JPEG, PNG, WebP) or PDF"))

    def validate_outcome(self, field):
        if field.data not in OUTCOME_LABELS:
            raise ValidationError(_l("Choose the outcome."))

    def arguments(self) -> dict:
        return {"findings": self.findings.data, "outcome": self.outcome.data,
                "actions_taken": self.actions_taken.data or "",
                "reply_to_recommendation": self.reply_to_recommendation.data or ""}


# Which form each action of the agency's case page uses.
ACTION_FORMS: dict[str, type[ActionForm]] = {
    "acknowledge": NoFieldsForm,
    "assign_officer": AssignOfficerForm,
    "request_extension": ExtensionForm,
    "request_transfer": TransferForm,
    "answer": AnswerForm,
}
