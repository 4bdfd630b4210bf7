"""An Open311 GeoReport v2 server, so that existing civic apps can talk to the portal.

Every resource comes as `.xml` (text/xml) and `.json` (application/json), as in the frozen
specification (http://wiki.open311.org/GeoReport_v2). Thin: `portal.open311.services` holds
the rules, `portal.open311.serialise` writes the formats. Errors are the specification's
error list in the format asked for: 404 for what does not exist, 403 for a missing or bad
api_key, 400 for the rest of what a client did wrong, 500 for the server's own failures.

Clients authenticate with an API key, not a browser session, so the blueprint is exempt
from CSRF (see `portal.create_app`).
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, request
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException

from portal import outbox
from portal.db import get_session, utcnow
from portal.deadlines import today
from portal.open311 import keys, serialise, services
from portal.open311.services import Open311Error

log = logging.getLogger(__name__)

blueprint = Blueprint("open311", __name__)

FORMAT = "<any(json, xml):fmt>"


def _format() -> str:
    fmt = (request.view_args or {}).get("fmt")
    if fmt in ("json", "xml"):
        return fmt
    return "json" if request.path.endswith(".json") else "xml"


@blueprint.errorhandler(Open311Error)
def refused(error: Open311Error):
    return serialise.errors(_format(), error.status, error.problems)


@blueprint.errorhandler(HTTPException)
def http_error(error: HTTPException):
    # The specification's codes: 404 and 403 as they are, 400 for any other failure; a
    # refused method or an oversized body keep their own HTTP meaning.
    status = error.code if error.code in (403, 404, 405, 413) else 400
    return serialise.errors(_format(), status, [(status, error.description or error.name)])


# What only a client's values cause, should one slip past the checks of `services`: a date
# or number out of range, a value the database refuses (PostgreSQL: NUL in a text).
CLIENT_ERRORS = (OverflowError, DataError)


@blueprint.errorhandler(Exception)
def unexpected(error: Exception):
    get_session().rollback()
    if isinstance(error, CLIENT_ERRORS):
        # Anyone can send these: a line to notice them by, not a stack trace for every
        # anonymous request, and nothing of the values (they may be a reporter's).
        log.warning("Open311: %s on %s %r, refused as a bad request", type(error).__name__,
                    request.method, request.path[:200])
        return serialise.errors(_format(), 400, [(400, "General service error: a value of the "
                                                       "request is out of range or not "
                                                       "accepted; nothing was stored.")])
    log.exception("Open311: unexpected error on %s %r", request.method, request.path[:200])
    return serialise.errors(_format(), 500, [(500, "General service error: the request could "
                                                   "not be processed and nothing was stored. "
                                                   "Try again later.")])


@blueprint.after_request
def public_reads(response: Response) -> Response:
    # What GET returns is public and needs no cookie: browser apps of any origin may read it.
    if request.method in ("GET", "HEAD"):
        response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _jurisdiction() -> None:
    services.check_jurisdiction(request.values.get("jurisdiction_id"))


# -- discovery and services -------------------------------------------------------------------


@blueprint.get(f"/discovery.{FORMAT}")
def discovery(fmt: str):
    settings = current_app.config["PORTAL_SETTINGS"]
    changeset = f"{today().isoformat()} 00:00"  # definitions follow the agencies
    body = {
        "changeset": changeset,
        "contact": "Hanoi accountability portal, for the Vietnam Fatherland Front committee of "
                   f"Hanoi: {settings.base_url}",
        "key_service": "API keys for posting requests are issued by the portal's "
                       f"administrators: ask through {settings.base_url}",
        "endpoints": [{
            "specification": services.SPECIFICATION,
            "url": f"{settings.base_url}/open311/v2",
            "changeset": changeset,
            "type": "production" if settings.environment == "production" else "test",
            "formats": ["text/xml", "application/json"],
        }],
    }
    return serialise.respond(fmt, "discovery", body)


@blueprint.get(f"/services.{FORMAT}")
def service_list(fmt: str):
    _jurisdiction()
    return serialise.respond(fmt, "services", services.service_list())


@blueprint.get(f"/services/<code>.{FORMAT}")
def service_definition(code: str, fmt: str):
    _jurisdiction()
    return serialise.respond(fmt, "service_definition",
                             services.service_definition(get_session(), code))


# -- requests ---------------------------------------------------------------------------------


@blueprint.post(f"/requests.{FORMAT}")
def create_request(fmt: str):
    params = request.values  # the form body, and an api_key some clients put in the URL
    db = get_session()
    presented = params.get("api_key")
    if not (presented or "").strip():
        raise Open311Error(403, "api_key was not provided -- can't proceed with create_request.")
    key = keys.find_active(db, presented)
    if key is None:
        raise Open311Error(403, "Invalid api_key received -- can't proceed with create_request.")
    _jurisdiction()
    # lat, long, address_id, device_id, account_id and media_url are read by nothing: the
    # portal keeps no location of the reporter and takes evidence only through its own form.
    form = services.validate_report(db, params)
    filed = services.file_report(db, key, form, current_app.config["SECRET_KEY"], utcnow())
    db.commit()  # the case exists before anything is handed out
    outbox.deliver_after_response(db)
    body = services.created_response(filed, current_app.config["PORTAL_SETTINGS"].base_url)
    return serialise.respond(fmt, "service_requests", body)


@blueprint.get(f"/requests.{FORMAT}")
def request_list(fmt: str):
    _jurisdiction()
    db = get_session()
    query = services.parse_query(request.args, utcnow())
    cases = services.find_requests(db, query)
    return serialise.respond(fmt, "service_requests", services.request_views(db, cases))


@blueprint.get(f"/requests/<request_id>.{FORMAT}")
def request_one(request_id: str, fmt: str):
    _jurisdiction()
    db = get_session()
    case = services.case_by_reference(db, request_id)
    if case is None:
        raise Open311Error(404, f"service_request_id '{services.echo(request_id)}' was not found.")
    return serialise.respond(fmt, "service_requests", services.request_views(db, [case]))


@blueprint.get(f"/tokens/<token>.{FORMAT}")
def token(token: str, fmt: str):
    """A token is the request's own reference: the id exists as soon as the request does."""
    _jurisdiction()
    case = services.case_by_reference(get_session(), token)
    if case is None:
        raise Open311Error(404, f"token '{services.echo(token)}' was not found.")
    return serialise.respond(fmt, "service_requests",
                             [{"service_request_id": case.reference, "token": case.reference}])


# -- anything else under /open311/v2 ----------------------------------------------------------


@blueprint.route("/", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@blueprint.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def not_found(rest: str = ""):
    """The specification's error body rather than the site's HTML page."""
    fmt = _format()
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = [method for method in ("GET", "POST") if _served(adapter, method)]
    if allowed:
        response = serialise.errors(fmt, 405, [(405, f"{request.method} is not allowed on "
                                                     f"{request.path}; use {' or '.join(allowed)}.")])
        response.headers["Allow"] = ", ".join(allowed + (["HEAD"] if "GET" in allowed else []))
        return response
    raise Open311Error(404, f"Nothing at {request.path}: see discovery.xml for the resources.")


def _served(adapter, method: str) -> bool:
    """Whether a resource of the API (not this catch-all) answers `method` at this path."""
    try:
        endpoint, _args = adapter.match(method=method)
    except HTTPException:
        return False
    return endpoint != request.endpoint
