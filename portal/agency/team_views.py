"""The head's pages of the agency workspace: the agency's officers, and the agency's figures.

Thin: forms check input, `portal.agency.team` and `portal.agency.figures` apply the rules. Only a
head of agency opens them (officers get a 403); a member of another agency's staff is a 404.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, StringField
from wtforms.validators import DataRequired, NumberRange, Optional, Regexp

from portal.accounts import EMAIL_PATTERN
from portal.admin.forms import LocalIntegerField
from portal.agency import figures, team
from portal.agency.views import blueprint
from portal.auth.permissions import require_roles, staff
from portal.citizen.forms import TEXT, at_most, plain_text, to_int_or_none
from portal.db import get_session
from portal.models import User
from portal.staffactions import store_form
from portal.vocab import ROLE_LABELS, Role

head_only = require_roles(Role.AGENCY_HEAD)


class InviteForm(FlaskForm):
    email = EmailField(_l("Email"), **TEXT, validators=[
        DataRequired(_l("Enter an email.")), at_most(254),
        Regexp(EMAIL_PATTERN, message=_l("This is not an email address."))])
    name = StringField(_l("Full name"), **TEXT, validators=[
        DataRequired(_l("Enter the person's name.")), plain_text, at_most(200)])


class StaffActionForm(FlaskForm):
    """A button that changes an account: only the CSRF token."""


class PeriodForm(FlaskForm):
    class Meta:
        csrf = False

    months = LocalIntegerField(_l("Months"), validators=[
        Optional(), NumberRange(min=1, max=figures.MAX_MONTHS,
                                message=_l("Between %(min)s and %(max)s months."))])


def _team_page(invite: InviteForm | None = None, action: StaffActionForm | None = None,
               status: int = 200):
    head = staff()
    page = team.agency_staff(get_session(), head, after=to_int_or_none(request.args.get("after")))
    return render_template("agency/team.html", page=page, head=head,
                           invite=invite or InviteForm(formdata=None),
                           action=action or StaffActionForm(formdata=None),
                           is_invited=team.is_invited, role_labels=ROLE_LABELS), status


def _member(user_id: int) -> User:
    user = team.staff_member(get_session(), staff(), user_id)
    if user is None:
        abort(404)
    return user


@blueprint.get("/team")
@head_only
def team_page():
    return _team_page()


@blueprint.post("/team/invite")
@head_only
def team_invite():
    form = InviteForm()
    if form.validate_on_submit():
        invited: list[User] = []
        if store_form(form, lambda: invited.append(team.invite_officer(
                get_session(), staff(), email=form.email.data, name=form.name.data))):
            flash(_("%(email)s was invited. The email holds a link to choose a password; it "
                    "works once, within 72 hours.", email=invited[0].email))
            return redirect(url_for("agency.team_page"), 303)
    return _team_page(invite=form, status=400)


def _account_action(user_id: int, change: Callable[[User], object], done: Callable[[str], str]):
    user = _member(user_id)
    form = StaffActionForm()
    if form.validate_on_submit() and store_form(form, lambda: change(user)):
        flash(done(user.email))
        return redirect(url_for("agency.team_page"), 303)
    return _team_page(action=form, status=400)


@blueprint.post("/team/<id:user_id>/deactivate")
@head_only
def team_deactivate(user_id: int):
    return _account_action(
        user_id, lambda user: team.deactivate_officer(get_session(), staff(), user),
        lambda email: _("The account %(email)s was deactivated and its sessions ended.", email=email))


@blueprint.post("/team/<id:user_id>/reactivate")
@head_only
def team_reactivate(user_id: int):
    return _account_action(
        user_id, lambda user: team.reactivate_officer(get_session(), staff(), user),
        lambda email: _("The account %(email)s was reactivated.", email=email))


@blueprint.post("/team/<id:user_id>/invite-again")
@head_only
def team_invite_again(user_id: int):
    return _account_action(
        user_id, lambda user: team.resend_invitation(get_session(), staff(), user),
        lambda email: _("A new invitation was sent to %(email)s; the links sent before no longer "
                        "work.", email=email))


@blueprint.get("/figures")
@head_only
def figures_page():
    form = PeriodForm(request.args)
    valid = form.validate()
    months = form.months.data if valid and form.months.data else figures.DEFAULT_MONTHS
    if valid and form.months.data is None:
        form.months.data = months  # the field shows the period the figures are for
    result = figures.agency_figures(get_session(), staff().agency_id, months)
    return render_template("agency/figures.html", form=form, figures=result,
                           min_ratings=figures.MIN_RATINGS), 200 if valid else 400
