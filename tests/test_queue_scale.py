"""The queue's shortcuts for a city's worth of cases give the answers of the plain queries.

`moderation.queue` reads a deadline-sorted page in two parts (cases with a deadline from the
cursor on, then those without) and counts closed, rejected and merged cases once per filter,
then only those closed since (`TerminalCounts`). Here both are checked against the plain
definition: every case once, in the order (deadline, nulls last; id), and counts equal to a
GROUP BY over the whole table, while cases keep closing.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from moderation import queue as queue_module
from moderation.queue import QueueFilters, queue_page, status_counts
from portal.db import utcnow
from portal.deadlines import today
from portal.models import Case
from portal.vocab import OPEN_STATUSES, CaseStatus

S = CaseStatus
MIX = [S.SUBMITTED, S.FORWARDED, S.IN_PROGRESS, S.RESOLVED, S.NEEDS_INFO, S.CLOSED, S.REJECTED,
       S.MERGED, S.ANSWERED]


@pytest.fixture
def cases(factory, session):
    """Cases of every kind, several sharing one deadline (the id breaks the tie)."""
    made = []
    for index in range(27):
        case = factory.case_in(MIX[index % len(MIX)],
                               sector="land" if index % 3 else "health")
        if case.due_on is not None and index % 4 == 0:
            case.due_on = today() + timedelta(days=3)
        made.append(case)
    session.commit()
    return made


def _walk(session, user, filters: QueueFilters, size: int, **options) -> list[int]:
    seen, cursor = [], None
    while True:
        page = queue_page(session, user, filters, cursor, size=size, **options)
        seen += [case.id for case in page.cases]
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


def _expected(session, **where) -> list[int]:
    rows = session.execute(select(Case.id, Case.due_on).filter_by(**where)).all()
    return [row.id for row in sorted(rows, key=lambda r: (r.due_on is None, r.due_on, r.id))]


@pytest.mark.parametrize("size", [1, 4, 7, 50])
def test_every_status_by_deadline_in_pages_of_any_size(factory, session, cases, size):
    moderator = factory.moderator()
    session.commit()
    everything = _expected(session)
    assert len(everything) > 27 - 1  # merges add the case merged into
    assert _walk(session, moderator, QueueFilters(status=None), size) == everything
    land = _expected(session, sector="land")
    assert _walk(session, moderator, QueueFilters(status=None, sector="land"), size) == land


@pytest.mark.parametrize("size", [1, 3, 50])
def test_open_cases_by_deadline_and_a_cursor_into_the_cases_without_one(factory, session, cases,
                                                                        size):
    moderator = factory.moderator()
    session.commit()
    open_ids = [i for i in _expected(session) if session.get(Case, i).status
                not in (S.CLOSED, S.REJECTED, S.MERGED)]
    assert _walk(session, moderator, QueueFilters(), size) == open_ids
    # A cursor of a case without a deadline continues with the next ones by id, as before.
    undated = [i for i in _expected(session) if session.get(Case, i).due_on is None]
    page = queue_page(session, moderator, QueueFilters(status=None), f"-~{undated[0]}", size=50)
    assert [c.id for c in page.cases] == undated[1:]
    # A malformed cursor starts over.
    page = queue_page(session, moderator, QueueFilters(status=None), "2026-13-40~x", size=50)
    assert [c.id for c in page.cases] == _expected(session)[:50]


def _plain_counts(session, **where) -> dict[str, int]:
    return dict(session.execute(select(Case.status, func.count()).filter_by(**where)
                                .group_by(Case.status)).all())


def test_counts_of_closed_cases_stay_exact_as_cases_close(factory, session, cases):
    moderator = factory.moderator()
    session.commit()
    assert status_counts(session, moderator, QueueFilters()).by_status == _plain_counts(session)
    assert status_counts(session, moderator, QueueFilters(sector="land")).by_status == \
        _plain_counts(session, sector="land")

    # Cases closed after the first count are counted, with or without a filter.
    for index in range(3):
        factory.case_in(S.CLOSED, sector="land" if index else "health")
        factory.case_in(S.REJECTED, sector="land")
    session.commit()
    assert status_counts(session, moderator, QueueFilters()).by_status == _plain_counts(session)
    assert status_counts(session, moderator, QueueFilters(sector="land")).by_status == \
        _plain_counts(session, sector="land")

    # A case whose closing committed late, its closed_at before the moment the settled part
    # was counted at but within the margin, is still counted exactly once.
    status_counts(session, moderator, QueueFilters())  # the settled part, counted before it
    late = factory.case_in(S.CLOSED)
    late.closed_at = utcnow() - timedelta(minutes=5)
    session.commit()
    assert status_counts(session, moderator, QueueFilters()).by_status == _plain_counts(session)


def test_counts_follow_the_other_filters(factory, session, cases):
    moderator = factory.moderator()
    session.commit()
    agency = factory.agency("SO-XD")
    counts = status_counts(session, moderator, QueueFilters(agency_id=agency.id)).by_status
    assert counts == _plain_counts(session, agency_id=agency.id)
    overdue = status_counts(session, moderator, QueueFilters(overdue=True)).by_status
    assert not set(overdue) & {S.CLOSED, S.REJECTED, S.MERGED, S.NEEDS_INFO, S.RESOLVED}
    # Searching: every word, accents ignored.
    searched = status_counts(session, moderator, QueueFilters(search="cấp phép")).by_status
    assert searched == _plain_counts(session)  # every case of the factory has these words


@pytest.mark.parametrize("status", ["open", None])
def test_a_common_search_read_in_deadline_order_finds_the_same_pages(factory, session, cases,
                                                                     status):
    moderator = factory.moderator()
    session.commit()
    assert all(case.status in OPEN_STATUSES for case in cases if case.due_on is not None)
    filters = QueueFilters(status=status, search="cấp phép")  # every case has these words
    expected = _expected(session) if status is None else [
        case_id for case_id in _expected(session)
        if session.get(Case, case_id).status in OPEN_STATUSES]
    for size in (2, 5, 50):
        assert _walk(session, moderator, filters, size, many_matches=True) == expected
        assert _walk(session, moderator, filters, size) == expected


def test_slow_open_counts_are_kept_a_short_while_quick_ones_never(factory, session, cases,
                                                                  monkeypatch):
    moderator = factory.moderator()
    session.commit()
    before = _plain_counts(session)

    # A count made quickly is made again on every page: a new case shows at once.
    monkeypatch.setattr(queue_module.OpenCounts, "SLOW", 60.0)
    first = status_counts(session, moderator, QueueFilters())
    assert (first.by_status, first.open_counted_at) == (before, None)
    factory.case_in(S.SUBMITTED)
    session.commit()
    counts = status_counts(session, moderator, QueueFilters())
    assert (counts.by_status, counts.open_counted_at) == (_plain_counts(session), None)

    # A slow one is kept, and says when it was made, until it is too old.
    monkeypatch.setattr(queue_module.OpenCounts, "SLOW", 0.0)
    kept = status_counts(session, moderator, QueueFilters())
    assert kept.open_counted_at is None  # made now
    factory.case_in(S.SUBMITTED)
    session.commit()
    again = status_counts(session, moderator, QueueFilters())
    assert again.by_status == kept.by_status != _plain_counts(session)
    assert again.open_counted_at is not None and again.open_counted_at <= utcnow()
    monkeypatch.setattr(queue_module.OpenCounts, "FRESH", timedelta(0))
    assert status_counts(session, moderator, QueueFilters()).by_status == _plain_counts(session)


def test_a_search_counts_its_open_cases_up_to_a_limit(factory, session, cases, monkeypatch):
    moderator = factory.moderator()
    session.commit()
    everything = _plain_counts(session)
    open_total = sum(n for status, n in everything.items() if status in OPEN_STATUSES)
    terminal = {status: n for status, n in everything.items() if status not in OPEN_STATUSES}
    assert open_total > 3 and terminal

    monkeypatch.setattr(queue_module, "SEARCH_COUNT_LIMIT", open_total)
    counts = status_counts(session, moderator, QueueFilters(search="cấp phép"))
    assert (counts.by_status, counts.open_more_than) == (everything, None)

    monkeypatch.setattr(queue_module, "SEARCH_COUNT_LIMIT", open_total - 1)
    counts = status_counts(session, moderator, QueueFilters(search="cấp phép"))
    # Past the limit the open counts are not shown; the closed ones stay exact.
    assert (counts.by_status, counts.open_more_than) == (terminal, open_total - 1)

    # Without a search every case is counted.
    assert status_counts(session, moderator, QueueFilters()).by_status == everything

    # Slow to make, a search's counts are kept too: the next page of results counts nothing.
    monkeypatch.setattr(queue_module.OpenCounts, "SLOW", 0.0)
    monkeypatch.setattr(queue_module, "SEARCH_COUNT_LIMIT", 1000)
    kept = status_counts(session, moderator, QueueFilters(search="cấp phép"))
    assert (kept.by_status, kept.open_counted_at) == (everything, None)
    factory.case_in(S.SUBMITTED)
    session.commit()
    again = status_counts(session, moderator, QueueFilters(search="cấp phép"))
    assert again.by_status == everything != _plain_counts(session)
    assert again.open_counted_at is not None


NOISE = {"in", "any", "array", "text", "character", "varying", "is", "not", "null", "where"}


def _words(sql: str) -> set[str]:
    return set(re.findall(r"[a-z_]+", sql.lower())) - NOISE


def test_the_partial_indexes_are_built_as_the_models_say(app, session):
    """Alembic compares an index's columns, not its WHERE: this compares the WHERE too."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        built = dict(session.execute(text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'cases'")).all())
    else:
        built = dict(session.execute(text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'cases' "
            "AND sql IS NOT NULL")).all())
    partial = 0
    for index in Case.__table__.indexes:
        where = index.dialect_options[dialect].get("where") if dialect in (
            "postgresql", "sqlite") else None
        condition = getattr(index, "_ddl_if", None)
        if condition is not None and condition.dialect not in (None, dialect):
            assert index.name not in built
            continue
        definition = built[index.name]
        if where is None:
            assert " where " not in definition.lower(), index.name
            continue
        partial += 1
        head, _, predicate = definition.lower().partition(" where ")
        assert predicate, index.name
        assert _words(predicate) == _words(str(where)), (index.name, predicate, str(where))
    assert partial >= 3
