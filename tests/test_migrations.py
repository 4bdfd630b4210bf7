"""The schema comes from Alembic alone: the migrations build exactly the models, and undo cleanly."""

from __future__ import annotations

from contextlib import closing

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

import portal.models  # noqa: F401 - registers every table on Base.metadata
from portal import migrate
from portal.db import Base, make_engine
from tests.conftest import fresh_database

MODEL_TABLES = set(Base.metadata.tables)


def differences(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={
                "compare_type": True, "include_object": migrate.include_for(conn.dialect.name)})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def tables_and_revision(url: str) -> tuple[set[str], str | None]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names()) - {"alembic_version"}
            return tables, MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def test_the_migration_head_is_the_models(tmp_path_factory):
    with closing(fresh_database(tmp_path_factory, "head")) as databases:
        for url in databases:
            migrate.upgrade(url)
            assert {"cases", "case_events", "assignments", "outbox_messages"} <= MODEL_TABLES
            assert tables_and_revision(url)[0] == MODEL_TABLES
            assert differences(url) == []


def test_every_migration_runs_up_and_down(tmp_path_factory):
    with closing(fresh_database(tmp_path_factory, "updown")) as databases:
        for url in databases:
            scripts = ScriptDirectory.from_config(migrate.alembic_config(url))
            revisions = list(reversed(list(scripts.walk_revisions())))  # base first
            assert revisions and revisions[0].down_revision is None
            assert revisions[-1].revision == scripts.get_current_head()
            assert tables_and_revision(url) == (set(), None)

            for revision in revisions:
                migrate.upgrade(url, revision.revision)
                assert tables_and_revision(url)[1] == revision.revision
            assert tables_and_revision(url)[0] == MODEL_TABLES

            for revision in reversed(revisions):
                assert tables_and_revision(url)[1] == revision.revision
                migrate.downgrade(url, revision.down_revision or "base")
            assert tables_and_revision(url) == (set(), None)

            migrate.upgrade(url)
            assert tables_and_revision(url) == (MODEL_TABLES, scripts.get_current_head())
            assert differences(url) == []
