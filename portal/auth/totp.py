"""The staff second factor: RFC 6238 time-based codes, the sealed secret, one-time recovery codes.

Written with hmac/hashlib so that what an authenticator app computes can be read here:
SHA-1, 30-second steps, 6 digits, the settings every app understands. A code is accepted
in the current step or the one before or after it (a phone's clock drifts), and only once:
the accepted step is kept in `User.totp_last_step` and no step up to it is accepted again.

The secret is sealed with AES-GCM under a key derived from SECRET_KEY, bound to the user's
id, so the database alone (a backup, a replica, a leaked dump) does not give it away.
Recovery codes are kept as keyed hashes only; each one works once.

A secret being set up is not stored at all: it is made fresh for each set-up and kept, sealed,
in the signed session of the browser that started it (see `seal_setup`), and written to the
user only by `confirm`, with the first right code. Whoever else holds the password sees
another key in another browser, and no key of theirs ever becomes the user's.

`python -m portal.auth.totp BASE32` prints the current code for a secret, as an app would:
handy with the published demo secret in development.
"""

from __future__ import annotations

import base64
import hmac
import logging
import secrets
import struct
import sys
import time
from urllib.parse import quote, urlencode

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from portal.db import utcnow
from portal.keyed import keyed
from portal.models import RecoveryCode, User
from portal.vocab import Role

STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1  # accept the step before and the one after the current one
SECRET_BYTES = 20  # 160 bits, the length RFC 4226 recommends for HMAC-SHA-1
ISSUER = "Cổng phản ánh Hà Nội"
# The roles that cannot work without a second factor; the others may turn it on.
REQUIRED_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})

RECOVERY_COUNT = 10
RECOVERY_LENGTH = 10
# No 0/o, 1/l/i: a code copied onto paper is read back without doubt (about 50 bits each).
RECOVERY_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"

log = logging.getLogger(__name__)

_SEAL_VERSION = "v1"
_SEAL_INFO = b"portal:totp-secret:v1"


# -- RFC 4226 / RFC 6238 ----------------------------------------------------------------------

def hotp(key: bytes, counter: int, digits: int = DIGITS, digest: str = "sha1") -> str:
    """RFC 4226: the code for one counter value."""
    mac = hmac.new(key, struct.pack(">Q", counter), digest).digest()
    offset = mac[-1] & 0x0F
    number = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


def step_at(when: float) -> int:
    return int(when // STEP_SECONDS)


def current_step() -> int:
    return step_at(time.time())


def code_at(key: bytes, when: float, digits: int = DIGITS, digest: str = "sha1") -> str:
    """RFC 6238: the code an authenticator shows at `when` (seconds since the epoch)."""
    return hotp(key, step_at(when), digits, digest)


def code_for_step(key: bytes, step: int) -> str:
    return hotp(key, step)


# -- the secret, as a person and an app see it ----------------------------------------------

def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def to_base32(key: bytes) -> str:
    return base64.b32encode(key).decode("ascii").rstrip("=")


def from_base32(text: str) -> bytes:
    cleaned = "".join(text.split()).replace("-", "").upper()
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))


def grouped(text: str, size: int = 4) -> str:
    """ABCD EFGH …: a long key is typed into an app four letters at a time."""
    return " ".join(text[i:i + size] for i in range(0, len(text), size))


def provisioning_uri(key: bytes, account: str) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    label = quote(f"{ISSUER}:{account}", safe="@:")
    query = urlencode({"secret": to_base32(key), "issuer": ISSUER, "algorithm": "SHA1",
                       "digits": DIGITS, "period": STEP_SECONDS}, quote_via=quote)
    return f"otpauth://totp/{label}?{query}"


def qr_svg(uri: str) -> str:
    """The QR code as inline SVG, made here: the secret never goes to another host."""
    import segno

    return segno.make(uri, error="m").svg_inline(scale=4, border=4, dark="#000", light="#fff")


# -- sealing the secret at rest ----------------------------------------------------------------

def _seal_key(secret_key: str | None) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    if secret_key is None:
        from flask import current_app

        secret_key = current_app.config["SECRET_KEY"]
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=_SEAL_INFO).derive(secret_key.encode())


def _seal(key: bytes, context: str, secret_key: str | None) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = secrets.token_bytes(12)
    sealed = AESGCM(_seal_key(secret_key)).encrypt(nonce, key, context.encode())
    return f"{_SEAL_VERSION}:{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"


def _unseal(sealed: str | None, context: str, secret_key: str | None) -> bytes | None:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if not sealed or not isinstance(sealed, str):
        return None
    version, _, body = sealed.partition(":")
    if version != _SEAL_VERSION:
        return None
    try:
        raw = base64.urlsafe_b64decode(body.encode("ascii"))
        return AESGCM(_seal_key(secret_key)).decrypt(raw[:12], raw[12:], context.encode())
    except (InvalidTag, ValueError):
        return None


def seal(key: bytes, user_id: int, secret_key: str | None = None) -> str:
    """The secret encrypted for the users table; bound to the user, so it cannot be moved."""
    return _seal(key, f"user:{user_id}", secret_key)


def unseal(sealed: str | None, user_id: int, secret_key: str | None = None) -> bytes | None:
    """The secret, or None when there is none or it cannot be opened (SECRET_KEY changed)."""
    return _unseal(sealed, f"user:{user_id}", secret_key)


def _setup_context(user: User) -> str:
    # Bound to the user's current sessions too: ending them (a password change, a reset, a
    # confirmed set-up elsewhere) voids every set-up still open.
    return f"setup:{user.id}:{user.session_token}"


