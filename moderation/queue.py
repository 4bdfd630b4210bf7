"""The moderation queue: which cases a Front member sees, filtered, sorted and paginated by key.

Every filter maps to an indexed column, and pages continue from the last row seen
(never OFFSET), so the first page and the thousandth cost the same on a million cases.

What keeps it fast on a million cases (measured by `make bench`, bench/):

- The open cases, a few percent of the table, have a partial index of their own
  (`ix_cases_open_queue`, migration 0007): by deadline, then id, with the filter columns
  after them. The status list is written into the SQL (not a parameter), so the planner can
  see that the query stays inside that index; and the status filter, "open" and "overdue"
  become one list, so its estimate of how many cases match stays right.
- Sorted by deadline, a page after a cursor, or of every status, is read in two parts, each
  in the order of an index: the cases with a deadline, from the cursor on (a row comparison
  `(due_on, id) > (date, id)` the index seeks to, not a disjunction it would scan up to the
  cursor), then, when the page is not full, the cases without one, by id
  (`ix_cases_due_on_id`, and the primary key).
- The counts per status: those of open cases come from that index, kept half a minute when
  they were slow to make (`OpenCounts`; a search counts up to `SEARCH_COUNT_LIMIT` of them, then
  says "more than"); those of closed,
  rejected and merged cases, nearly all of the table, are counted once per process and
  filter and then only for the cases closed since (`closed_at`, indexed), since a case that
  has reached one of those states never leaves it and none of its filtered fields changes
  any more. See `TerminalCounts`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import astuple, dataclass, field
from datetime import date, datetime, timedelta
from typing import TypeVar

from sqlalchemy import ColumnElement, bindparam, false, func, or_, select, text, true, tuple_
from sqlalchemy.orm import Session, joinedload, selectinload

from portal import paging
from portal.citizen.forms import to_int_or_none
from portal.db import utcnow
from portal.deadlines import WorkingCalendar, today
from portal.memo import EngineMemo
from portal.models import Case, User
from portal.search import escape_like, fold
from portal.vocab import OPEN_STATUSES, CaseStatus

PAGE_SIZE = 50
# The states in which somebody owes the next step by a deadline: a case waiting for the
# reporter (clock stopped) or in the reporter's rating window is nobody's overdue duty.
DUTY_STATUSES = OPEN_STATUSES - {CaseStatus.NEEDS_INFO, CaseStatus.RESOLVED}
# The states a case never leaves, once reached.
TERMINAL_STATUSES = frozenset(CaseStatus) - OPEN_STATUSES
SORTS = paging.SORTS
# The open cases a search counts, at most. A common word ("chậm trễ": late) matches tens of
# thousands of them, and counting every one took longer than finding the page; past this,
# the page says that more match and asks for another word.
SEARCH_COUNT_LIMIT = 1000


def committee_scope(user: User) -> ColumnElement[bool]:
    """The city committee sees every queue; a commune committee sees its own."""
    committee = user.front_committee
    if committee is None:
        return Case.id.is_(None)  # nobody outside the Front sees the queue
    if committee.is_city:
        return true()
    return Case.front_committee_id == committee.id


@dataclass
class QueueFilters:
    status: str | None = "open"  # a status, "open", or None for every case
    agency_id: int | None = None
    conduct: str | None = None
    sector: str | None = None
    ward_code: int | None = None
    committee_id: int | None = None
    overdue: bool = False
    due_within: int | None = None  # working days
    claimed: str | None = None  # "me", "nobody", or a user id as text
    confidential: bool | None = None
    search: str = ""
    sort: str = "deadline"
    escalated: bool = False

    def effective_sort(self) -> str:
        """Cases without a running deadline have nothing to sort by but their age."""
        if self.sort == "deadline" and self.status in (CaseStatus.REJECTED, CaseStatus.MERGED,
                                                       CaseStatus.CLOSED):
            return "newest"
        return self.sort if self.sort in SORTS else "deadline"


@dataclass
class Page:
    cases: list[Case]
    next_cursor: str | None


@dataclass
class StatusCounts:
    by_status: dict[str, int] = field(default_factory=dict)
    # Set when a search matched more open cases than it counts: their counts are not shown.
    open_more_than: int | None = None
    # Set when the open cases' counts were made earlier (`OpenCounts`): when, in UTC.
    open_counted_at: datetime | None = None


def status_in(statuses) -> ColumnElement[bool]:
    """`status IN (...)` with the values written into the SQL.

    A partial index on the open cases is used only when the planner can see that the query's
    statuses are among the index's, which a parameter hides from it.
    """
    if not statuses:
        return false()
    return Case.status.in_(bindparam(None, sorted(statuses), expanding=True,
                                     literal_execute=True))


def _statuses(filters: QueueFilters, *, with_status: bool = True) -> frozenset[str] | None:
    """The statuses the filters leave (None: any), as one set."""
    wanted: frozenset[str] | None = None
    if with_status and filters.status == "open":
        wanted = OPEN_STATUSES
    elif with_status and filters.status:
        wanted = frozenset({filters.status})
    if filters.overdue:
        wanted = DUTY_STATUSES if wanted is None else wanted & DUTY_STATUSES
    return wanted


def _conditions(user: User, filters: QueueFilters, *, with_status: bool = True) -> list:
    conditions: list = [committee_scope(user)]
    statuses = _statuses(filters, with_status=with_status)
    if statuses is not None:
        conditions.append(status_in(statuses))
    conditions += _other_conditions(user, filters)
    return conditions


def _other_conditions(user: User, filters: QueueFilters) -> list:
    """Every filter but the statuses and the committee's scope."""
    conditions: list = []
    if filters.agency_id:
        conditions.append(or_(Case.agency_id == filters.agency_id,
                              Case.assigned_agency_id == filters.agency_id))
    if filters.conduct:
        conditions.append(Case.conduct == filters.conduct)
    if filters.sector:
        conditions.append(Case.sector == filters.sector)
    if filters.ward_code:
        conditions.append(Case.ward_code == filters.ward_code)
    if filters.committee_id:
        conditions.append(Case.front_committee_id == filters.committee_id)
    now = today()
    if filters.overdue:
        conditions.append(Case.due_on < now)  # in the states of DUTY_STATUSES: see _statuses
    if filters.due_within is not None:
        limit = WorkingCalendar().add_working_days(now, filters.due_within)
        conditions.append(Case.due_on <= limit)
    if filters.escalated:
        conditions.append(Case.escalation_level > 0)
    if filters.claimed == "me":
        conditions.append(Case.claimed_by_id == user.id)
    elif filters.claimed == "nobody":
        conditions.append(Case.claimed_by_id.is_(None))
    elif filters.claimed and to_int_or_none(filters.claimed):
        conditions.append(Case.claimed_by_id == to_int_or_none(filters.claimed))
    if filters.confidential is not None:
        conditions.append(Case.confidential.is_(filters.confidential))
    conditions += _search_conditions(filters.search)
    return conditions


