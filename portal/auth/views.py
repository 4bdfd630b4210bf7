"""Signing in and out, the second step, changing one's password, choosing one from an invitation."""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta

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
from flask_babel import ngettext
from flask_login import current_user, login_required, login_user, logout_user
from markupsafe import Markup

from portal.accounts import check_password
from portal.auth import service, totp
from portal.auth.forms import ActivationForm, AppCodeForm, CodeForm, ManageForm, PasswordForm, SignInForm
from portal.auth.service import IDLE_TIMEOUT, authenticate, change_password
from portal.db import get_session, utcnow
from portal.i18n import safe_next
from portal.models import User
from portal.vocab import AGENCY_ROLES, FRONT_ROLES, Role

blueprint = Blueprint("auth", __name__)

LAST_SEEN = "staff_seen"
# A sign-in whose password was right and which waits for the code: who, and until when.
PENDING = "staff_pending"
PENDING_FOR = timedelta(minutes=5)
# The second-factor secret this browser is setting up, sealed (see `totp.seal_setup`).
SETUP = "staff_totp_setup"
# What a supervisor or administrator without a second factor may open: setting it up.
OPEN_BEFORE_SET_UP = frozenset({"auth.two_factor", "auth.sign_out", "static", "switch_language"})


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
        target = request.args.get("next")
        if result.needs_code:
            _fresh_session()
            session[PENDING] = {"user": result.user.id, "mark": service.pending_mark(result.user),
                                "until": (utcnow() + PENDING_FOR).isoformat()}
            return redirect(url_for("auth.sign_in_code", next=target), 303)
        if result.user is not None:
            _start_session(result.user)
            if totp.must_enrol(result.user):
                flash(_("Your role needs a second step at sign-in. Set it up now: "
                        "the portal opens nothing else before."))
                return redirect(url_for("auth.two_factor"), 303)
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


@blueprint.route("/login/code", methods=["GET", "POST"])
def sign_in_code():
    """The second step: a code from the app, or a recovery code, within five minutes."""
    db = get_session()
    target = request.args.get("next")
    pending = _pending_sign_in(db)
    if pending is None:
        if session.pop(PENDING, None) is not None:
            flash(_("Your sign-in waited too long for the code. Please sign in again."))
        return redirect(url_for("auth.sign_in", next=target), 303)
    user, since = pending
    form = CodeForm()
    status = 200
    if form.validate_on_submit():
        result = service.complete_sign_in(db, user, form.code.data, since=since)
        if result.ok:
            _start_session(user)
            if result.recovery:
                flash(ngettext("You signed in with a recovery code, which no longer works now. "
                               "%(num)d recovery code is left.",
                               "You signed in with a recovery code, which no longer works now. "
                               "%(num)d recovery codes are left.",
                               totp.recovery_codes_left(db, user)))
            return redirect(safe_next(target) if target else home_for(user), 303)
        if result.start_over:
            session.pop(PENDING, None)
            flash(_("Too many wrong codes. Please sign in again, starting with your password."))
            return redirect(url_for("auth.sign_in", next=target), 303)
        status = 429 if result.throttled or result.locked else 400
        form.code.errors.append(_code_refused(result))
    elif form.errors:
        status = 400
    return render_template("auth/code.html", form=form), status


def _code_refused(result: service.CodeCheck) -> str:
    if result.locked:
        return _("Too many wrong codes were typed for this account in the last 15 minutes, so "
                 "codes from the app are not taken for now. Type one of your recovery codes, or "
                 "wait 15 minutes. If these codes were not yours, someone knows your password: "
                 "change it.")
    if result.throttled:
        return _("Too many failed attempts from here. Wait 15 minutes and try again.")
    return _("This code is wrong, or it was already used.")


def _pending_sign_in(db) -> tuple[User, datetime] | None:
    """The user whose password was given in this browser, and when; None if none or expired."""
    pending = session.get(PENDING)
    if not isinstance(pending, dict):
        return None
    try:
        user_id, until = int(pending["user"]), datetime.fromisoformat(pending["until"])
        mark = str(pending["mark"])
    except (KeyError, TypeError, ValueError):
        return None
    if utcnow() > until:
        return None
    user = db.get(User, user_id)
    if user is None or not user.active or not totp.is_enabled(user):
        return None
    if not hmac.compare_digest(service.pending_mark(user), mark):
        return None
    return user, until - PENDING_FOR


