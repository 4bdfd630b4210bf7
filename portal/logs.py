"""Logging that keeps no client address: the portal promises not to keep residents' IPs."""

from __future__ import annotations

import logging
import re

# IPv4 and IPv6 addresses as the development server and gunicorn print them.
_ADDRESS = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b|\b(?:[0-9a-fA-F]{0,4}:){2,7}[0-9a-fA-F]{0,4}\b")


class DropClientAddress(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _ADDRESS.sub("-", record.getMessage())
        record.args = None
        return True


def init_app(app) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    for name in ("werkzeug", "gunicorn.access", "gunicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropClientAddress) for f in logger.filters):
            logger.addFilter(DropClientAddress())
