"""Public accountability: monthly agency aggregates, snapshots, Open311 API keys, published answers

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 15:33:37.291295
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agency_month_stats',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('sector', sa.String(length=32), nullable=False),
    sa.Column('received', sa.Integer(), nullable=False),
    sa.Column('answered', sa.Integer(), nullable=False),
    sa.Column('answered_on_time', sa.Integer(), nullable=False),
    sa.Column('answer_days', sa.JSON(), nullable=False),
    sa.Column('transfers_requested', sa.Integer(), nullable=False),
    sa.Column('transfers_refused', sa.Integer(), nullable=False),
    sa.Column('ping_pong', sa.Integer(), nullable=False),
    sa.Column('answers_returned', sa.Integer(), nullable=False),
    sa.Column('disputes', sa.Integer(), nullable=False),
    sa.Column('reopened', sa.Integer(), nullable=False),
    sa.Column('ratings', sa.Integer(), nullable=False),
    sa.Column('satisfied', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], name=op.f('fk_agency_month_stats_agency_id_agencies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agency_month_stats')),
    sa.UniqueConstraint('agency_id', 'month', 'sector', name=op.f('uq_agency_month_stats_agency_id_month_sector'))
    )
    with op.batch_alter_table('agency_month_stats', schema=None) as batch_op:
        batch_op.create_index('ix_agency_month_stats_month_sector', ['month', 'sector'], unique=False)

    op.create_table('agency_snapshots',
    sa.Column('agency_id', sa.Integer(), nullable=False),
    sa.Column('open_now', sa.Integer(), nullable=False),
    sa.Column('overdue_now', sa.Integer(), nullable=False),
    sa.Column('refreshed_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], name=op.f('fk_agency_snapshots_agency_id_agencies')),
    sa.PrimaryKeyConstraint('agency_id', name=op.f('pk_agency_snapshots'))
    )
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=12), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.Column('last_used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_api_keys_created_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash'))
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('public_search_text', sa.Text(), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('published_at', sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_cases_published_at'), ['published_at'], unique=False)
    with op.batch_alter_table('cases', schema=None) as batch_op:
        # The default only filled the cases already filed; the application always sets it.
        batch_op.alter_column('public_search_text', server_default=None)



def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cases_published_at'))
        batch_op.drop_column('published_at')
        batch_op.drop_column('public_search_text')

    op.drop_table('api_keys')
    op.drop_table('agency_snapshots')
    with op.batch_alter_table('agency_month_stats', schema=None) as batch_op:
        batch_op.drop_index('ix_agency_month_stats_month_sector')

    op.drop_table('agency_month_stats')
