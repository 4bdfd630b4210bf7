"""Test fixtures, in the shape of Flask's tutorial: `app`, `client`, `runner`, plus the portal's own.

The suite runs on SQLite by default. With TEST_DATABASE_URL set to a PostgreSQL server
(postgresql+psycopg://postgres@127.0.0.1:5432/test), every test session makes a fresh
database of its own on that server, migrates it with Alembic, and drops it at the end,
so two runs never share data.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from portal import create_app, migrate
from portal.db import Base, new_session
from portal.models import Agency

PG_URL = os.environ.get("TEST_DATABASE_URL", "")
REFERENCE_TABLES = {"agencies", "front_committees"}


def fresh_database(tmp_path_factory, label: str) -> Iterator[str]:
    """An empty database on the backend under test, dropped afterwards."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path_factory.mktemp(label) / 'portal.sqlite3'}"
        return
    server = make_url(PG_URL)
    name = f"portal_{label}_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> Iterator[str]:
    for url in fresh_database(tmp_path_factory, "suite"):
        migrate.upgrade(url)
        _seed_reference_data(url, tmp_path_factory)
        yield url


def _environ(database_url: str, tmp: Path) -> dict[str, str]:
    return {
        "PORTAL_ENV": "test",
        "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        "DATABASE_URL": database_url,
        "UPLOAD_DIR": str(tmp / "uploads"),
        "MAIL_URL": f"file://{tmp / 'mail'}",
        "BASE_URL": "http://portal.test",
    }


def _seed_reference_data(url: str, tmp_path_factory) -> None:
    from portal.db import session_scope
    from portal.seed import seed_agencies

    app = create_app(_environ(url, tmp_path_factory.mktemp("seed")),
                     instance_path=tmp_path_factory.mktemp("seed-instance"))
    with app.app_context(), session_scope() as session:
        seed_agencies(session)


@pytest.fixture
def app(database_url, tmp_path):
    app = create_app(_environ(database_url, tmp_path), instance_path=tmp_path / "instance")
    yield app
    engine = app.extensions["db_engine"]
    # Every test starts from the reference data alone.
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name not in REFERENCE_TABLES:
                conn.execute(table.delete())
    engine.dispose()


@pytest.fixture(autouse=True)
def exact_queue_counts(monkeypatch):
    """The queue keeps counts that were slow to make (`OpenCounts`); on a busy test machine any
    count may be slow, so tests count afresh unless they set `SLOW` themselves."""
    from moderation.queue import OpenCounts

    monkeypatch.setattr(OpenCounts, "SLOW", float("inf"))


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def session(app):
    # No app context stays pushed: requests made by the test client would share it (and `g`).
    with app.app_context():
        session = new_session()
    yield session
    session.close()


@pytest.fixture
def mail_dir(tmp_path) -> Path:
    return tmp_path / "mail"


@pytest.fixture
def factory(session):
    from tests.factories import Factory

    return Factory(session)


@pytest.fixture
def auth(client):
    from tests.helpers import AuthActions

    return AuthActions(client)


@pytest.fixture
def restore_agencies(database_url):
    """The agencies table outlives each test: put back what a test added, renamed or moved.

    Needing only the database, and asked for before `app` (or through `usefixtures`), it is set
    up before `app` and so torn down after the other tables are emptied: nothing refers to a
    new agency any more when it goes.
    """
    engine = create_engine(database_url)
    table = Agency.__table__
    with engine.connect() as conn:
        before = {row["id"]: dict(row) for row in conn.execute(select(table)).mappings()}
    yield
    with engine.begin() as conn:
        now = {row["id"]: dict(row) for row in conn.execute(select(table)).mappings()}
        for agency_id, row in before.items():
            if now.get(agency_id) != row:
                conn.execute(table.update().where(table.c.id == agency_id).values(row))
        added = set(now) - set(before)
        if added:
            conn.execute(table.update().where(table.c.id.in_(added)).values(parent_id=None))
            conn.execute(table.delete().where(table.c.id.in_(added)))
    engine.dispose()
