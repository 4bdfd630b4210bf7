"""Tracking codes: the reporter's only key to a report.

A code from the web form is derived from the form's one-time token with the
server's secret key. The database keeps only the code's hash, yet the receipt can be
shown again to the browser that sent a form twice, and the receipt email can carry
the code without the code ever being written to the outbox.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

TRACKING_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"  # no 0/O, 1/I/L, U
CODE_LENGTH = 16  # 30**16: about 78 bits, far beyond guessing
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{32}")


def new_submission_token() -> str:
    return secrets.token_urlsafe(24)


def is_submission_token(value: str) -> bool:
    return bool(TOKEN_PATTERN.fullmatch(value or ""))


def _format(number: int) -> str:
    symbols = []
    for _ in range(CODE_LENGTH):
        number, digit = divmod(number, len(TRACKING_ALPHABET))
        symbols.append(TRACKING_ALPHABET[digit])
    raw = "".join(symbols)
    return "-".join(raw[i:i + 4] for i in range(0, CODE_LENGTH, 4))


def new_tracking_code() -> str:
    return _format(secrets.randbelow(len(TRACKING_ALPHABET) ** CODE_LENGTH))


def tracking_code_for(secret_key: str, submission_token: str) -> str:
    digest = hmac.new(secret_key.encode(), b"tracking-code:" + submission_token.encode(),
                      hashlib.sha256).digest()
    return _format(int.from_bytes(digest, "big"))


def normalise_tracking_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def hash_tracking_code(code: str) -> str:
    return hashlib.sha256(normalise_tracking_code(code).encode()).hexdigest()


def looks_like_tracking_code(code: str) -> bool:
    code = normalise_tracking_code(code)
    return len(code) == CODE_LENGTH and all(ch in TRACKING_ALPHABET for ch in code)
