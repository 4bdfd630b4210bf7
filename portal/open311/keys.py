"""API keys for Open311 clients: issued and revoked by administrators, kept only as hashes.

A key is shown once, when it is issued; the database holds its SHA-256 and its first
characters (so administrators can tell keys apart). A key is long and random, so a plain
hash is enough: there is nothing to guess, and a lookup by hash leaks nothing by its timing.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models import ApiKey, User

KEY_PREFIX = "hn311_"  # recognisable in logs and by secret scanners
PREFIX_LENGTH = 12  # what the administrators' list shows: KEY_PREFIX and 6 random characters
MAX_PRESENTED_LENGTH = 200


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def issue(session: Session, name: str, created_by: User | None) -> tuple[ApiKey, str]:
    """A new key: the row to store and the key itself, which is never stored."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(name=name, key_hash=hash_key(key), prefix=key[:PREFIX_LENGTH],
                 created_at=utcnow(), created_by_id=created_by.id if created_by else None)
    session.add(row)
    session.flush()
    return row, key


def revoke(session: Session, key: ApiKey) -> bool:
    """Revoke the key from now on; False if it was revoked already (nothing changes)."""
    if key.revoked_at is not None:
        return False
    key.revoked_at = utcnow()
    return True


def find_active(session: Session, presented: str | None) -> ApiKey | None:
    """The active key behind what a client sent, if any: unknown and revoked keys alike are None."""
    presented = (presented or "").strip()
    if not presented or len(presented) > MAX_PRESENTED_LENGTH:
        return None
    return session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(presented),
                                               ApiKey.revoked_at.is_(None)))
