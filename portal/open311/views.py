"""An Open311 GeoReport v2 server, so that existing civic apps can talk to the portal."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("open311", __name__)
