"""Indexes for a city's worth of cases: the open cases' queue, counts and searches

Measured by `make bench` (bench/) on a million cases: the Front's queue sorted and filtered
the open cases out of the whole table (about 0.4 s a page), the counts per status scanned
every case, and the searches of open cases and of published answers read every row.

- ix_cases_open_queue: the open cases only (a few percent of the table), by deadline and id,
  with the columns the queue's filters and counts read;
- ix_cases_open_search_trgm (PostgreSQL): trigrams of the open cases' text;
- ix_cases_due_on_id: the cases with a deadline (the open ones), by deadline and id, for the
  queue of every status sorted by deadline;
- ix_cases_closed_at: the cases closed since a moment, for the counts of closed, rejected and
  merged cases (moderation.queue.TerminalCounts); without the open cases (no closing time),
  so changing an open case does not write to it;
- ix_cases_public_search_text_trgm (PostgreSQL): trigrams of the published answers' text;
- and, not indexes, the statistics st_cases_status_due_on and
  st_cases_status_escalation_level (PostgreSQL): see below.

They are not free: an open case that changes writes an entry to each of the first three
(the day's first deadline sweep of a million cases, 3,600 cases changed, took about 30 %
longer with them). On a big table each CREATE INDEX holds a lock that blocks writes to
`cases` while it runs (a few seconds for a million cases).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 18:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

OPEN_CASES = ("status IN ('answered', 'disputed', 'forwarded', 'in_progress', 'needs_info', "
              "'resolved', 'submitted', 'transfer_requested')")


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index(
            'ix_cases_open_queue',
            ['due_on', 'id', 'status', 'front_committee_id', 'agency_id', 'assigned_agency_id',
             'sector', 'conduct', 'ward_code', 'claimed_by_id', 'confidential',
             'escalation_level'],
            unique=False, postgresql_where=sa.text(OPEN_CASES), sqlite_where=sa.text(OPEN_CASES))
        batch_op.create_index('ix_cases_due_on_id', ['due_on', 'id'], unique=False,
                              postgresql_where=sa.text('due_on IS NOT NULL'),
                              sqlite_where=sa.text('due_on IS NOT NULL'))
        batch_op.create_index('ix_cases_closed_at', ['closed_at'], unique=False,
                              postgresql_where=sa.text('closed_at IS NOT NULL'),
                              sqlite_where=sa.text('closed_at IS NOT NULL'))
    if op.get_bind().dialect.name == 'postgresql':
        op.create_index('ix_cases_open_search_trgm', 'cases', ['search_text'],
                        postgresql_using='gin', postgresql_ops={'search_text': 'gin_trgm_ops'},
                        postgresql_where=sa.text(OPEN_CASES))
        op.create_index('ix_cases_public_search_text_trgm', 'cases', ['public_search_text'],
                        postgresql_using='gin',
                        postgresql_ops={'public_search_text': 'gin_trgm_ops'},
                        postgresql_where=sa.text('published_at IS NOT NULL'))
        # Not indexes: statistics of the status with the deadline, and with the escalation
        # level. Only open cases have a deadline or climb the ladder, which the planner,
        # multiplying each column's own statistics, cannot know: it took a page after a
        # cursor, or of escalated cases, for a handful of rows, and read and sorted every
        # match instead of reading the queue's index in order.
        op.execute('CREATE STATISTICS st_cases_status_due_on (mcv, dependencies) '
                   'ON status, due_on FROM cases')
        op.execute('CREATE STATISTICS st_cases_status_escalation_level (mcv, dependencies) '
                   'ON status, escalation_level FROM cases')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP STATISTICS IF EXISTS st_cases_status_escalation_level')
        op.execute('DROP STATISTICS IF EXISTS st_cases_status_due_on')
        op.drop_index('ix_cases_public_search_text_trgm', table_name='cases')
        op.drop_index('ix_cases_open_search_trgm', table_name='cases')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_closed_at')
        batch_op.drop_index('ix_cases_due_on_id')
        batch_op.drop_index('ix_cases_open_queue')
