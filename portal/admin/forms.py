"""The administration forms. Shape and choices are checked here; rules that need the
database are in `portal.admin.services`, whose refusals the views put next to the field."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
    ValidationError,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

from portal import abuse
from portal.accounts import EMAIL_PATTERN, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from portal.admin.services import CANNED_PURPOSE_LABELS
from portal.citizen.forms import LocalDateField, at_most, clean_text, plain_text, to_int_or_none
from portal.deadlines import today
from portal.vocab import (
    AGENCY_KIND_LABELS,
    CONDUCT_LABELS,
    DEADLINE_STAGE_LABELS,
    ROLE_LABELS,
    SECTOR_LABELS,
)

TEXT = {"filters": [clean_text]}
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]{1,31}$"
SEARCH_LENGTH = 100


class LocalIntegerField(IntegerField):
    """A whole number whose complaint is in the portal's languages; empty stays empty."""

    def process_formdata(self, valuelist):
        if not valuelist or not valuelist[0].strip():
            self.data = None
            return
        try:
            self.data = int(valuelist[0].strip())
        except ValueError:
            self.data = None
            raise ValueError(_l("Enter a whole number.")) from None


def _in(labels, message):
    def check(_form, field):
        if field.data not in labels:
            raise ValidationError(message)
    return check


def _hanoi_commune(_form, field):
    from portal.seed import hanoi_commune_codes

    raw = field.raw_data[0] if field.raw_data else ""
    if raw and field.data not in hanoi_commune_codes():
        raise ValidationError(_l("Choose a commune or ward from the list."))


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


# -- agencies ---------------------------------------------------------------------------------


class AgencyFilterForm(FlaskForm):
    class Meta:
        csrf = False

    kind = SelectField(_l("Kind"), choices=[("", _l("Every kind")), *AGENCY_KIND_LABELS.items()],
                       validate_choice=False, validators=[Optional()])
    q = StringField(_l("Name or code contains"), **TEXT, validators=[at_most(SEARCH_LENGTH)])


class AgencyNamesForm(FlaskForm):
    name = StringField(_l("Name (Vietnamese)"), **TEXT, validators=[
        DataRequired(_l("Enter the agency's name.")), plain_text, at_most(200)])
    name_en = StringField(_l("Name in English"), **TEXT, validators=[plain_text, at_most(200)])


class AgencyForm(AgencyNamesForm):
    code = StringField(_l("Code"), **TEXT, validators=[
        DataRequired(_l("Enter a code.")),
        Regexp(CODE_PATTERN, message=_l("2 to 32 letters, digits and dashes, e.g. SO-XD."))])
    kind = SelectField(_l("Kind"), choices=list(AGENCY_KIND_LABELS.items()), validate_choice=False,
                       validators=[InputRequired(_l("Choose a kind.")),
                                   _in(AGENCY_KIND_LABELS, _l("Choose a kind from the list."))])
    parent_id = SelectField(_l("Belongs to"), coerce=to_int_or_none, validate_choice=False,
                            validators=[Optional()])
    ward_code = SelectField(_l("Commune or ward"), coerce=to_int_or_none, validate_choice=False,
                            validators=[Optional(), _hanoi_commune])


class MoveForm(FlaskForm):
    parent_id = SelectField(_l("Belongs to"), coerce=to_int_or_none, validate_choice=False,
                            validators=[Optional()])


# -- users ------------------------------------------------------------------------------------


class UserFilterForm(FlaskForm):
    class Meta:
        csrf = False

    role = SelectField(_l("Role"), choices=[("", _l("Every role")), *ROLE_LABELS.items()],
                       validate_choice=False, validators=[Optional()])
    q = StringField(_l("Email or name contains"), **TEXT, validators=[at_most(SEARCH_LENGTH)])


