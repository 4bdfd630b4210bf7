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


# -- a tracking code written in a text ------------------------------------------------------

_GROUP_SIZE = 4
_GROUP = f"[{TRACKING_ALPHABET}]{{{_GROUP_SIZE}}}"
_SPACE = r"[^\S\r\n]"  # a space, a tab, a no-break space: not a line break
# What /track ignores between the groups (`normalise_tracking_code` keeps letters and digits
# only) and people write: a hyphen or a dash, a dot, an underscore, a slash, maybe spaced out;
# or a space or two; or nothing at all.
_MARK = "[-\u2010-\u2015\u2212._/]"
_PARTING = rf"(?:{_SPACE}{{0,2}}{_MARK}{_SPACE}{{0,2}}|{_SPACE}{{1,3}})?"
_CODE_IN_TEXT = re.compile(
    rf"(?<!\w){_GROUP}(?:{_PARTING}{_GROUP}){{{CODE_LENGTH // _GROUP_SIZE - 1}}}(?!\w)",
    re.IGNORECASE)
_DASH = "[-\u2010-\u2015\u2212]"
# Partings that ordinary words have too (a dash, even spaced out, is not one of them).
_WORDLIKE_PARTING = re.compile(r"[\s._/]")
_SPACED_DASH = re.compile(rf"\s*({_DASH})\s*")


def tracking_code_in(text: str | None) -> str | None:
    """The first thing in the text that /track would take as a tracking code, if any.

    Any code-shaped string, whether or not a case has it: otherwise the report form would tell
    whoever sends it whether a code exists, a way round the tracking lookups' limit.

    Written in capitals, as codes are printed, or in lower case run together or parted by
    dashes, it is a code. Groups in lower case parted by spaces, dots, underscores or slashes
    are also what four short words of unaccented Vietnamese look like ("dang ngay nhan phat"),
    or words and a number: those count as a code only when a group mixes letters and digits,
    as words and numbers do not and nearly every code does (all but about one in 130, which
    then slip through in that one spelling). Four groups of digits alone (a bank card) are
    no code either.
    """
    text = text or ""
    at = 0
    while (match := _CODE_IN_TEXT.search(text, at)) is not None:
        found = match.group(0)
        groups = _groups(found)
        if not all(g.isdigit() for g in groups):
            if found == found.upper() or not _WORDLIKE_PARTING.search(
                    _SPACED_DASH.sub(r"\1", found)):
                return found
            if _mixed(groups):
                return _best_overlapping(text, match)
        at = match.start() + 1  # a code may start inside what looked like words
    return None


def _groups(found: str) -> list[str]:
    return re.findall(_GROUP, found, re.IGNORECASE)


def _mixed(groups: list[str]) -> int:
    return sum(1 for g in groups if not g.isalpha() and not g.isdigit())


def _best_overlapping(text: str, match: re.Match) -> str:
    """Of the code-shaped strings starting within this one, the one most like a code: in
    "nhan k7xq m2pa 9rtz h3vd" the person is told to remove the code, not the word before."""
    best, score = match.group(0), _mixed(_groups(match.group(0)))
    at = match.start() + 1
    while (other := _CODE_IN_TEXT.search(text, at)) is not None and other.start() < match.end():
        if (mixed := _mixed(_groups(other.group(0)))) > score:
            best, score = other.group(0), mixed
        at = other.start() + 1
    return best