def _search_conditions(text: str) -> list:
    """Every word must appear, accents ignored; a case number finds that case."""
    text = text.strip()
    if not text:
        return []
    reference = text.upper().replace(" ", "")
    if reference.startswith("PA") and "-" in reference:
        return [Case.id == to_int_or_none(reference.rsplit("-", 1)[1])]
    return [Case.search_text.like(f"%{escape_like(word)}%", escape="\\")
            for word in fold(text).split()[:8]]


def _after_deadline(cursor: str | None) -> tuple[date, int] | str | None:
    """Where a deadline cursor continues, read as `paging.after` reads it.

    (deadline, id) after a case with a deadline; "-" and the id (as text) after a case
    without one; None without a cursor, or for a malformed one (the list starts over).
    """
    due, _, case_id = (cursor or "").rpartition("~")
    last_id = to_int_or_none(case_id)
    if last_id is None or not due:
        return None
    if due == "-":
        return case_id
    try:
        return date.fromisoformat(due), last_id
    except ValueError:
        return None


def queue_page(session: Session, user: User, filters: QueueFilters, cursor: str | None = None,
               size: int = PAGE_SIZE, *, many_matches: bool = False) -> Page:
    """A page of the queue. `many_matches`: the search matched many open cases (its count
    said "more than"), so they are read in deadline order until the page is full."""
    sort = filters.effective_sort()
    conditions = _conditions(user, filters)
    in_order = many_matches and sort == "deadline" and bool(filters.search.strip())

    # Read in order, the cases' agencies and takers come in queries of their own: joined
    # to the cases, the planner would hash them and sort every match, undoing the order.
    load = selectinload if in_order else joinedload

    def fetch(*more_conditions, order: list, limit: int = size + 1,
              by_deadline: bool = True) -> list[Case]:
        query = (select(Case)
                 .options(load(Case.agency), load(Case.assigned_agency), load(Case.claimed_by))
                 .where(*conditions, *more_conditions)
                 .order_by(*order)
                 .limit(limit))
        # Only the deadline order: the cases without a deadline, by id, are the closed ones,
        # and a rare word among them is found through the trigram index, by bitmap.
        with _read_in_order(session, in_order and by_deadline):
            return list(session.scalars(query).all())

    statuses = _statuses(filters)
    position = _after_deadline(cursor) if sort == "deadline" else None
    if sort != "deadline" or (position is None and statuses is not None
                              and statuses <= OPEN_STATUSES):
        # The open cases' index holds them in this order: one query, read in order.
        rows = fetch(*paging.after(cursor, sort), order=paging.order(sort))
    else:
        # `paging.order` and `paging.after`'s list, in two parts an index can be read in
        # order for: the cases with a deadline, by deadline and id, from the cursor on; then,
        # when the page is not full, those without one (which sort last) by id.
        if isinstance(position, str):
            rows = []
            without = [Case.id > int(position)]
        else:
            after = [] if position is None else [tuple_(Case.due_on, Case.id) > tuple_(*position)]
            # Only an open case has a deadline (`lifecycle._close` clears it): saying so lets
            # the open cases' indexes serve this part.
            rows = fetch(Case.due_on.is_not(None), status_in(OPEN_STATUSES), *after,
                         order=[Case.due_on, Case.id])
            without = []
        if len(rows) <= size:
            rows += fetch(Case.due_on.is_(None), *without, order=[Case.id],
                          limit=size + 1 - len(rows), by_deadline=False)
    more = len(rows) > size
    rows = rows[:size]
    return Page(cases=list(rows), next_cursor=paging.cursor_of(rows[-1], sort) if more and rows else None)


