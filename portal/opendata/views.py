"""Open data: the scoreboard and anonymised cases as CSV and JSON downloads."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("opendata", __name__)
