"""Staff accounts: creating them and checking their passwords."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import Agency, FrontCommittee, User
from portal.vocab import AGENCY_ROLES, FRONT_ROLES, Role

# argon2id with OWASP's first recommended setting: 19 MiB, 2 passes, 1 lane.
password_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256
# ASCII addresses only: mail servers without SMTPUTF8 cannot deliver to the others.
EMAIL_PATTERN = r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$"
EMAIL = re.compile(EMAIL_PATTERN)


class AccountError(ValueError):
    pass


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"the password must be at most {MAX_PASSWORD_LENGTH} characters")
    return password_hasher.hash(password)


def check_password(user: User, password: str) -> bool:
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return password_hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def create_user(session: Session, email: str, role: str, password: str,
                org_code: str | None = None, name: str = "") -> User:
    email = email.strip().lower()
    if not EMAIL.match(email):
        raise AccountError(f"{email!r} is not an email address")
    if role not in set(Role):
        raise AccountError(f"unknown role {role!r}; choose one of {', '.join(Role)}")
    if session.scalar(select(User.id).where(func.lower(User.email) == email)):
        raise AccountError(f"a user with the email {email} already exists")
    user = User(email=email, role=role, name=name, password_hash=hash_password(password))
    if role in FRONT_ROLES:
        committee = session.scalar(select(FrontCommittee).where(FrontCommittee.code == org_code))
        if committee is None:
            raise AccountError("a Front role needs --org with the code of a Front committee "
                               "(e.g. MTTQ-HN)")
        user.front_committee = committee
    elif role in AGENCY_ROLES:
        agency = session.scalar(select(Agency).where(Agency.code == org_code))
        if agency is None:
            raise AccountError("an agency role needs --org with the code of an agency "
                               "(e.g. SO-XD)")
        user.agency = agency
    elif org_code:
        raise AccountError("an administrator belongs to no agency or committee: leave out --org")
    session.add(user)
    return user