@contextmanager
def _read_in_order(session: Session, wanted: bool) -> Iterator[None]:
    """Have PostgreSQL read the open cases in deadline order, not gather every match first.

    A search for common words ("giấy phép xây dựng") matches thousands of open cases, and
    the planner, whose estimate of a trigram match is far too low, gathers them all from the
    trigram index and sorts them (35 ms at city scale), when reading the open cases in
    deadline order finds the page's fifty after a few hundred (3 ms). For a rare word the
    gathering is the right plan: only asked for when the search's count said "more than".
    """
    if not wanted or session.get_bind().dialect.name != "postgresql":
        yield
        return
    # Put back what it was, and only after a query that worked: a failed one has aborted the
    # transaction, and its rollback undoes the setting anyway.
    before = session.scalar(text("SELECT current_setting('enable_bitmapscan')"))
    session.execute(text("SELECT set_config('enable_bitmapscan', 'off', true)"))
    yield
    session.execute(text("SELECT set_config('enable_bitmapscan', :value, true)"),
                    {"value": before})


def _count(session: Session, *conditions) -> dict[str, int]:
    rows = session.execute(select(Case.status, func.count()).where(*conditions)
                           .group_by(Case.status)).all()
    return {status: count for status, count in rows}


def status_counts(session: Session, user: User, filters: QueueFilters) -> StatusCounts:
    """How many cases of each status match the other filters."""
    scope = committee_scope(user)
    others = _other_conditions(user, filters)
    allowed = _statuses(filters, with_status=False)
    statuses = OPEN_STATUSES if allowed is None else allowed & OPEN_STATUSES
    committee = user.front_committee
    key = ("nobody" if committee is None else "city" if committee.is_city else committee.id,
           user.id if filters.claimed == "me" else None,
           astuple(QueueFilters(**{**vars(filters), "status": None, "sort": ""})))
    counts = StatusCounts()
    if statuses and filters.search.strip():
        (open_counts, counts.open_more_than), counts.open_counted_at = OpenCounts.of(
            session).get(key, lambda: _count_up_to(session, SEARCH_COUNT_LIMIT, scope,
                                                   status_in(statuses), *others))
        counts.by_status = dict(open_counts)
    elif statuses:
        open_counts, counts.open_counted_at = OpenCounts.of(session).get(
            key, lambda: _count(session, scope, status_in(statuses), *others))
        counts.by_status = dict(open_counts)  # a copy: what is kept is never changed
    terminal = TERMINAL_STATUSES if allowed is None else allowed & TERMINAL_STATUSES
    if terminal:
        counts.by_status |= TerminalCounts.of(session).get(session, key, scope,
                                                           status_in(terminal), *others)
    return counts


