"""Error pages: every error is a page in the person's language, never a stack trace."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

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


def _page(code: int):
    return render_template("errors/error.html", code=code,
                           message=MESSAGES.get(code, MESSAGES[400])), code


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_failed(_error):
        from portal.citizen.views import csrf_failure_for

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
        log.exception("unexpected error on %s %s", request.method, request.path)
        return _page(500)
