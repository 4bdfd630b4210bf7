"""Abuse controls of the anonymous side: rate limits and banned contacts. (The honeypot field
is the report form's, checked by its view; a tracking code pasted into a report's text is
found by `portal.receipts.tracking_code_in`.)

Nothing here is kept in the clear. A rate-limit hit is counted under a keyed hash
(`portal.keyed`, shared with the staff sign-in throttle) of the client address (an IPv6
client by its /64) and another of a random id kept in the browser's session; a banned
contact is a keyed hash of the normalised email or phone, with a masked hint for the
administrators. Changing SECRET_KEY therefore forgets the ban list as well as the counts.

Two keys per hit, because each alone fails: a bot that drops its cookie gets a fresh
session every time, but its address still counts; a city office or a commune People's
Committee sends every resident through one address, so one abuser's session is stopped
long before the address, whose limit is higher, shuts the whole office out.
"""

from __future__ import annotations

import logging
import math
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app, session
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from portal.accounts import EMAIL
from portal.db import utcnow
from portal.keyed import client_key, keyed
from portal.models import BannedContact, RateLimitHit, User

log = logging.getLogger(__name__)


# -- rate limits ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bucket:
    name: str
    window: timedelta
    # The settings that hold its limits: <setting>_PER_SESSION and <setting>_PER_CLIENT.
    setting: str

    def limits(self) -> tuple[tuple[str, int], tuple[str, int]]:
        config = current_app.config
        return (("session", config[f"{self.setting}_PER_SESSION"]),
                ("client", config[f"{self.setting}_PER_CLIENT"]))


# Reports filed (and attempts refused as abuse) in an hour.
REPORT = Bucket("report", timedelta(hours=1), "REPORT_LIMIT")
# Tracking codes that matched no report, in 10 minutes. Only failures count: a resident who
# opens their own case twenty times a day is never stopped, while guessing codes is nothing
# but failures.
TRACK = Bucket("track", timedelta(minutes=10), "TRACK_LIMIT")
BUCKETS = (REPORT, TRACK)

SESSION_ID = "abuse_id"  # the random id in the Flask session, hashed before it is stored


def session_key() -> str:
    """The keyed hash of this browser session's random id (made on first use)."""
    sid = session.get(SESSION_ID)
    if not isinstance(sid, str) or not sid:
        sid = secrets.token_urlsafe(18)
        session[SESSION_ID] = sid
    return keyed("session", sid)


def _keys() -> dict[str, str]:
    return {"session": session_key(), "client": client_key()}


@dataclass(frozen=True)
class Limited:
    """A request refused by a limit: which key reached it, and when to try again."""

    bucket: str
    by: str  # session or client
    retry_after: int  # seconds

    @property
    def minutes(self) -> int:
        return max(1, math.ceil(self.retry_after / 60))


@dataclass(frozen=True)
class Hit:
    """A request counted in a bucket: the rows that count it, and the refusal if it was one."""

    bucket: str
    ids: tuple[int, ...]
    limited: Limited | None


def hit(db: Session, bucket: Bucket) -> Hit:
    """Count this request in the bucket under both keys, then refuse it if that is too many.

    The hit is committed before anything is counted, and each count includes it: of many
    requests sent at once, each sees the others that came before it, so no more get through
    than the limit, whatever the interleaving. A refused request's hit is taken back, so a
    client that keeps knocking does not push its own wait further; the caller takes back the
    hit of a request that did nothing after all (`forgive`).

    When both keys are over their limit, the answer is the longer wait. The refusal is logged
    with the bucket and the start of the keyed hash, never the address nor anything the
    request carried.
    """
    keys = _keys()
    rows = [RateLimitHit(bucket=bucket.name, key=key) for key in keys.values()]
    db.add_all(rows)
    db.commit()
    ids = tuple(row.id for row in rows)
    now = utcnow()
    since = now - bucket.window
    window = (RateLimitHit.bucket == bucket.name, RateLimitHit.created_at >= since)
    counts = db.execute(select(*(func.count().filter(RateLimitHit.key == key)
                                 for key in keys.values()))
                        .where(*window, RateLimitHit.key.in_(list(keys.values())))).one()
    counted = dict(zip(keys, counts, strict=True))
    refusals = []
    for by, limit in bucket.limits():
        count = counted[by]
        if count <= limit:
            continue
        in_window = (*window, RateLimitHit.key == keys[by])
        # Without this request's hit, the count is at least the limit; another is let in when
        # the hit that keeps it there leaves the window.
        freeing = db.scalar(select(RateLimitHit.created_at)
                            .where(*in_window, RateLimitHit.id.not_in(ids))
                            .order_by(RateLimitHit.created_at, RateLimitHit.id)
                            .offset(count - 1 - limit).limit(1)) or now
        seconds = math.ceil((freeing + bucket.window - now).total_seconds())
        refusals.append(Limited(bucket.name, by, max(1, seconds)))
    if not refusals:
        return Hit(bucket.name, ids, None)
    _take_back(db, ids)
    refusal = max(refusals, key=lambda r: r.retry_after)
    log.warning("%s refused: rate limit per %s reached (key %s), retry after %ss",
                bucket.name, refusal.by, keys[refusal.by][:12], refusal.retry_after)
    return Hit(bucket.name, ids, refusal)