class MembershipForm(FlaskForm):
    role = SelectField(_l("Role"), choices=list(ROLE_LABELS.items()), validate_choice=False,
                       validators=[InputRequired(_l("Choose a role.")),
                                   _in(ROLE_LABELS, _l("Choose a role from the list."))])
    org_code = StringField(_l("Agency or Front committee code"), **TEXT,
                           validators=[Optional(), at_most(32)])


class UserForm(MembershipForm):
    email = StringField(_l("Email"), **TEXT, validators=[
        DataRequired(_l("Enter an email.")), at_most(254),
        Regexp(EMAIL_PATTERN, message=_l("This is not an email address."))])
    name = StringField(_l("Full name"), **TEXT, validators=[
        DataRequired(_l("Enter the person's name.")), plain_text, at_most(200)])
    password = PasswordField(_l("Temporary password"), validators=[
        DataRequired(_l("Choose a temporary password.")),
        Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH,
               message=_l("A password has between %(min)d and %(max)d characters."))])


# -- deadline rules ---------------------------------------------------------------------------


class RuleForm(FlaskForm):
    stage = SelectField(_l("Stage"), choices=list(DEADLINE_STAGE_LABELS.items()),
                        validate_choice=False,
                        validators=[InputRequired(_l("Choose a stage.")),
                                    _in(DEADLINE_STAGE_LABELS, _l("Choose a stage from the list."))])
    conduct = SelectField(_l("Conduct reported"),
                          choices=[("", _l("Any conduct")), *CONDUCT_LABELS.items()],
                          validate_choice=False, validators=[Optional()])
    sector = SelectField(_l("Area of work"), choices=[("", _l("Any area of work")), *SECTOR_LABELS.items()],
                         validate_choice=False, validators=[Optional()])
    working_days = LocalIntegerField(_l("Working days"), validators=[
        InputRequired(_l("Enter the number of working days.")),
        NumberRange(min=1, max=90, message=_l("Between %(min)s and %(max)s working days."))])

    def validate_conduct(self, field):
        if field.data and field.data not in CONDUCT_LABELS:
            raise ValidationError(_l("Choose a conduct from the list."))

    def validate_sector(self, field):
        if field.data and field.data not in SECTOR_LABELS:
            raise ValidationError(_l("Choose an area of work from the list."))


# -- holidays ---------------------------------------------------------------------------------


class HolidayForm(FlaskForm):
    day = LocalDateField(_l("Date"), validators=[InputRequired(_l("Enter the date."))])
    name = StringField(_l("Name of the day off"), **TEXT, validators=[
        DataRequired(_l("Enter what the day off is for.")), plain_text, at_most(200)])

    def validate_day(self, field):
        last = today().year + 5
        if field.data and not 2000 <= field.data.year <= last:
            raise ValidationError(_l("Choose a date between 2000 and %(year)d.", year=last))


# -- canned replies ---------------------------------------------------------------------------


class CannedReplyForm(FlaskForm):
    purpose = SelectField(_l("Used for"), choices=list(CANNED_PURPOSE_LABELS.items()),
                          validate_choice=False,
                          validators=[InputRequired(_l("Choose what the text is for.")),
                                      _in(CANNED_PURPOSE_LABELS,
                                          _l("Choose what the text is for from the list."))])
    title = StringField(_l("Title"), **TEXT, validators=[
        DataRequired(_l("Enter a short title.")), plain_text, at_most(200)])
    body = TextAreaField(_l("Text"), **TEXT, validators=[
        DataRequired(_l("Write the text.")), plain_text, at_most(5000)])


# -- banned contacts --------------------------------------------------------------------------


class BanForm(FlaskForm):
    contact = StringField(_l("Email address or phone number"), **TEXT, validators=[
        DataRequired(_l("Enter the email address or phone number to ban.")), at_most(254)])
    reason = StringField(_l("Reason"), **TEXT, validators=[
        DataRequired(_l("Say why, for the other administrators.")), plain_text, at_most(200)])

    def validate_contact(self, field):
        if abuse.kind_of(field.data or "") is None:
            raise ValidationError(_l("Enter an email address or a phone number."))
