"""Signing in and out, changing one's password, and choosing one from an invitation."""

from __future__ import annotations

from datetime import datetime

from flask import (
    Blueprint,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from portal.accounts import check_password
from portal.auth.forms import ActivationForm, PasswordForm, SignInForm
from portal.auth.service import IDLE_TIMEOUT, authenticate, change_password
from portal.db import get_session, utcnow
from portal.i18n import safe_next
from portal.vocab import AGENCY_ROLES, FRONT_ROLES, Role

blueprint = Blueprint("auth", __name__)

LAST_SEEN = "staff_seen"


def home_for(user) -> str:
    if user.role in FRONT_ROLES:
        return url_for("moderation.queue")
    if user.role in AGENCY_ROLES:
        return url_for("agency.inbox")
    if user.role == Role.ADMIN:
        return url_for("admin.index")
    return url_for("citizen.home")


@blueprint.route("/login", methods=["GET", "POST"])
def sign_in():
    form = SignInForm()
    status = 200
    if form.validate_on_submit():
        result = authenticate(get_session(), form.email.data, form.password.data)
        if result.user is not None:
            _start_session(result.user)
            target = request.args.get("next")
            return redirect(safe_next(target) if target else home_for(result.user), 303)
        status = 429 if result.throttled else 400
        form.password.errors.append(
            _("Too many failed attempts from here. Wait 15 minutes and try again.")
            if result.throttled else _("Email or password is wrong."))
    elif form.errors:
        status = 400
        if form.password.errors:  # too long, say: the same words as a wrong password
            form.password.errors = [_("Email or password is wrong.")]
    return render_template("auth/login.html", form=form), status


def _start_session(user) -> None:
    lang = session.get("lang")
    session.clear()  # a new session at sign-in: nothing from before survives
    if lang:
        session["lang"] = lang
    login_user(user)
    session.permanent = True
    session[LAST_SEEN] = utcnow().isoformat()


@blueprint.post("/logout")
def sign_out():
    logout_user()
    session.clear()
    return redirect(url_for("citizen.home"), 303)


@blueprint.route("/account/password", methods=["GET", "POST"])
@login_required
def password():
    form = PasswordForm()
    if form.validate_on_submit():
        if check_password(current_user, form.current.data):
            change_password(get_session(), current_user._get_current_object(), form.new.data)
            session[LAST_SEEN] = utcnow().isoformat()
            flash(_("Your password was changed. Every other session of yours has ended."))
            return redirect(home_for(current_user), 303)
        form.current.errors.append(_("This is not your current password."))
    status = 400 if form.errors else 200
    return render_template("auth/password.html", form=form), status


@blueprint.route("/account/activate/<token>", methods=["GET", "POST"])
def activate(token: str):
    """An invited officer chooses a password from the emailed link, and is signed in."""
    from portal.agency import team

    db = get_session()
    user = team.invited_user(db, token)
    if user is None:
        return render_template("auth/activate.html", form=None), 400
    form = ActivationForm()
    if form.validate_on_submit():
        if team.activate(db, user, form.new.data):
            db.commit()
            _start_session(user)
            flash(_("Your password is set and you are signed in. Welcome to the portal."))
            return redirect(home_for(user), 303)
        db.rollback()
        return render_template("auth/activate.html", form=None), 400
    status = 400 if form.errors else 200
    return render_template("auth/activate.html", form=form, user=user), status


@blueprint.before_app_request
def end_idle_staff_sessions():
    """A staff session ends after a while without a request, whatever the cookie says."""
    if not current_user.is_authenticated:
        return None
    seen = session.get(LAST_SEEN)
    now = utcnow()
    if seen is None or now - datetime.fromisoformat(seen) > IDLE_TIMEOUT:
        logout_user()
        session.clear()
        flash(_("Your session ended after 30 minutes without activity. Please sign in again."))
        return redirect(url_for("auth.sign_in", next=request.full_path))
    session[LAST_SEEN] = now.isoformat()
    return None
