"""Indexes for the statistics refresh: each month's answers, assignments, events, ratings and transfers

The `stats-refresh` job recomputes the current and previous months every ten minutes; these
indexes let it read one month of each table instead of scanning them whole.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 16:00:00.000000
"""

from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('answers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_answers_created_at'), ['created_at'], unique=False)
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assignments_assigned_at'), ['assigned_at'], unique=False)
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.create_index('ix_case_events_action_created_at', ['action', 'created_at'], unique=False)
    with op.batch_alter_table('ratings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ratings_created_at'), ['created_at'], unique=False)
    with op.batch_alter_table('transfer_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transfer_requests_created_at'), ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('transfer_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_transfer_requests_created_at'))
    with op.batch_alter_table('ratings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ratings_created_at'))
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.drop_index('ix_case_events_action_created_at')
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assignments_assigned_at'))
    with op.batch_alter_table('answers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_answers_created_at'))
