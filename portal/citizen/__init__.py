"""The citizen's side: home page, the report form, the receipt and case tracking."""

from flask import Blueprint

blueprint = Blueprint("citizen", __name__)

from portal.citizen import views  # noqa: E402, F401 - registers the routes
