"""The Front's pages: thin views over the queue, the lifecycle and the review services."""

from __future__ import annotations

from flask import Blueprint

from portal.auth.permissions import require_roles
from portal.vocab import FRONT_ROLES

blueprint = Blueprint("moderation", __name__)


@blueprint.get("/")
@require_roles(*FRONT_ROLES)
def queue():
    return "queue"
