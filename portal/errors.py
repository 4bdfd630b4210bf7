"""Error pages: every error is a page in the person's language, never a stack trace."""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, g, render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

log = logging.getLogger(__name__)

MESSAGES = {
    400: _l("The request could not be understood."),
    403: _l("You may not open this page."),
    404: _l("There is nothing here. Check the address."),
    405: _l("This page cannot be used that way."),
    413: _l("What you sent is too large. Attach at most 5 evidence files of 10 MB each."),
    429: _l("Too many attempts. Wait a few minutes and try again."),
    500: _l("Something went wrong on our side. Nothing you sent was lost; try again later."),
}

# Refused whoever asks. A 404 is worth a line only when signed-in staff meet it in their own
# areas (another committee's or agency's case); anywhere else it is mostly crawlers.
REFUSED = {403, 405, 429}
STAFF_AREAS = {"moderation", "agency", "admin"}


def _page(code: int):
    return render_template("errors/error.html", code=code,
                           message=MESSAGES.get(code, MESSAGES[400])), code


def _endpoint() -> str:
    """The endpoint asked for; for a 405 routing found none, so the one the path belongs to."""
    if request.endpoint:
        return request.endpoint
    error = request.routing_exception
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        try:
            return current_app.create_url_adapter(request).match(
                method=sorted(error.valid_methods)[0])[0]
        except HTTPException:
            pass
    return "-"


def log_refusal(response: Response) -> Response:
    """One WARNING line per refused request: who (a user id), what (endpoint, method), status.

    Never the path, the query string, a form value, the client's address or a cookie: a
    refused request is often one that carries what it should not.
    """
    csrf = g.pop("csrf_refused", None)
    status = response.status_code
    staff_404 = (status == 404 and request.blueprint in STAFF_AREAS
                 and current_user.is_authenticated)
    if csrf is None and status not in REFUSED and not staff_404:
        return response
    # The id alone: `get_id()` is the id and the session token, a password to the session.
    user = current_user.id if current_user.is_authenticated else None
    log.warning("request refused: %s %s -> %s%s, user %s", request.method[:16], _endpoint(),
                status, f" ({csrf})" if csrf else "", user or "-")
    return response


def init_app(app: Flask) -> None:
    app.after_request(log_refusal)

    @app.errorhandler(CSRFError)
    def csrf_failed(error: CSRFError):
        from portal.citizen.views import csrf_failure_for

        # Flask-WTF's fixed reason ("The CSRF token has expired."), never the token itself.
        g.csrf_refused = f"CSRF: {error.description}"
        page = csrf_failure_for(request.endpoint)
        if page is not None:
            return page
        return render_template(
            "errors/error.html", code=400,
            message=_l("This form has expired or was not sent from this site. "
                       "Go back, reload the page and send it again.")), 400

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return _page(error.code or 500)

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        log.exception("unexpected error on %s %s", request.method, _endpoint())
        return _page(500)
