"""Staff accounts: Front moderators and supervisors, agency officers and heads, administrators."""

from __future__ import annotations

import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, utcnow
from portal.models.organisation import Agency, FrontCommittee

# The password hash of an invited account until its owner chooses a password: no password
# matches it.
INVITED_PREFIX = "!"


class User(UserMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "(role IN ('moderator', 'supervisor') AND front_committee_id IS NOT NULL"
            " AND agency_id IS NULL)"
            " OR (role IN ('agency_officer', 'agency_head') AND agency_id IS NOT NULL"
            " AND front_committee_id IS NULL)"
            " OR (role = 'admin' AND agency_id IS NULL AND front_committee_id IS NULL)",
            name="membership_matches_role",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    front_committee_id: Mapped[int | None] = mapped_column(
        ForeignKey("front_committees.id"), index=True
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Changing it ends every session of the user (it is part of the login id).
    session_token: Mapped[str] = mapped_column(
        String(64), default=lambda: secrets.token_urlsafe(32)
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    password_changed_at: Mapped[datetime | None]
    # Who deactivated the account: a head may undo only what a head of the agency did.
    deactivated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    last_sign_in_at: Mapped[datetime | None]
    # The second factor (portal.auth.totp): the secret sealed with a key derived from
    # SECRET_KEY, never stored in the clear; the last time step accepted, so a code is
    # usable once; set up when confirmed_at is set.
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    totp_last_step: Mapped[int | None]
    totp_confirmed_at: Mapped[datetime | None]

    agency: Mapped[Agency | None] = relationship()
    front_committee: Mapped[FrontCommittee | None] = relationship()

    def get_id(self) -> str:
        """The login id kept in the session; a new session token invalidates every old one."""
        return f"{self.id}:{self.session_token}"

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive accounts
        return self.active

    @property
    def invited(self) -> bool:
        """Invited, without a password yet: nobody may be working under this account."""
        return self.password_hash.startswith(INVITED_PREFIX)

    @classmethod
    def at_work(cls):
        """SQL: active accounts whose owner has signed up, the ones that may receive cases."""
        return cls.active.is_(True) & ~cls.password_hash.startswith(INVITED_PREFIX)


class RecoveryCode(Base):
    """A one-time code that stands in for the second factor when the phone is lost."""

    __tablename__ = "recovery_codes"
    __table_args__ = (UniqueConstraint("user_id", "code_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # A keyed hash (HMAC with SECRET_KEY) of the normalised code.
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]
