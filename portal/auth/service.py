"""Signing staff in: passwords, throttling, and the sessions that a password change ends.

Failed attempts are counted under keyed hashes of the account and of the client, so no
email address or IP address is stored. An attacker who hammers one account from one
client is stopped there; the account's owner, signing in from a clean client, is not.
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


@dataclass(frozen=True)
class SignIn:
    user: User | None
    throttled: bool = False


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
        session.add(SignInFailure(account_key=account, client_key=client))
        session.execute(delete(SignInFailure).where(SignInFailure.account_key == account,
                                                    SignInFailure.created_at < utcnow() - WINDOW))
        session.commit()
        log.warning("staff sign-in failed (account %s)", account[:12])
        return SignIn(None)
    session.execute(delete(SignInFailure).where(SignInFailure.account_key == account,
                                                SignInFailure.client_key == client))
    user.last_sign_in_at = utcnow()
    session.commit()
    log.info("staff sign-in succeeded: user %s", user.id)
    return SignIn(user)


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
