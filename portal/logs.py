"""Logging that keeps no client address and no secret of a URL.

The portal promises not to keep residents' IP addresses. The servers' request lines would
also carry query strings (where anything may be put) and the token of an invitation link
(`/account/activate/<token>`), which is a password until it is used: both are cut out. The
tracking pages' path, `/track/<reference>`, holds the case's public reference, never the
tracking code, which is only ever sent in a POST body.

A database error is logged without its message, which may quote the values of the row (a
report's text, an email address, a session token): see `_database_error_text`.
"""

from __future__ import annotations

import logging
import re
import traceback

REQUEST_LINE = " - - ["  # werkzeug: '<address> - - [<date>] "<request>" <status> -'
# Path segments that are secrets: what follows these prefixes, up to the next "/" or "?".
SECRET_SEGMENT = re.compile(r"(/account/activate/)[^/?\s\x1b]+")
# The query string, up to the protocol that ends a request line (kept), or the end.
QUERY = re.compile(r"\?.*?(?=\s+HTTP/\S*$|$)", re.DOTALL)


def redact_url(text: str) -> str:
    """A request line, path or URL without its query string and without secret segments."""
    return QUERY.sub("?-", SECRET_SEGMENT.sub(r"\1-", text), count=1)


# gunicorn's atoms that are dropped whole: the peer's address, the referrer (a URL of the
# portal, query string and all), and every request header ({...}i: X-Forwarded-For, Cookie,
# ...), response header ({...}o: Set-Cookie) and environ variable ({...}e: REMOTE_ADDR).
_GUNICORN_DROPPED = ("h", "f")
_GUNICORN_URLS = ("r", "U")


class DropClientAddress(logging.Filter):
    """Blanks the client address and secrets of the URL in the servers' request log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if record.name == "werkzeug" and REQUEST_LINE in message:
            record.msg = "-" + message[message.index(REQUEST_LINE):]
            if isinstance(record.args, tuple):
                record.args = tuple(redact_url(a) if isinstance(a, str) else a for a in record.args)
        elif record.name == "gunicorn.access" and isinstance(record.args, dict):
            # Changed in place: gunicorn's dict answers "-" for atoms the format names but
            # the request lacks, and is case-insensitive for headers; a copy would not be.
            args = record.args
            for key, value in list(args.items()):
                if key in _GUNICORN_DROPPED or key[-2:] in ("}i", "}o", "}e"):
                    args[key] = "-"
                elif key == "q":
                    args[key] = "-" if value else value
                elif key in _GUNICORN_URLS and isinstance(value, str):
                    args[key] = redact_url(value)
        return True


def _is_database_error(exc: BaseException) -> bool:
    from sqlalchemy.exc import StatementError

    return isinstance(exc, StatementError) or type(exc).__module__.split(".")[0] in (
        "psycopg", "sqlite3")


def _database_error_text(exc: BaseException) -> str:
    """A traceback whose database errors say what failed, never with which values.

    PostgreSQL's messages quote them ("DETAIL: Failing row contains (...)", "Key (email)=(...)
    already exists", 'invalid input syntax for type integer: "..."'), and a failing row may be
    a report or a user with their session token. Kept: the type, the SQLSTATE, the table,
    column and constraint, and the statement (placeholders only; `hide_parameters` in
    `portal.db` keeps SQLAlchemy from adding the values).
    """
    chain: list[str] = []
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        message = str(exc)
        if _is_database_error(exc):
            diag = getattr(exc, "diag", None)
            message = " ".join(f"{name}={value}" for name, value in (
                ("sqlstate", getattr(exc, "sqlstate", None)),
                ("table", getattr(diag, "table_name", None)),
                ("column", getattr(diag, "column_name", None)),
                ("constraint", getattr(diag, "constraint_name", None))) if value)
            message = f"(message left out: it may quote values) {message}".rstrip()
            if getattr(exc, "statement", None):
                message += f"\n[SQL: {exc.statement}]"
        kind = f"{type(exc).__module__}.{type(exc).__qualname__}"
        chain.append("Traceback (most recent call last):\n"
                     + "".join(traceback.format_tb(exc.__traceback__)) + f"{kind}: {message}")
        cause = exc.__cause__
        exc = cause if cause is not None or exc.__suppress_context__ else exc.__context__
    return "\n\nThe above exception led to the following exception:\n\n".join(reversed(chain))


def _without_database_values(make_record):
    def make(*args, **kwargs) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        exc = record.exc_info[1] if record.exc_info else None
        chain, seen = exc, set()
        while chain is not None and id(chain) not in seen:
            seen.add(id(chain))
            if _is_database_error(chain):
                # Formatters print exc_text when there is no exc_info: the text, not the error.
                record.exc_text, record.exc_info = _database_error_text(exc), None
                break
            chain = chain.__cause__ or chain.__context__
        return record

    make.portal_without_database_values = True
    return make


def init_app(app) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # At DEBUG, Pillow prints the EXIF values of the photos it decodes (a description, an author,
    # a camera owner's name): never below INFO, whatever the root's level.
    logging.getLogger("PIL").setLevel(logging.INFO)
    if not getattr(logging.getLogRecordFactory(), "portal_without_database_values", False):
        logging.setLogRecordFactory(_without_database_values(logging.getLogRecordFactory()))
    for name in ("werkzeug", "gunicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropClientAddress) for f in logger.filters):
            logger.addFilter(DropClientAddress())
