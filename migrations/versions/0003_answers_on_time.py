"""Each answer keeps the deadline it was given against; who deactivated an account; indexes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("answers") as batch_op:
        batch_op.add_column(sa.Column("due_on", sa.Date(), nullable=True))
        batch_op.create_index(batch_op.f("ix_answers_assignment_id"), ["assignment_id"])
    # Answers given before this revision are judged against their assignment's deadline.
    op.execute("UPDATE answers SET due_on = (SELECT answer_due_on FROM assignments "
               "WHERE assignments.id = answers.assignment_id)")
    with op.batch_alter_table("cases") as batch_op:
        batch_op.create_index("ix_cases_assigned_agency_status_id",
                              ["assigned_agency_id", "status", "id"])
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("deactivated_by_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_users_deactivated_by_id_users"), "users",
                                    ["deactivated_by_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_users_deactivated_by_id_users"),
                                 type_="foreignkey")
        batch_op.drop_column("deactivated_by_id")
    with op.batch_alter_table("cases") as batch_op:
        batch_op.drop_index("ix_cases_assigned_agency_status_id")
    with op.batch_alter_table("answers") as batch_op:
        batch_op.drop_index(batch_op.f("ix_answers_assignment_id"))
        batch_op.drop_column("due_on")
