"""The public scoreboard: every agency's record, and each agency's page with its trends."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("scoreboard", __name__)
