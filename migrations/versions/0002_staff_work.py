"""Staff work: accent-free search, the escalation ladder, claiming, canned replies, sign-in throttling

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

from portal.search import fold

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "canned_replies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=24), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canned_replies")),
    )
    op.create_table(
        "sign_in_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_key", sa.String(length=64), nullable=False),
        sa.Column("client_key", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_failures")),
    )
    with op.batch_alter_table("sign_in_failures") as batch_op:
        batch_op.create_index("ix_sign_in_failures_account_at", ["account_key", "created_at"])
        batch_op.create_index("ix_sign_in_failures_client_at", ["client_key", "created_at"])

    with op.batch_alter_table("cases") as batch_op:
        batch_op.add_column(sa.Column("escalation_level", sa.Integer(), nullable=False,
                                      server_default="0"))
        batch_op.add_column(sa.Column("search_text", sa.Text(), nullable=False, server_default=""))
        batch_op.create_index(batch_op.f("ix_cases_claimed_by_id"), ["claimed_by_id"])
        batch_op.create_index("ix_cases_status_due_on", ["status", "due_on"])
        batch_op.create_index(batch_op.f("ix_cases_confidential"), ["confidential"])
        batch_op.create_index(batch_op.f("ix_cases_escalation_level"), ["escalation_level"])
    with op.batch_alter_table("cases") as batch_op:
        # The defaults only filled existing rows; the application always sets both.
        batch_op.alter_column("escalation_level", server_default=None)
        batch_op.alter_column("search_text", server_default=None)

    _fill_search_text()
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE INDEX ix_cases_search_text_trgm ON cases "
                   "USING gin (search_text gin_trgm_ops)")

    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("password_changed_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_sign_in_at", sa.DateTime(), nullable=True))


def _fill_search_text(batch: int = 1000) -> None:
    """Fold the text of the cases already filed, a batch at a time."""
    bind = op.get_bind()
    cases = sa.table("cases", sa.column("id", sa.Integer), sa.column("description", sa.Text),
                     sa.column("address", sa.String), sa.column("search_text", sa.Text))
    last = 0
    while True:
        rows = bind.execute(sa.select(cases.c.id, cases.c.description, cases.c.address)
                            .where(cases.c.id > last).order_by(cases.c.id).limit(batch)).all()
        if not rows:
            return
        for row in rows:
            bind.execute(cases.update().where(cases.c.id == row.id)
                         .values(search_text=fold(f"{row.description} {row.address or ''}")))
        last = rows[-1].id


def downgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("last_sign_in_at")
        batch_op.drop_column("password_changed_at")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_cases_search_text_trgm")
    with op.batch_alter_table("cases") as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_escalation_level"))
        batch_op.drop_index(batch_op.f("ix_cases_confidential"))
        batch_op.drop_index("ix_cases_status_due_on")
        batch_op.drop_index(batch_op.f("ix_cases_claimed_by_id"))
        batch_op.drop_column("search_text")
        batch_op.drop_column("escalation_level")
    with op.batch_alter_table("sign_in_failures") as batch_op:
        batch_op.drop_index("ix_sign_in_failures_client_at")
        batch_op.drop_index("ix_sign_in_failures_account_at")
    op.drop_table("sign_in_failures")
    op.drop_table("canned_replies")
