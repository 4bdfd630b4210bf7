"""The citizen's forms. Each check that needs the database lives in a `validate_<field>`."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    MultipleFileField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
    ValidationError,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    Optional,
    Regexp,
    StopValidation,
)

from portal import abuse
from portal.accounts import EMAIL_PATTERN
from portal.db import get_session
from portal.deadlines import today
from portal.models import Agency
from portal.receipts import looks_like_tracking_code, tracking_code_in
from portal.vocab import CONDUCT_LABELS, REPORTER_KIND_LABELS, SECTOR_LABELS, ReporterKind

# C0 control characters other than tab and newline: PostgreSQL refuses NUL, and none belong in a report.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(value):
    if isinstance(value, str):
        return _CONTROL.sub("", value).replace("\r\n", "\n").strip()
    return value


MAX_ID = 2**31 - 1  # the largest id a column can hold, on SQLite and PostgreSQL alike


def to_int_or_none(value):
    """A submitted id as a number; anything else becomes None (and fails validation)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number <= MAX_ID else None


_MARKUP = re.compile(r"<\s*/?\s*[a-zA-Z!?][^>]*>")


def plain_text(_form, field):
    """Reports are plain text: markup is refused rather than silently stored."""
    match = _MARKUP.search(field.data or "")
    if match:
        raise ValidationError(_l("Write plain text: remove the code “%(tag)s”.",
                                 tag=match.group(0)[:40]))


def no_tracking_code(_form, field):
    """A tracking code in a report's text would let whoever reads it follow and answer the case.

    Any code-shaped string is refused, not only the codes of existing cases: the form must not
    tell anyone whether a code exists (see `portal.receipts.tracking_code_in`).
    """
    found = tracking_code_in(field.data)
    if found:
        raise ValidationError(_l(
            "Remove “%(code)s”: it looks like a tracking code. Never share your tracking code, "
            "not even here: whoever reads it could follow your report and answer in your name.",
            code=found))


TEXT = {"filters": [clean_text]}