def _fresh_session() -> None:
    lang = session.get("lang")
    session.clear()  # a new session at sign-in: nothing from before survives
    if lang:
        session["lang"] = lang


def _start_session(user) -> None:
    _fresh_session()
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


@blueprint.route("/account/two-factor", methods=["GET", "POST"])
@login_required
def two_factor():
    """Setting up the second step; once it is on, its state and the changes it allows."""
    db = get_session()
    user = current_user._get_current_object()
    if totp.is_enabled(user):
        session.pop(SETUP, None)
        return _two_factor_state(db, user, ManageForm())
    key = _setup_secret(user)
    form = AppCodeForm()
    if form.validate_on_submit():
        codes = service.confirm_second_factor(db, user, key, form.code.data)
        if codes is not None:
            session.pop(SETUP, None)
            session[LAST_SEEN] = utcnow().isoformat()
            return render_template("auth/recovery_codes.html", codes=codes, first=True,
                                   home=home_for(user))
        form.code.errors.append(_("This code is wrong. Check that the phone's clock is right and "
                                  "type the newest code."))
    status = 400 if form.errors else 200
    uri = totp.provisioning_uri(key, user.email)
    return render_template("auth/two_factor_setup.html", form=form,
                           secret=totp.grouped(totp.to_base32(key)),
                           qr=Markup(totp.qr_svg(uri)),  # noqa: S704 - segno's SVG, made here
                           required=totp.is_required(user)), status


def _setup_secret(user: User) -> bytes:
    """The secret this browser is setting up: the one shown before (a reload keeps the QR
    code), or a new one. Never another browser's: each set-up has its own, and nothing is
    written to the user before the first right code (`service.confirm_second_factor`)."""
    key = totp.unseal_setup(session.get(SETUP), user)
    if key is None:
        key = totp.new_secret()
        session[SETUP] = totp.seal_setup(key, user)
    return key


def _two_factor_state(db, user, form: ManageForm, status: int = 200):
    return render_template("auth/two_factor.html", form=form, user=user,
                           left=totp.recovery_codes_left(db, user),
                           required=totp.is_required(user)), status


@blueprint.post("/account/two-factor/manage")
@login_required
def two_factor_manage():
    """New recovery codes, a new phone, or no second step: each needs a current code."""
    db = get_session()
    user = current_user._get_current_object()
    if not totp.is_enabled(user):
        return redirect(url_for("auth.two_factor"), 303)
    form = ManageForm()
    if not form.validate_on_submit():
        return _two_factor_state(db, user, form, 400)
    action = form.action
    if action is None or (action == "turn_off" and totp.is_required(user)):
        form.code.errors.append(_("Supervisors and administrators cannot turn the second step off.")
                                if action else _("Choose what to change."))
        return _two_factor_state(db, user, form, 400)
    result = service.check_code(db, user, form.code.data, during="second-factor change")
    if not result.ok:
        form.code.errors.append(_code_refused(result))
        return _two_factor_state(db, user, form, 429 if result.throttled or result.locked else 400)
    session[LAST_SEEN] = utcnow().isoformat()
    if action == "new_codes":
        codes = service.regenerate_recovery_codes(db, user)
        return render_template("auth/recovery_codes.html", codes=codes, first=False,
                               home=home_for(user))
    if action == "replace":
        service.restart_second_factor(db, user)
        flash(_("Set up the new phone or app now. Every other session of yours has ended."))
        return redirect(url_for("auth.two_factor"), 303)
    service.turn_off_second_factor(db, user)
    flash(_("The second step is off, and your recovery codes no longer work. "
            "Every other session of yours has ended."))
    return redirect(url_for("auth.two_factor"), 303)


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


@blueprint.before_app_request
def require_second_factor():
    """A supervisor or administrator without a second factor may only set it up, or sign out."""
    if (current_user.is_authenticated and totp.must_enrol(current_user)
            and request.endpoint not in OPEN_BEFORE_SET_UP):
        return redirect(url_for("auth.two_factor"))
    return None
