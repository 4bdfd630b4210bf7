"""Sign-in, second-factor and password forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField, SubmitField, ValidationError
from wtforms.validators import DataRequired, EqualTo, Length

from portal.accounts import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from portal.citizen.forms import clean_text


class SignInForm(FlaskForm):
    email = EmailField(_l("Email"), filters=[clean_text], validators=[
        DataRequired(_l("Enter your email.")), Length(max=254)])
    # Longer than any password could be: refused before it is hashed.
    password = PasswordField(_l("Password"), validators=[
        DataRequired(_l("Enter your password.")),
        Length(max=MAX_PASSWORD_LENGTH, message=_l("Email or password is wrong."))])


class PasswordForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[
        DataRequired(_l("Enter your current password.")), Length(max=MAX_PASSWORD_LENGTH)])
    new = PasswordField(_l("New password"), validators=[
        DataRequired(_l("Choose a new password.")),
        Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH,
               message=_l("A password has between %(min)d and %(max)d characters."))])
    confirm = PasswordField(_l("New password again"), validators=[
        EqualTo("new", message=_l("The two new passwords differ."))])

    def validate_new(self, field):
        if field.data == self.current.data:
            raise ValidationError(_l("Choose a password other than the current one."))


class ActivationForm(FlaskForm):
    """The password an invited person chooses, from the link in the invitation."""

    new = PasswordField(_l("Your password"), validators=[
        DataRequired(_l("Choose a password.")),
        Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH,
               message=_l("A password has between %(min)d and %(max)d characters."))])
    confirm = PasswordField(_l("Your password again"), validators=[
        DataRequired(_l("Type the password again.")),
        EqualTo("new", message=_l("The two passwords differ."))])


def code_field(label) -> StringField:
    """A code from the authenticator app or a recovery code: the one field every code form has.

    Loose on purpose (spaces, dashes, either kind of code): `portal.auth.totp` reads it.
    """
    return StringField(label, filters=[clean_text], validators=[
        DataRequired(_l("Enter the code.")), Length(max=64, message=_l("This code is wrong."))])


class CodeForm(FlaskForm):
    """A code from the authenticator app, or one of the recovery codes."""

    code = code_field(_l("Code"))


class AppCodeForm(FlaskForm):
    """The first code from the app, which confirms it was set up with the right key."""

    code = code_field(_l("The 6-digit code from the app"))


class ManageForm(FlaskForm):
    """A current code, then one of the changes it allows."""

    code = code_field(_l("A current code from the app, or a recovery code"))
    new_codes = SubmitField(_l("Make new recovery codes"))
    replace = SubmitField(_l("Move to a new phone or app"))
    turn_off = SubmitField(_l("Turn the second step off"))

    @property
    def action(self) -> str | None:
        for name in ("new_codes", "replace", "turn_off"):
            if self[name].data:
                return name
        return None
