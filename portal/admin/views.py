"""Administration pages."""

from __future__ import annotations

from flask import Blueprint

from portal.auth.permissions import require_roles
from portal.vocab import Role

blueprint = Blueprint("admin", __name__)


@blueprint.get("/")
@require_roles(Role.ADMIN, Role.SUPERVISOR)
def index():
    return "admin"
