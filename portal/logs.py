"""Logging that keeps no client address: the portal promises not to keep residents' IPs."""

from __future__ import annotations

import logging

REQUEST_LINE = " - - ["  # werkzeug: '<address> - - [<date>] "<request>" <status> -'


class DropClientAddress(logging.Filter):
    """Blanks the client address in request log lines of the development server and gunicorn."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if record.name == "werkzeug" and REQUEST_LINE in message:
            record.msg = "-" + message[message.index(REQUEST_LINE):]
        elif record.name == "gunicorn.access" and isinstance(record.args, dict):
            # gunicorn's atoms: h is the peer, and any request header ({...}i) may carry the
            # client's address (X-Forwarded-For, X-Real-IP, CF-Connecting-IP, ...).
            record.args = {key: ("-" if key == "h" or key.endswith("}i") else value)
                           for key, value in record.args.items()}
        return True


def init_app(app) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    for name in ("werkzeug", "gunicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropClientAddress) for f in logger.filters):
            logger.addFilter(DropClientAddress())
