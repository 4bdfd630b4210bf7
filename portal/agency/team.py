"""The head of an agency and the agency's officer accounts: invitations, deactivation, activation.

An invited officer gets an account that cannot be signed in to (its password hash is no hash)
and an email with a signed link. The link holds the account's id and a digest of its current
session token (the token itself is part of every login id, so it never leaves the server), for
72 hours: choosing a password replaces the token, so the link works once, and deactivating
the account kills it too. Nothing secret is stored: the link is made when the email is sent.

Each function changes the session and leaves the commit to its caller; a change the rules refuse
raises `Refused` (from the administration's rules, which these reuse) before anything is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal import notifications
from portal.accounts import hash_password
from portal.admin import services
from portal.admin.services import Refused
from portal.auth.service import end_sessions
from portal.db import utcnow
from portal.models import User
from portal.models.user import INVITED_PREFIX
from portal.vocab import AGENCY_ROLES, Role

log = logging.getLogger(__name__)

ACTIVATION_SALT = "portal.agency.invitation"
ACTIVATION_MAX_AGE = 72 * 3600  # seconds
# No argon2 hash starts with "!": an account with such a hash cannot be signed in to.
PAGE_SIZE = 100


# -- the agency's staff -----------------------------------------------------------------------


@dataclass(frozen=True)
class StaffPage:
    items: list[User]
    next_after: int | None


def is_invited(user: User) -> bool:
    """The person was invited and has not chosen a password yet."""
    return user.invited


def agency_staff(session: Session, head: User, after: int | None = None) -> StaffPage:
    """The officers and heads of the head's agency, by id, one page at a time."""
    query = select(User).where(User.agency_id == head.agency_id,
                               User.role.in_(list(AGENCY_ROLES)))
    if after:
        query = query.where(User.id > after)
    rows = list(session.scalars(query.order_by(User.id).limit(PAGE_SIZE + 1)))
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return StaffPage(rows, rows[-1].id if more else None)


def staff_member(session: Session, head: User, user_id: int) -> User | None:
    """A member of the head's own agency's staff; None for anyone else (the view answers 404)."""
    user = session.get(User, user_id)
    if user is None or user.agency_id != head.agency_id or user.role not in AGENCY_ROLES:
        return None
    return user


def invite_officer(session: Session, head: User, *, email: str, name: str) -> User:
    """An officer account of the head's agency, and the invitation email in the same transaction."""
    user = services.add_user(session, email=email, name=name, role=Role.AGENCY_OFFICER,
                             org_code=head.agency.code, password=secrets.token_urlsafe(32))
    # The random password above was never known to anyone; make it plainly unusable.
    user.password_hash = INVITED_PREFIX + secrets.token_urlsafe(32)
    notifications.queue(session, "invitation", user_id=user.id, invited_by_id=head.id)
    log.info("user %s invited to agency %s by %s", user.id, head.agency_id, head.id)
    return user


def resend_invitation(session: Session, head: User, user: User) -> None:
    """A new invitation email; the links sent before stop working."""
    if not user.active:
        raise Refused(_l("Reactivate the account before inviting the person again."))
    if not is_invited(user):
        raise Refused(_l("This person has already chosen a password."))
    end_sessions(user)
    notifications.queue(session, "invitation", user_id=user.id, invited_by_id=head.id)
    log.info("invitation of user %s sent again by %s", user.id, head.id)


def _only_officers(user: User) -> None:
    if user.role != Role.AGENCY_OFFICER:
        raise Refused(_l("Only an administrator can deactivate or reactivate the head of an "
                         "agency."))


def deactivate_officer(session: Session, head: User, user: User) -> None:
    """The officer can no longer sign in, and every session of theirs (and invitation) ends."""
    if user.id == head.id:
        raise Refused(_l("You cannot deactivate your own account."))
    _only_officers(user)
    services.deactivate_user(session, user, head)


def reactivate_officer(session: Session, head: User, user: User) -> None:
    _only_officers(user)
    deactivated_by = session.get(User, user.deactivated_by_id) if user.deactivated_by_id else None
    if deactivated_by is not None and deactivated_by.agency_id != head.agency_id:
        # An administrator's decision is the administrator's to undo.
        raise Refused(_l("An administrator deactivated this account: only an administrator "
                         "can reactivate it."))
    services.reactivate_user(session, user)


# -- the invitation link ----------------------------------------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=ACTIVATION_SALT)


def _token_digest(session_token: str) -> str:
    return hashlib.sha256(session_token.encode()).hexdigest()


def activation_token(user: User) -> str:
    return _serializer().dumps({"user": user.id, "token": _token_digest(user.session_token)})


def activation_url(user: User) -> str:
    base_url = current_app.config["PORTAL_SETTINGS"].base_url
    return f"{base_url}/account/activate/{activation_token(user)}"


def invited_user(session: Session, token: str) -> User | None:
    """The invited account a link is for, if the link is genuine, unused and under 72 hours old."""
    try:
        data = _serializer().loads(token, max_age=ACTIVATION_MAX_AGE)
    except SignatureExpired:
        log.info("an expired activation link was used")
        return None
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("user"), int) \
            or not isinstance(data.get("token"), str):
        return None
    user = session.get(User, data["user"])
    if user is None or not user.active or user.role not in AGENCY_ROLES or not is_invited(user) \
            or not hmac.compare_digest(_token_digest(user.session_token), data["token"]):
        return None
    return user


def activate(session: Session, user: User, password: str) -> bool:
    """Set the password and end the link (and any session); False if the link was used meanwhile.

    The update applies only while the session token is the one the link holds: of two requests
    racing with the same link, one wins. The caller commits.
    """
    now = utcnow()
    done = session.execute(
        update(User)
        .where(User.id == user.id, User.session_token == user.session_token,
               User.active.is_(True))
        .values(password_hash=hash_password(password), password_changed_at=now,
                last_sign_in_at=now, session_token=secrets.token_urlsafe(32))
        .execution_options(synchronize_session=False)
    ).rowcount
    if done != 1:
        return False
    session.expire(user)
    log.info("user %s chose a password from an invitation", user.id)
    return True