def forgive(db: Session, counted: Hit) -> None:
    """Take back the hit of a request that stored nothing and says nothing (a form with
    mistakes, a tracking code that matched): a person's slips do not use up the limit.
    Never for a refusal that tells something (a banned contact, the honeypot)."""
    _take_back(db, counted.ids)


def _take_back(db: Session, ids: tuple[int, ...]) -> None:
    db.execute(delete(RateLimitHit).where(RateLimitHit.id.in_(ids)))
    db.commit()


def prune_hits(session: Session) -> int:
    """Forget the hits that no longer count towards any limit (the `prune-rate-limit-hits` job)."""
    oldest_counted = utcnow() - max(bucket.window for bucket in BUCKETS)
    return session.execute(delete(RateLimitHit)
                           .where(RateLimitHit.created_at < oldest_counted)).rowcount


# -- banned contacts --------------------------------------------------------------------------

EMAIL_KIND, PHONE_KIND = "email", "phone"
# As the report form takes a phone number: digits with the usual separators.
PHONE = re.compile(r"^\+?[0-9 .()-]{8,20}$")


def normalise_email(value: str) -> str:
    return value.strip().lower()


def normalise_phone(value: str) -> str:
    """One spelling per Vietnamese number: +84 912 345 678, 0084912345678, 0912.345.678 and
    912345678 are all 0912345678; a foreign number keeps its country code after a +."""
    raw = value.strip()
    digits = "".join(ch for ch in raw if ch in "0123456789")
    international = raw.startswith("+") or digits.startswith("00")
    if international:
        digits = digits if raw.startswith("+") else digits[2:]
        if not digits.startswith("84"):
            return "+" + digits
        return "0" + digits[2:].lstrip("0")
    if digits.startswith("84") and len(digits) >= 11:
        return "0" + digits[2:].lstrip("0")  # the country code without its +
    return digits if digits.startswith("0") else "0" + digits


def kind_of(value: str) -> str | None:
    """email, phone, or None when the value is neither."""
    value = value.strip()
    if EMAIL.match(value):
        return EMAIL_KIND
    if PHONE.match(value) and len(normalise_phone(value)) >= 9:
        return PHONE_KIND
    return None


def normalise(kind: str, value: str) -> str:
    return normalise_email(value) if kind == EMAIL_KIND else normalise_phone(value)


def contact_key(kind: str, value: str) -> str:
    return keyed(f"contact-{kind}", normalise(kind, value))


def hint(kind: str, value: str) -> str:
    """What administrators see of a banned contact: enough to tell bans apart, no more."""
    value = normalise(kind, value)
    if kind == EMAIL_KIND:
        local, _, domain = value.rpartition("@")
        return f"{local[:1]}***@{domain}"[:80]
    return "*" * (len(value) - 3) + value[-3:]


def banned(db: Session, kind: str, value: str | None) -> BannedContact | None:
    """The ban that covers this email or phone, if any. A match is logged without the contact."""
    if not value or not value.strip():
        return None
    row = db.scalar(select(BannedContact)
                    .where(BannedContact.contact_key == contact_key(kind, value)))
    if row is not None:
        log.warning("report refused: its %s is on the ban list (ban %s)", kind, row.id)
    return row


def ban(db: Session, value: str, reason: str, by: User | None) -> BannedContact:
    """Put an email or phone on the ban list; the caller checked its shape and commits."""
    kind = kind_of(value)
    if kind is None:
        raise ValueError("neither an email address nor a phone number")
    row = BannedContact(contact_key=contact_key(kind, value), kind=kind, hint=hint(kind, value),
                        reason=reason, created_by_id=by.id if by else None)
    db.add(row)
    db.flush()
    log.info("contact banned: ban %s (%s) by user %s", row.id, kind, by.id if by else None)
    return row


def is_on_list(db: Session, value: str) -> bool:
    kind = kind_of(value)
    return kind is not None and db.scalar(
        select(func.count()).select_from(BannedContact)
        .where(BannedContact.contact_key == contact_key(kind, value))) > 0


def lift(db: Session, row: BannedContact, by: User | None) -> None:
    db.delete(row)
    log.info("ban %s (%s) lifted by user %s", row.id, row.kind, by.id if by else None)


def bans_page(db: Session, after: int | None = None, size: int = 50) -> tuple[list, int | None]:
    """One page of bans, newest first, and the key of the next page."""
    query = select(BannedContact).order_by(BannedContact.id.desc()).limit(size + 1)
    if after:
        query = query.where(BannedContact.id < after)
    rows = list(db.scalars(query))
    more = len(rows) > size
    rows = rows[:size]
    return rows, (rows[-1].id if more else None)
