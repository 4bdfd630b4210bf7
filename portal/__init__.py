"""The Hanoi accountability portal: the application factory."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from portal.config import ConfigError, flask_config, load_settings

ROOT = Path(__file__).resolve().parent.parent

__all__ = ["ConfigError", "create_app"]


class IdConverter(IntegerConverter):
    """A row id in a URL: a positive number a database column can hold; anything else is a 404."""

    def __init__(self, url_map):
        super().__init__(url_map, min=1, max=2**31 - 1)


def create_app(environ: dict[str, str] | None = None,
               instance_path: str | Path | None = None) -> Flask:
    """Build the portal from settings in the environment (or `environ`, for tests)."""
    instance = Path(instance_path or ROOT / "instance")
    settings = load_settings(instance, environ)
    app = Flask(
        __name__,
        instance_path=str(instance),
        template_folder=str(ROOT / "templates"),
        static_folder="static",
    )
    app.config.update(flask_config(settings))
    app.url_map.converters["id"] = IdConverter
    if settings.trusted_proxies:
        # Behind nginx or a load balancer every request comes from the proxy: without this,
        # all residents would share one address and one sign-in throttle.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies,
                                x_proto=settings.trusted_proxies,
                                x_host=settings.trusted_proxies)
    from portal import cli, db, errors, i18n, logs, security
    from portal.extensions import csrf, login_manager

    logs.init_app(app)
    db.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.session_protection = "strong"
    login_manager.login_view = "auth.sign_in"
    i18n.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    cli.init_app(app)

    from moderation.views import blueprint as moderation
    from portal.admin.views import blueprint as admin
    from portal.agency.views import blueprint as agency
    from portal.auth.views import blueprint as auth
    from portal.citizen.views import blueprint as citizen
    from portal.open311.views import blueprint as open311
    from portal.opendata.views import blueprint as opendata
    from portal.published.views import blueprint as published
    from portal.scoreboard.views import blueprint as scoreboard

    app.register_blueprint(citizen)
    app.register_blueprint(auth)
    app.register_blueprint(moderation, url_prefix="/moderation")
    app.register_blueprint(admin, url_prefix="/admin")
    app.register_blueprint(agency, url_prefix="/agency")
    app.register_blueprint(scoreboard)
    app.register_blueprint(published)
    app.register_blueprint(opendata)
    # Open311 clients authenticate with an API key, not a browser session: no CSRF token.
    csrf.exempt(open311)
    app.register_blueprint(open311, url_prefix="/open311/v2")

    from portal import jobs

    jobs.init_app(app)
    return app
