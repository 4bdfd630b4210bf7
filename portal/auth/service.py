"""Signing staff in: passwords, throttling, and the sessions that a password change ends.

Failed attempts are counted under keyed hashes of the account and of the client, so no
email address or IP address is stored. An attacker who hammers one account from one
client is stopped there; the account's owner, signing in from a clean client, is not.

With a second factor (portal.auth.totp) the password alone signs nobody in: a wrong code
counts as a failure under the same keys, and the failures are forgotten only once the code
is right, so a stolen password does not open a way to try codes without end.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2.exceptions import VerificationError
from flask import current_app, request
from flask_login import login_user
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from portal.accounts import MAX_PASSWORD_LENGTH, check_password, hash_password, password_hasher
from portal.auth import totp
from portal.db import utcnow
from portal.extensions import login_manager
from portal.models import SignInFailure, User

log = logging.getLogger(__name__)

WINDOW = timedelta(minutes=15)
PAIR_LIMIT = 5  # one account from one client
CLIENT_LIMIT = 20  # any accounts from one client
ACCOUNT_LIMIT = 50  # one account from anywhere: then only clients that already failed on it wait
IDLE_TIMEOUT = timedelta(minutes=30)
# Verifying against this when the account does not exist makes both failures take as long.
_DUMMY_HASH = password_hasher.hash(secrets.token_urlsafe(16))


def _keyed(kind: str, value: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def account_key(email: str) -> str:
    return _keyed("account", email.strip().lower())


def client_key() -> str:
    return _keyed("client", request.remote_addr or "unknown")


def pending_mark(user: User) -> str:
    """Binds a sign-in waiting for its code to the user's sessions: ending them voids it too."""
    return _keyed("pending", f"{user.id}:{user.session_token}")[:32]


@dataclass(frozen=True)
class SignIn:
    user: User | None
    throttled: bool = False
    # The password was right, and the account has a second factor: ask for a code next.
    needs_code: bool = False


def _failures(session: Session, *conditions) -> int:
    since = utcnow() - WINDOW
    return session.scalar(select(func.count()).select_from(SignInFailure)
                          .where(SignInFailure.created_at >= since, *conditions)) or 0


def is_throttled(session: Session, account: str, client: str) -> bool:
    pair = _failures(session, SignInFailure.account_key == account,
                     SignInFailure.client_key == client)
    if pair >= PAIR_LIMIT or _failures(session, SignInFailure.client_key == client) >= CLIENT_LIMIT:
        return True
    return pair > 0 and _failures(session, SignInFailure.account_key == account) >= ACCOUNT_LIMIT


def authenticate(session: Session, email: str, password: str) -> SignIn:
    """The user, if the password is right and this client may still try; else why not."""
    account, client = account_key(email), client_key()
    if is_throttled(session, account, client):
        log.warning("staff sign-in refused: too many failures (account %s)", account[:12])
        return SignIn(None, throttled=True)
    user = session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None or not user.active:
        # As long as a real check, so the answer's timing does not tell which accounts exist.
        if len(password) <= MAX_PASSWORD_LENGTH:
            _spend_time(password)
        ok = False
    else:
        ok = check_password(user, password)
    if not ok:
        _count_failure(session, account, client)
        log.warning("staff sign-in failed (account %s)", account[:12])
        return SignIn(None)
    if totp.is_enabled(user):
        # Not signed in yet, and the failures so far still count: the code decides.
        log.info("staff sign-in: password accepted, code asked: user %s", user.id)
        return SignIn(user, needs_code=True)
    _succeeded(session, user, client)
    if totp.must_enrol(user):
        log.info("staff sign-in succeeded: user %s, who must set up the second factor", user.id)
    else:
        log.info("staff sign-in succeeded: user %s", user.id)
    return SignIn(user)


def _count_failure(session: Session, account: str, client: str) -> None:
    session.add(SignInFailure(account_key=account, client_key=client))
    session.execute(delete(SignInFailure).where(SignInFailure.account_key == account,
                                                SignInFailure.created_at < utcnow() - WINDOW))
    session.commit()


def _succeeded(session: Session, user: User, client: str) -> None:
    session.execute(delete(SignInFailure).where(SignInFailure.account_key == account_key(user.email),
                                                SignInFailure.client_key == client))
    user.last_sign_in_at = utcnow()
    session.commit()


