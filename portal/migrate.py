"""Running Alembic from the portal: the CLI and the tests use the same configuration."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from portal import ROOT


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    # Alembic's ini interpolation treats % specially.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "-1") -> None:
    command.downgrade(alembic_config(database_url), revision)


def include_for(dialect_name: str):
    """Alembic's `include_object` for one database: skips indexes made only for another.

    The trigram index on `cases.search_text` exists on PostgreSQL alone (`ddl_if`), so on
    SQLite the schema is complete without it.
    """

    def include_object(obj, _name, type_, _reflected, _compare_to) -> bool:
        condition = getattr(obj, "_ddl_if", None)
        if type_ == "index" and condition is not None and condition.dialect:
            return condition.dialect == dialect_name
        return True

    return include_object
