"""What the anonymous side keeps to stop abuse: banned contacts and rate-limit hits.

Neither holds a contact or a client address in the clear: both are keyed hashes
(HMAC with SECRET_KEY), so the tables say nothing about who wrote or who was banned.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, utcnow


class BannedContact(Base):
    """An email address or phone number whose reports the portal no longer takes."""

    __tablename__ = "banned_contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_key: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(8))  # email, phone
    # What the administrators see of it, masked: "n***@gmail.com", "*******567".
    hint: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RateLimitHit(Base):
    """One counted request in a bucket (report, track), under a keyed hash of client or session."""

    __tablename__ = "rate_limit_hits"
    __table_args__ = (Index("ix_rate_limit_hits_bucket_key_at", "bucket", "key", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bucket: Mapped[str] = mapped_column(String(24))
    key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