def seal_setup(key: bytes, user: User, secret_key: str | None = None) -> str:
    """A secret being set up, sealed for the signed session of the browser that set it up.

    The session cookie is signed, not encrypted: sealed, it does not show the key to whoever
    reads the cookie (a proxy's log, a shared computer), and it opens only for this user.
    """
    return _seal(key, _setup_context(user), secret_key)


def unseal_setup(sealed: str | None, user: User, secret_key: str | None = None) -> bytes | None:
    """The secret this browser is setting up, or None (none, another user's, sessions ended)."""
    return _unseal(sealed, _setup_context(user), secret_key)


# -- a user's second factor --------------------------------------------------------------------

def is_enabled(user: User) -> bool:
    return user.totp_confirmed_at is not None and bool(user.totp_secret)


def is_required(user: User) -> bool:
    return user.role in REQUIRED_ROLES


def must_enrol(user: User) -> bool:
    """A supervisor or administrator who has not set up the second factor yet."""
    return is_required(user) and not is_enabled(user)


def enable(user: User, key: bytes, secret_key: str | None = None) -> None:
    """Sets the second factor as confirmed with `key` (the factories and the demo use it)."""
    user.totp_secret = seal(key, user.id, secret_key)
    user.totp_confirmed_at = utcnow()
    user.totp_last_step = None


def clear(session: Session, user: User) -> None:
    """No second factor and no recovery codes any more."""
    user.totp_secret = None
    user.totp_confirmed_at = None
    user.totp_last_step = None
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))


def _digits(code: str) -> str | None:
    cleaned = "".join(code.split()).replace("-", "")
    return cleaned if len(cleaned) == DIGITS and cleaned.isascii() and cleaned.isdigit() else None


def is_app_code(code: str) -> bool:
    """Shaped like a code from the app (six digits), not like a recovery code."""
    return _digits(code) is not None


def _matching_step(user: User, key: bytes, code: str, when: float | None) -> int | None:
    """The time step for which `code` is right under `key` and not used yet, if any."""
    digits = _digits(code)
    if digits is None:
        return None
    now = step_at(time.time() if when is None else when)
    last = user.totp_last_step
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if last is not None and step <= last:
            continue
        if hmac.compare_digest(hotp(key, step), digits):
            return step
    return None


def _step_unused(step: int):
    return (User.totp_last_step.is_(None)) | (User.totp_last_step < step)


def verify(session: Session, user: User, code: str, when: float | None = None) -> bool:
    """True once for a right code: its time step is claimed, so it cannot be used again.

    The claim is one conditional UPDATE, so two requests carrying the same code at the same
    moment cannot both succeed.
    """
    key = unseal(user.totp_secret, user.id)
    if key is None and user.totp_secret:
        log.error("the second-factor secret of user %s cannot be opened: was SECRET_KEY changed?"
                  " `flask user reset-two-factor` lets them set it up again", user.id)
    step = None if key is None else _matching_step(user, key, code, when)
    return step is not None and _claim_step(session, user, step)


def _claim_step(session: Session, user: User, step: int) -> bool:
    claimed = session.execute(
        update(User)
        .where(User.id == user.id, _step_unused(step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        return False
    set_committed_value(user, "totp_last_step", step)
    return True


def confirm(session: Session, user: User, key: bytes, code: str, when: float | None = None) -> bool:
    """Turns the second factor on with `key`, the one being set up, if `code` is right for it.

    Only now is the secret written to the user, in one conditional UPDATE that also claims the
    code's step: of two set-ups confirmed at the same moment (two browsers, two keys) exactly
    one wins, and the other's key never becomes valid. The caller commits.
    """
    step = _matching_step(user, key, code, when)
    if step is None:
        return False
    sealed, now = seal(key, user.id), utcnow()
    done = session.execute(
        update(User)
        .where(User.id == user.id, User.totp_confirmed_at.is_(None), _step_unused(step))
        .values(totp_secret=sealed, totp_confirmed_at=now, totp_last_step=step)
        .execution_options(synchronize_session=False))
    if done.rowcount != 1:
        return False
    set_committed_value(user, "totp_secret", sealed)
    set_committed_value(user, "totp_confirmed_at", now)
    set_committed_value(user, "totp_last_step", step)
    return True


# -- recovery codes ----------------------------------------------------------------------------

def normalise_recovery(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def recovery_hash(user_id: int, code: str, secret_key: str | None = None) -> str:
    return keyed("recovery", f"{user_id}:{normalise_recovery(code)}", secret_key)


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
    half = RECOVERY_LENGTH // 2
    return f"{raw[:half]}-{raw[half:]}"


def new_recovery_codes(session: Session, user: User) -> list[str]:
    """Ten new codes in place of all the old ones; returned once, to be shown once."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes: list[str] = []
    while len(codes) < RECOVERY_COUNT:
        code = _new_recovery_code()
        if code not in codes:
            codes.append(code)
    session.add_all(RecoveryCode(user_id=user.id, code_hash=recovery_hash(user.id, code))
                    for code in codes)
    session.flush()
    return codes


def use_recovery_code(session: Session, user: User, code: str) -> bool:
    """True once for each unused recovery code of the user."""
    cleaned = normalise_recovery(code)
    if len(cleaned) != RECOVERY_LENGTH or not cleaned.isascii():
        return False
    used = session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.user_id == user.id,
               RecoveryCode.code_hash == recovery_hash(user.id, cleaned),
               RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False))
    return used.rowcount == 1


def recovery_codes_left(session: Session, user: User) -> int:
    return session.scalar(select(func.count()).select_from(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))) or 0


if __name__ == "__main__":  # pragma: no cover - a developer's convenience
    if len(sys.argv) != 2:
        sys.exit("usage: python -m portal.auth.totp BASE32-SECRET")
    print(code_at(from_base32(sys.argv[1]), time.time()))  # noqa: T201
