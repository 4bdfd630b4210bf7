"""Operations as Flask CLI commands: `flask --app app <group> <command>`."""

from __future__ import annotations

import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from portal import audit, migrate
from portal.db import session_scope

db_cli = AppGroup("db", help="Create and change the database schema (Alembic).")
seed_cli = AppGroup("seed", help="Load reference and demonstration data.")
user_cli = AppGroup("user", help="Manage staff accounts.")
audit_cli = AppGroup("audit", help="Check the tamper-evident record.")
deadlines_cli = AppGroup("deadlines", help="Overdue cases and their escalation.")
stats_cli = AppGroup("stats", help="The public scoreboard's aggregates.")


def _database_url() -> str:
    return current_app.config["PORTAL_SETTINGS"].database_url


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    migrate.upgrade(_database_url(), revision)
    click.echo(f"database upgraded to {revision}")


@db_cli.command("downgrade")
@click.argument("revision", default="-1")
def db_downgrade(revision: str) -> None:
    """Undo migrations down to REVISION (default: one step; `base` empties the database)."""
    migrate.downgrade(_database_url(), revision)
    click.echo(f"database downgraded to {revision}")


@db_cli.command("revision")
@click.option("-m", "--message", required=True)
def db_revision(message: str) -> None:
    """Write a new migration from the difference between the models and the database."""
    from alembic import command

    command.revision(migrate.alembic_config(_database_url()), message=message,
                     autogenerate=True)


@seed_cli.command("agencies")
def seed_agencies_command() -> None:
    """Create or update Hanoi's agencies and Front committees (safe to run again)."""
    from portal.seed import seed_agencies

    with session_scope() as session:
        counts = seed_agencies(session)
    click.echo("agencies: {agencies}, Front committees: {front_committees} "
               "(communes and wards: {communes})".format(**counts))


@seed_cli.command("demo")
def seed_demo_command() -> None:
    """Demo staff accounts of every role and demo cases in every state (development only)."""
    from portal.demo import seed_demo

    if not current_app.config["PORTAL_SETTINGS"].development:
        raise click.ClickException("demo data is for development; PORTAL_ENV is production")
    with session_scope() as session:
        summary = seed_demo(session)
    for line in summary:
        click.echo(line)


@user_cli.command("create")
@click.argument("email")
@click.option("--role", required=True, help="moderator, supervisor, agency_officer, "
                                            "agency_head or admin")
@click.option("--org", "org_code", default=None,
              help="code of the agency or Front committee the user belongs to")
@click.option("--name", default="", help="the person's full name")
def user_create(email: str, role: str, org_code: str | None, name: str) -> None:
    """Create a staff account; the password is read from standard input."""
    from portal.accounts import AccountError, create_user

    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        with session_scope() as session:
            user = create_user(session, email, role, password, org_code, name)
            session.flush()
            click.echo(f"created {user.role} {user.email} (id {user.id})")
    except AccountError as error:
        raise click.ClickException(str(error)) from None


@user_cli.command("reset-two-factor")
@click.argument("email")
def user_reset_two_factor(email: str) -> None:
    """Remove a staff member's second factor and recovery codes, and end their sessions.

    For someone who lost both the phone and the recovery codes: at the next sign-in a
    supervisor or administrator is sent to set it up again; others sign in without it.
    """
    from sqlalchemy import func, select

    from portal.auth.service import reset_second_factor
    from portal.models import User

    with session_scope() as session:
        user = session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
        if user is None:
            raise click.ClickException(f"no account with the email {email}")
        reset_second_factor(session, user)
        click.echo(f"second factor reset for {user.role} {user.email} (id {user.id}); "
                   "their sessions have ended")


@audit_cli.command("verify")
def audit_verify() -> None:
    """Check every case's event chain; exits 1 if any chain is broken."""
    with session_scope() as session:
        breaks = list(audit.verify_all(session))
    for item in breaks:
        where = f"event {item.seq}" if item.seq is not None else "chain head"
        click.echo(f"case {item.case_id}, {where}: {item.problem}", err=True)
    if breaks:
        raise click.ClickException(f"{len(breaks)} broken event chain(s)")
    click.echo("every case's event chain is intact")


@deadlines_cli.command("sweep")
def deadlines_sweep() -> None:
    """Escalate overdue cases and close ended rating windows now (the periodic job, by hand).

    Exits 1 when a case failed (the others are done; the failed one is tried again next run).
    """
    from moderation.sweep import sweep
    from portal.db import new_session

    session = new_session()
    try:
        result = sweep(session)
    finally:
        session.close()
    click.echo(result.summary())
    if result.failed:
        raise click.ClickException(f"{result.failed} case(s) failed; see the log")


@stats_cli.command("refresh")
@click.option("--all", "everything", is_flag=True,
              help="Every month since the first case (default: this month and the last).")
def stats_refresh(everything: bool) -> None:
    """Recompute the scoreboard's monthly figures and snapshots now (the periodic job, by hand)."""
    from portal import stats
    from portal.db import new_session

    session = new_session()
    try:
        result = stats.refresh(session, all=everything)
    finally:
        session.close()
    click.echo(result.summary())


def init_app(app: Flask) -> None:
    for group in (db_cli, seed_cli, user_cli, audit_cli, deadlines_cli, stats_cli):
        app.cli.add_command(group)
