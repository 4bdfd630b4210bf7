"""Signing staff in: passwords, throttling, and the sessions that a password change ends.

Failed attempts are counted under keyed hashes of the account and of the client, so no
email address or IP address is stored. An attacker who hammers one account from one
client is stopped there; the account's owner, signing in from a clean client, is not.

With a second factor (portal.auth.totp) the password alone signs nobody in. Wrong codes are
counted apart from wrong passwords, under a key of their own for the account (`code_key`):

- from one client, like passwords: PAIR_LIMIT for the account, CLIENT_LIMIT for all;
- from anywhere: after CODE_LIMIT wrong codes in the window, codes from the app are refused
  for the account, whatever the client, until the window has passed. Whoever holds a stolen
  password and changes address at every try gets CODE_LIMIT guesses per window, not more;
- in one sign-in: after PENDING_WRONG_LIMIT wrong codes the password must be given again.

The trade-off of the account-wide cap: whoever knows the password can keep the owner's app
codes refused for as long as they keep failing. So the cap never touches the password step
(wrong codes are not password failures), and a recovery code (about 50 bits, not guessable
in CODE_LIMIT tries) is still accepted: the owner signs in with one, and changes the password,
which ends every waiting sign-in of the attacker. The cap is logged, as a sign of a stolen
password.

Every code attempt is counted before the code is checked and forgotten afterwards only when
it was right or refused unchecked, so parallel requests cannot all slip under a limit.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2.exceptions import VerificationError
from flask_login import login_user
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from portal.accounts import MAX_PASSWORD_LENGTH, check_password, hash_password, password_hasher
from portal.auth import totp
from portal.db import utcnow
from portal.extensions import login_manager
from portal.keyed import client_key, keyed
from portal.models import SignInFailure, User

log = logging.getLogger(__name__)

WINDOW = timedelta(minutes=15)
PAIR_LIMIT = 5  # one account from one client
CLIENT_LIMIT = 20  # any accounts from one client
ACCOUNT_LIMIT = 50  # one account from anywhere: then only clients that already failed on it wait
CODE_LIMIT = 10  # wrong second-factor codes for one account from anywhere: then app codes wait
PENDING_WRONG_LIMIT = 3  # wrong codes in one sign-in: then the password again
IDLE_TIMEOUT = timedelta(minutes=30)
# Verifying against this when the account does not exist makes both failures take as long.
_DUMMY_HASH = password_hasher.hash(secrets.token_urlsafe(16))


def account_key(email: str) -> str:
    return keyed("account", email.strip().lower())


def code_key(user: User) -> str:
    """The key wrong second-factor codes of the user are counted under (not their password's)."""
    return keyed("code", str(user.id))


def pending_mark(user: User) -> str:
    """Binds a sign-in waiting for its code to the user's sessions: ending them voids it too."""
    return keyed("pending", f"{user.id}:{user.session_token}")[:32]


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
    _prune(session, account)


def _prune(session: Session, account: str) -> None:
    session.execute(delete(SignInFailure).where(SignInFailure.account_key == account,
                                                SignInFailure.created_at < utcnow() - WINDOW))
    session.commit()


def _succeeded(session: Session, user: User, client: str) -> None:
    # This client's wrong passwords and wrong codes are forgotten; others' still count.
    session.execute(delete(SignInFailure).where(
        SignInFailure.account_key.in_([account_key(user.email), code_key(user)]),
        SignInFailure.client_key == client))
    user.last_sign_in_at = utcnow()
    session.commit()


@dataclass(frozen=True)
class CodeCheck:
    ok: bool
    throttled: bool = False  # this client failed too often
    # The account had too many wrong codes from anywhere: app codes wait, recovery codes work.
    locked: bool = False
    recovery: bool = False  # a recovery code was spent
    # Too many wrong codes in this sign-in: it is void, the password must be given again.
    start_over: bool = False


def check_code(session: Session, user: User, code: str, during: str = "staff sign-in",
               since: datetime | None = None) -> CodeCheck:
    """A code from the app or an unused recovery code; a wrong one counts toward the throttle.

    `during` names the step in the log ("staff sign-in", "second-factor change"); `since`,
    when the password of a waiting sign-in was given, makes PENDING_WRONG_LIMIT apply to it.
    """
    account, client = code_key(user), client_key()
    # Counted first and committed, then every count includes it: of many attempts sent at
    # once, no more get checked than the limits allow.
    attempt = SignInFailure(account_key=account, client_key=client)
    session.add(attempt)
    session.commit()

    def forget_attempt() -> None:
        session.execute(delete(SignInFailure).where(SignInFailure.id == attempt.id))
        session.commit()

    if (_failures(session, SignInFailure.account_key == account,
                  SignInFailure.client_key == client) > PAIR_LIMIT
            or _failures(session, SignInFailure.client_key == client) > CLIENT_LIMIT):
        forget_attempt()  # refused unchecked: nothing learnt, nothing more to count
        log.warning("%s refused at the code step: too many failures (user %s)", during, user.id)
        return CodeCheck(False, throttled=True)
    if since is not None and _wrong_since(session, account, client, since) > PENDING_WRONG_LIMIT:
        forget_attempt()
        return CodeCheck(False, start_over=True)
    locked = _failures(session, SignInFailure.account_key == account) > CODE_LIMIT
    if locked and totp.is_app_code(code):
        forget_attempt()
        log.warning("%s refused at the code step: %d wrong codes for this account from anywhere"
                    " in %d minutes; only recovery codes are taken (user %s)", during, CODE_LIMIT,
                    WINDOW.seconds // 60, user.id)
        return CodeCheck(False, locked=True)
    if not locked and totp.verify(session, user, code):
        forget_attempt()
        return CodeCheck(True)
    if totp.use_recovery_code(session, user, code):
        forget_attempt()
        log.info("%s: recovery code used: user %s (%s left)", during, user.id,
                 totp.recovery_codes_left(session, user))
        return CodeCheck(True, recovery=True)
    _prune(session, account)
    log.warning("%s failed at the code step: wrong code (user %s)", during, user.id)
    start_over = (since is not None
                  and _wrong_since(session, account, client, since) >= PENDING_WRONG_LIMIT)
    return CodeCheck(False, locked=locked, start_over=start_over)


def _wrong_since(session: Session, account: str, client: str, since: datetime) -> int:
    return _failures(session, SignInFailure.account_key == account,
                     SignInFailure.client_key == client, SignInFailure.created_at >= since)


def complete_sign_in(session: Session, user: User, code: str,
                     since: datetime | None = None) -> CodeCheck:
    """The second step: the user is signed in only when this is ok.

    `since` is when the password was given: after PENDING_WRONG_LIMIT wrong codes from this
    client since then, the answer says to start over, whatever the browser sends back.
    """
    result = check_code(session, user, code, since=since)
    if result.ok:
        _succeeded(session, user, client_key())
        log.info("staff sign-in succeeded: user %s (second factor: %s)", user.id,
                 "recovery code" if result.recovery else "app code")
    return result


def confirm_second_factor(session: Session, user: User, key: bytes, code: str) -> list[str] | None:
    """The first code from the app for `key`, the secret this browser set up, turns the second
    factor on with it; returns the recovery codes.

    Every other session of the user ends: whoever signed in with the password alone is out,
    and the set-ups of other browsers with it.
    """
    if totp.is_enabled(user) or not totp.confirm(session, user, key, code):
        log.warning("second factor not confirmed: wrong code (user %s)", user.id)
        return None
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
    """A new phone: the old secret and codes go, and other sessions end. The new secret is made
    by the set-up page in this browser's session, and kept only once its first code is right."""
    totp.clear(session, user)
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
