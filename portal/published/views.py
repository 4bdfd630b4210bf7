"""Published answers: resolved cases whose reporter agreed, with the Front-reviewed text."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("published", __name__)