@dataclass(frozen=True)
class CodeCheck:
    ok: bool
    throttled: bool = False
    recovery: bool = False  # a recovery code was spent


def check_code(session: Session, user: User, code: str, during: str = "staff sign-in") -> CodeCheck:
    """A code from the app or an unused recovery code; a wrong one counts toward the throttle.

    `during` names the step in the log ("staff sign-in", "second-factor change").
    """
    account, client = account_key(user.email), client_key()
    if is_throttled(session, account, client):
        log.warning("%s refused at the code step: too many failures (user %s)", during, user.id)
        return CodeCheck(False, throttled=True)
    if totp.verify(session, user, code):
        session.commit()
        return CodeCheck(True)
    if totp.use_recovery_code(session, user, code):
        session.commit()
        log.info("%s: recovery code used: user %s (%s left)", during, user.id,
                 totp.recovery_codes_left(session, user))
        return CodeCheck(True, recovery=True)
    _count_failure(session, account, client)
    log.warning("%s failed at the code step: wrong code (user %s)", during, user.id)
    return CodeCheck(False)


def complete_sign_in(session: Session, user: User, code: str) -> CodeCheck:
    """The second step: the user is signed in only when this is ok."""
    result = check_code(session, user, code)
    if result.ok:
        _succeeded(session, user, client_key())
        log.info("staff sign-in succeeded: user %s (second factor: %s)", user.id,
                 "recovery code" if result.recovery else "app code")
    return result


def confirm_second_factor(session: Session, user: User, code: str) -> list[str] | None:
    """The first code from the app turns the second factor on; returns the recovery codes.

    Every other session of the user ends: whoever signed in with the password alone is out.
    """
    if totp.is_enabled(user) or not totp.verify(session, user, code):
        log.warning("second factor not confirmed: wrong code (user %s)", user.id)
        return None
    user.totp_confirmed_at = utcnow()
    codes = totp.new_recovery_codes(session, user)
    _renew_sessions(session, user)
    log.info("second factor set up: user %s", user.id)
    return codes


def regenerate_recovery_codes(session: Session, user: User) -> list[str]:
    codes = totp.new_recovery_codes(session, user)
    _renew_sessions(session, user)
    log.info("recovery codes replaced: user %s", user.id)
    return codes


def restart_second_factor(session: Session, user: User) -> None:
    """A new phone: the old secret and codes go; a new secret waits for its first code."""
    totp.clear(session, user)
    totp.pending_secret(user)
    _renew_sessions(session, user)
    log.info("second factor being replaced: user %s", user.id)


def turn_off_second_factor(session: Session, user: User) -> None:
    if totp.is_required(user):
        raise ValueError("the second factor is required for this role")
    totp.clear(session, user)
    _renew_sessions(session, user)
    log.info("second factor turned off: user %s", user.id)


def reset_second_factor(session: Session, user: User) -> None:
    """For an administrator: a locked-out staff member sets the second factor up again.

    Their sessions end. At the next sign-in the password alone takes a supervisor or an
    administrator to the set-up page and nowhere else; other roles sign in without a code.
    """
    totp.clear(session, user)
    end_sessions(user)
    session.commit()
    log.info("second factor reset from the command line: user %s", user.id)


def _renew_sessions(session: Session, user: User) -> None:
    end_sessions(user)
    session.commit()
    login_user(user)  # this browser stays signed in under the new session token


def _spend_time(password: str) -> None:
    # The point is only to take the time a real check takes.
    with contextlib.suppress(VerificationError):
        password_hasher.verify(_DUMMY_HASH, password)


def change_password(session: Session, user: User, new_password: str) -> None:
    """Set the password and end every other session of the user."""
    user.password_hash = hash_password(new_password)
    user.password_changed_at = utcnow()
    end_sessions(user)
    session.commit()
    login_user(user)  # this browser stays signed in under the new session token


def end_sessions(user: User) -> None:
    """Every session of the user carries the old token in its login id: all of them end."""
    user.session_token = secrets.token_urlsafe(32)


@login_manager.user_loader
def load_user(login_id: str) -> User | None:
    from portal.db import get_session

    user_id, _, token = login_id.partition(":")
    if not user_id.isdigit() or not token:
        return None
    user = get_session().get(User, int(user_id))
    if user is None or not user.active or not hmac.compare_digest(user.session_token, token):
        return None
    return user