class LocalDateField(DateField):
    """A date field whose complaint about a malformed date is in the portal's languages."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            self.data = None
            raise ValueError(_l("Enter the date as day, month and year.")) from None


def at_most(length: int) -> Length:
    return Length(max=length, message=_l("At most %(max)d characters."))


class ReportForm(FlaskForm):
    agency_id = SelectField(_l("Agency you are reporting"), coerce=to_int_or_none,
                            validate_choice=False,
                            validators=[InputRequired(_l("Choose the agency you are reporting."))])
    conduct = RadioField(_l("What went wrong"), choices=list(CONDUCT_LABELS.items()),
                         validate_choice=False,
                         validators=[InputRequired(_l("Choose what went wrong."))])
    sector = SelectField(_l("Area of work"), choices=list(SECTOR_LABELS.items()),
                         validate_choice=False,
                         validators=[InputRequired(_l("Choose the area of work."))])
    description = TextAreaField(
        _l("What happened"), **TEXT,
        validators=[DataRequired(_l("Tell us what happened.")), plain_text, no_tracking_code,
                    Length(min=20, max=5000,
                           message=_l("Write between %(min)d and %(max)d characters."))])
    occurred_on = LocalDateField(_l("When it happened"), validators=[Optional()])
    ward_code = SelectField(_l("Commune or ward"), coerce=to_int_or_none, validate_choice=False,
                            validators=[Optional()])
    address = StringField(_l("Address or place"), **TEXT,
                          validators=[plain_text, no_tracking_code, at_most(300)])
    reporter_kind = RadioField(_l("You are reporting as"), choices=list(REPORTER_KIND_LABELS.items()),
                               default=ReporterKind.RESIDENT, validate_choice=False,
                               validators=[InputRequired(_l("Choose who you are."))])
    business_name = StringField(_l("Business or organisation name"), **TEXT,
                                validators=[plain_text, no_tracking_code, at_most(200)])
    tax_code = StringField(_l("Tax code"), **TEXT, validators=[
        Optional(), Regexp(r"^[0-9]{10}(-[0-9]{3})?$",
                           message=_l("A tax code has 10 digits, or 10 digits, a dash and 3 more."))])
    reporter_name = StringField(_l("Your name"), **TEXT,
                                validators=[plain_text, no_tracking_code, at_most(200)])
    reporter_email = StringField(_l("Email"), **TEXT, validators=[
        Optional(), at_most(254),
        Regexp(EMAIL_PATTERN, message=_l("This is not an email address."))])
    reporter_phone = StringField(_l("Phone"), **TEXT, validators=[
        Optional(), Regexp(r"^\+?[0-9 .()-]{8,20}$", message=_l("This is not a phone number."))])
    confidential = BooleanField(_l("Keep my identity from the agency"))
    publish_consent = BooleanField(_l("The answer may be published (without my name)"))
    evidence = MultipleFileField(_l("Evidence: photos (JPEG, PNG, WebP) or PDF"))
    submission_token = HiddenField()
    # The honeypot: hidden from people (and skipped by the keyboard), filled in by bots that
    # fill in every field. The view refuses a report that has it (see `citizen.report_submit`).
    homepage = StringField(_l("Leave this field empty"))

    # Set when a contact given is on the ban list: the view counts the attempt as abuse.
    banned_contact: bool = False
    # Cleared by the view when this request is not counted toward the rate limit: the ban
    # list must then not be asked, or it could be probed for free.
    check_bans: bool = True

    def validate_agency_id(self, field):
        agency = get_session().get(Agency, field.data) if field.data else None
        if agency is None or not agency.active:
            raise ValidationError(_l("Choose an agency from the list."))

    def validate_conduct(self, field):
        if field.data not in CONDUCT_LABELS:
            raise ValidationError(_l("Choose what went wrong from the list."))

    def validate_sector(self, field):
        if field.data not in SECTOR_LABELS:
            raise ValidationError(_l("Choose the area of work from the list."))

    def validate_reporter_kind(self, field):
        if field.data not in REPORTER_KIND_LABELS:
            raise ValidationError(_l("Choose who you are from the list."))

    def validate_occurred_on(self, field):
        if field.data and field.data > today():
            raise ValidationError(_l("This date is in the future."))
        if field.data and field.data.year < 2000:
            raise ValidationError(_l("This date is too far in the past."))

    def validate_ward_code(self, field):
        from portal.seed import hanoi_commune_codes

        raw = field.raw_data[0] if field.raw_data else ""
        if raw and field.data not in hanoi_commune_codes():
            raise ValidationError(_l("Choose a commune or ward from the list."))

    def _check_ban(self, field, kind: str, message):
        if field.errors or not field.data or not self.check_bans:
            return
        if abuse.banned(get_session(), kind, field.data) is not None:
            self.banned_contact = True
            raise ValidationError(message)

    def validate_reporter_email(self, field):
        self._check_ban(field, abuse.EMAIL_KIND, _l("This email address cannot be used for a report."))

    def validate_reporter_phone(self, field):
        self._check_ban(field, abuse.PHONE_KIND, _l("This phone number cannot be used for a report."))

    def validate_confidential(self, field):
        if field.data and not (self.reporter_email.data or self.reporter_phone.data
                               or self.reporter_name.data):
            # Nothing to keep from the agency: say so rather than promise something empty.
            raise ValidationError(_l("You asked to keep your identity from the agency but gave "
                                     "none. Leave the box unticked to report anonymously."))


def _tracking_code_shape(_form, field):
    if not looks_like_tracking_code(field.data or ""):
        raise ValidationError(_l("A tracking code has 16 letters and digits, like "
                                 "ABCD-EFGH-JKMN-PQRS."))


class TrackForm(FlaskForm):
    code = StringField(_l("Tracking code"), **TEXT, validators=[
        DataRequired(_l("Enter your tracking code.")), at_most(40), _tracking_code_shape])


class ReplyForm(FlaskForm):
    reply = TextAreaField(_l("Your answer"), **TEXT, validators=[
        DataRequired(_l("Write your answer.")), plain_text, no_tracking_code,
        at_most(5000)])
    version = HiddenField()


# The satisfaction scale of SIPAS, the national index of satisfaction with public service.
SCORE_LABELS = {
    1: _l("very dissatisfied"),
    2: _l("dissatisfied"),
    3: _l("neither satisfied nor dissatisfied"),
    4: _l("satisfied"),
    5: _l("very satisfied"),
}
# The five factors of SIPAS and the overall score, in the order of `lifecycle.RATING_FACTORS`.
RATING_FACTOR_LABELS = {
    "access": _l("Access to the service: reaching the agency and learning what to do"),
    "procedure": _l("The procedure"),
    "attitude": _l("The official who handled your case: attitude and competence"),
    "result": _l("The result"),
    "handling": _l("How your report was received and handled"),
    "overall": _l("Overall, how satisfied are you?"),
}


def _score(value):
    """A submitted score as a number from 1 to 5; anything else becomes None (and fails)."""
    number = to_int_or_none(value)
    return number if number in SCORE_LABELS else None


def _score_given(_form, field):
    if field.data is None:
        raise StopValidation(_l("Choose a score from 1 to 5."))


def _scale(factor: str) -> RadioField:
    return RadioField(RATING_FACTOR_LABELS[factor], choices=list(SCORE_LABELS.items()),
                      coerce=_score, validate_choice=False, validators=[_score_given])


class RatingForm(FlaskForm):
    access = _scale("access")
    procedure = _scale("procedure")
    attitude = _scale("attitude")
    result = _scale("result")
    handling = _scale("handling")
    overall = _scale("overall")
    comment = TextAreaField(_l("Your comment (optional)"), **TEXT,
                            validators=[plain_text, no_tracking_code, at_most(2000)])
    version = HiddenField()

    def scales(self) -> list[RadioField]:
        return [self[factor] for factor in RATING_FACTOR_LABELS]

    def scores(self) -> dict[str, int | None]:
        return {factor: self[factor].data for factor in RATING_FACTOR_LABELS}


class DisputeForm(FlaskForm):
    reason = TextAreaField(_l("Why the problem is not solved"), **TEXT, validators=[
        DataRequired(_l("Say why the problem is not solved.")), plain_text, no_tracking_code,
        at_most(5000)])
    version = HiddenField()


def agency_choices(language: str) -> dict[str, list[tuple[int, str]]]:
    """Every active agency, grouped by kind, for a select that works without JavaScript."""
    from portal.vocab import AGENCY_KIND_LABELS

    # Plain rows and one label per kind: the form is built on every request that shows or
    # checks it, and loading every agency as an object cost the report form most of its time.
    rows = get_session().execute(
        select(Agency.id, Agency.kind, Agency.name, Agency.name_en)
        .where(Agency.active.is_(True)).order_by(Agency.kind, Agency.name))
    by_kind: dict[str, list[tuple[int, str]]] = {}
    for agency_id, kind, name, name_en in rows:
        by_kind.setdefault(kind, []).append(
            (agency_id, name_en if language == "en" and name_en else name))
    order = list(AGENCY_KIND_LABELS)
    return {str(AGENCY_KIND_LABELS.get(kind, kind)): by_kind[kind]
            for kind in sorted(by_kind, key=lambda k: order.index(k) if k in order else len(order))}