def _count_up_to(session: Session, limit: int, *conditions) -> tuple[dict[str, int], int | None]:
    """The counts per status when at most `limit` cases match; else none, and the limit."""
    matching = select(Case.status).where(*conditions).limit(limit + 1).subquery()
    counts = {status: count for status, count in session.execute(
        select(matching.c.status, func.count()).group_by(matching.c.status))}
    if sum(counts.values()) > limit:
        return {}, limit
    return counts, None


class TerminalCounts(EngineMemo):
    """Counts of the cases in a terminal state (closed, rejected, merged), kept per filter.

    Why it is exact: a case in one of those states never leaves it (`portal.lifecycle` has no
    transition out of them), and `closed_at` is set when it enters one (`lifecycle._close`);
    none of the fields the queue filters on changes afterwards (they change only while a case
    is open: the agency, the committee, the claim, the deadline and the escalation level,
    which closing clears), and cases are never deleted. So the count of such cases matching
    a filter is its count among those closed up to a moment, which never changes, plus the
    count among those closed since, read from the `closed_at` index each time.

    The moment is `MARGIN` before the first count, so a case closed in a transaction that
    had not committed yet when the count was made is still counted, in the second part. The
    first part is made again after `REBASE`, so the second stays small. Kept per database
    engine, in this process, for `SIZE` filter combinations at most (least recently used
    out first).
    """

    MARGIN = timedelta(minutes=10)
    REBASE = timedelta(hours=1)
    SIZE = 256

    def get(self, session: Session, key: tuple, *conditions) -> dict[str, int]:
        now = utcnow()
        entry = self.recall(key)
        if entry is None or entry[0] < now - self.REBASE - self.MARGIN:
            moment = now - self.MARGIN
            entry = (moment, _count(session, *conditions, or_(Case.closed_at <= moment,
                                                              Case.closed_at.is_(None))))
            self.keep(key, entry)
        moment, settled = entry
        counts = dict(settled)
        for status, count in _count(session, *conditions, Case.closed_at > moment).items():
            counts[status] = counts.get(status, 0) + count
        return counts


Counted = TypeVar("Counted")


class OpenCounts(EngineMemo):
    """Counts of the open cases per status for a filter, kept a short while when slow to make.

    Counting every open case that matches took 15 to 30 ms of a queue page at city scale
    (some 70,000 open cases for the city's committee). A count made in less than `SLOW` is
    made again on every page, so a commune's queue always shows exact numbers; a slower
    one is kept `FRESH` in this process, and the page says when it was made. A search's
    counts (up to `SEARCH_COUNT_LIMIT`) are kept the same way, so paging through its results
    counts once. The list of cases itself is always read afresh.
    """

    SLOW = 0.005  # seconds
    FRESH = timedelta(seconds=30)
    SIZE = 256

    def get(self, key: tuple, count: Callable[[], Counted]) -> tuple[Counted, datetime | None]:
        """What `count` returns, made now (None) or kept from when it was made."""
        now = utcnow()
        entry = self.recall(key)
        if entry is not None and entry[0] > now - self.FRESH:
            return entry[1], entry[0]
        started = time.perf_counter()
        counted = count()
        if time.perf_counter() - started >= self.SLOW:
            self.keep(key, (now, counted))
        return counted, None
