"""Settings, read once from the environment.

Every setting the portal needs is named here. A wrong or missing value stops
start-up with a message that names the variable, never a traceback deep in a
request.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

ENVIRONMENTS = ("development", "production", "test")
# The rate limits of the anonymous side and their defaults (see portal.abuse).
RATE_LIMITS = {
    "REPORT_LIMIT_PER_SESSION": 5,
    "REPORT_LIMIT_PER_CLIENT": 20,
    "TRACK_LIMIT_PER_SESSION": 30,
    "TRACK_LIMIT_PER_CLIENT": 100,
}


class ConfigError(Exception):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Settings:
    environment: str
    secret_key: str
    database_url: str
    redis_url: str | None
    mail_url: str | None
    upload_dir: Path
    base_url: str
    instance_path: Path
    # How many reverse proxies stand before the app: their X-Forwarded-* headers are believed.
    trusted_proxies: int = 0
    # How long a relay's or worker's claim on an outbox row lasts, and the first retry's wait.
    outbox_lease_seconds: int = 600
    outbox_retry_seconds: int = 30
    # The anonymous side's rate limits (portal.abuse): reports an hour, failed tracking-code
    # lookups in 10 minutes, per browser session and per client address.
    report_limit_per_session: int = RATE_LIMITS["REPORT_LIMIT_PER_SESSION"]
    report_limit_per_client: int = RATE_LIMITS["REPORT_LIMIT_PER_CLIENT"]
    track_limit_per_session: int = RATE_LIMITS["TRACK_LIMIT_PER_SESSION"]
    track_limit_per_client: int = RATE_LIMITS["TRACK_LIMIT_PER_CLIENT"]

    @property
    def development(self) -> bool:
        return self.environment != "production"


def _development_secret(instance_path: Path) -> str:
    """A random key kept under instance/, so a laptop keeps its sessions across restarts."""
    path = instance_path / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


def _check_database_url(value: str) -> str:
    try:
        url = make_url(value)
    except ArgumentError as exc:
        raise ConfigError(f"DATABASE_URL is not a database URL: {exc}") from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError("DATABASE_URL must be an sqlite:/// or postgresql+psycopg:// URL")
    if url.get_backend_name() == "postgresql":
        # Providers hand out postgresql:// URLs; the portal ships the psycopg (3) driver.
        if url.drivername == "postgresql":
            return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        if url.get_driver_name() != "psycopg":
            raise ConfigError("DATABASE_URL for PostgreSQL must use the psycopg driver: "
                              "postgresql+psycopg://user@host/db")
    return value


def _check_url(name: str, value: str, schemes: tuple[str, ...]) -> str:
    parts = urlsplit(value)
    if parts.scheme not in schemes or not (parts.netloc or parts.path):
        raise ConfigError(f"{name} must be a URL starting with {' or '.join(s + '://' for s in schemes)}"
                          f" (got {value!r})")
    return value


def load_settings(instance_path: Path, environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    environment = env.get("PORTAL_ENV", "production")
    if environment not in ENVIRONMENTS:
        raise ConfigError(f"PORTAL_ENV must be one of {', '.join(ENVIRONMENTS)} (got {environment!r})")

    secret_key = env.get("SECRET_KEY", "")
    if environment == "production":
        if not secret_key:
            raise ConfigError("SECRET_KEY is required in production; set it to a long random value "
                              "(or set PORTAL_ENV=development on a laptop)")
        if len(secret_key) < 32:
            raise ConfigError("SECRET_KEY must be at least 32 characters long")
    elif not secret_key:
        secret_key = _development_secret(instance_path)

    database_url = _check_database_url(
        env.get("DATABASE_URL") or f"sqlite:///{instance_path / 'portal.sqlite3'}"
    )
    redis_url = env.get("REDIS_URL") or None
    if redis_url:
        _check_url("REDIS_URL", redis_url, ("redis", "rediss", "unix"))
    mail_url = env.get("MAIL_URL") or None
    if mail_url:
        _check_url("MAIL_URL", mail_url, ("smtp", "smtps", "file"))
    elif environment == "production":
        raise ConfigError("MAIL_URL is required in production, e.g. smtp://user:password@host:587")

    upload_dir = Path(env.get("UPLOAD_DIR") or instance_path / "uploads")
    try:
        upload_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"UPLOAD_DIR {str(upload_dir)!r} cannot be created: {exc.strerror}") from None
    if not os.access(upload_dir, os.W_OK):
        raise ConfigError(f"UPLOAD_DIR {str(upload_dir)!r} is not writable")

    base_url = _check_url("BASE_URL", env.get("BASE_URL", "http://127.0.0.1:5000"), ("http", "https"))
    if environment == "production" and not base_url.startswith("https://"):
        raise ConfigError("BASE_URL must be an https:// address in production")

    proxies = env.get("TRUSTED_PROXIES", "0")
    if not proxies.isdigit() or int(proxies) > 5:
        raise ConfigError("TRUSTED_PROXIES must be the number of reverse proxies in front of "
                          f"the portal, 0 to 5 (got {proxies!r})")

    timings = {}
    for name, default in (("OUTBOX_LEASE_SECONDS", 600), ("OUTBOX_RETRY_SECONDS", 30)):
        value = env.get(name, str(default))
        if not value.isdigit() or not 0 < int(value) <= 86400:
            raise ConfigError(f"{name} must be a number of seconds from 1 to 86400 "
                              f"(got {value!r})")
        timings[name.lower()] = int(value)

    limits = {}
    for name, default in RATE_LIMITS.items():
        value = env.get(name, str(default))
        if not value.isdigit() or not 0 < int(value) <= 100000:
            raise ConfigError(f"{name} must be a whole number from 1 to 100000 (got {value!r})")
        limits[name.lower()] = int(value)

    return Settings(
        trusted_proxies=int(proxies),
        **timings,
        **limits,
        environment=environment,
        secret_key=secret_key,
        database_url=database_url,
        redis_url=redis_url,
        mail_url=mail_url,
        upload_dir=upload_dir,
        base_url=base_url.rstrip("/"),
        instance_path=instance_path,
    )


def flask_config(settings: Settings) -> dict[str, object]:
    """The Flask and extension settings that follow from the portal's settings."""
    return {
        "SECRET_KEY": settings.secret_key,
        "PORTAL_SETTINGS": settings,
        "TESTING": settings.environment == "test",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": not settings.development,
        "SESSION_COOKIE_NAME": "portal_session",
        # Staff sessions last at most this long, and end after 30 idle minutes (portal.auth).
        "PERMANENT_SESSION_LIFETIME": 8 * 3600,
        # The whole request: the most evidence a report may carry (5 files of 10 MB) plus the form.
        "MAX_CONTENT_LENGTH": 52 * 1024 * 1024,
        "MAX_FORM_MEMORY_SIZE": 1024 * 1024,
        "WTF_CSRF_TIME_LIMIT": 4 * 3600,
        "BABEL_DEFAULT_LOCALE": "vi",
        "BABEL_DEFAULT_TIMEZONE": "Asia/Ho_Chi_Minh",
        "PREFERRED_URL_SCHEME": "https" if not settings.development else "http",
        "OUTBOX_LEASE_SECONDS": settings.outbox_lease_seconds,
        "OUTBOX_RETRY_SECONDS": settings.outbox_retry_seconds,
        **{name: getattr(settings, name.lower()) for name in RATE_LIMITS},
    }
