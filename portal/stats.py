"""The public figures: monthly aggregates per agency and sector, and the scoreboard read from them.

`refresh` recomputes `AgencyMonthStats` (one row per agency, Hanoi month and sector of the
case) with a handful of GROUP BY queries per month, and `AgencySnapshot` (what each agency
holds now). The `stats-refresh` job runs it every ten minutes for the current and previous
months; `flask --app app stats refresh --all` rebuilds every month since the first case. The
public pages and the open data read only these tables: `scoreboard` for every agency over a
period, `monthly` for one agency's trends.

What is counted, per agency and Hanoi month, by the sector of the case (the definitions of
`portal.agency.figures`, the head's live figures, month by month):

- received: assignments given to the agency (a forward or an approved transfer), in the month
  of the assignment;
- answered: the agency's answers, in the month each was given; answered on time: those given
  on or before the Hanoi day of the deadline kept on the answer (`Answer.due_on`), so an
  answer once late stays late whatever returns and extensions follow;
- answer time: working days (Hanoi calendar: weekends, national and city holidays excluded,
  make-up Saturdays included) from the day the case was given to the agency (the answer's own
  assignment) to the day of the answer, kept as a histogram with buckets 0..59 and a last
  bucket for 60 or more, so medians and percentiles of any period come from summed rows;
- transfer requests: those the agency made, in the month of the request, and how many of them
  the Front refused;
- ping-pong: the times a case was given back to an agency that had held it before
  (A → B → A), counted against the agency it came back to, in the month it came back;
- answers returned: the agency's answers the Front sent back (every `return_answer`);
  reopened: those returns that followed a reporter's dispute (`return_answer` from `disputed`);
- disputes: reporters' disputes, counted against the agency that held the case then;
- ratings and satisfied: ratings given in the month (overall score), satisfied: 4 or 5,
  counted against the agency whose answer was rated.

Working days of the answers: the database groups the month's answers by (agency, sector,
Hanoi day of the assignment, Hanoi day of the answer) and Python turns each distinct pair of
days into working days with the portal's `WorkingCalendar`, through a running count of working
days over the span of those days (one step per calendar day, not per answer). A month of a big
city has many answers but few distinct pairs of days per agency and sector, so no case is
loaded and the holidays stay defined in one place (the `holidays` library and the table
administrators edit) rather than copied into a calendar table that would have to be kept in
step.
"""

from __future__ import annotations

import json
import math
import operator
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Text,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Session, aliased

from portal import deadlines
from portal.agency.figures import MIN_RATINGS, SATISFIED, WAITING_FOR_AGENCY, hanoi_day
from portal.db import utcnow
from portal.memo import EngineMemo
from portal.models import (
    Agency,
    AgencyMonthStats,
    AgencySnapshot,
    Answer,
    Assignment,
    Case,
    CaseEvent,
    Rating,
    TransferRequest,
)
from portal.vocab import OPEN_STATUSES, AgencyKind, CaseStatus

# Buckets of the answer-time histogram: 0, 1, ..., 59 working days, then 60 or more.
DAY_BUCKETS = 61
LAST_BUCKET = DAY_BUCKETS - 1
# Answers an agency must have given in the period to be ranked.
MIN_ANSWERS = 5
# The textbook normal quantile of a 95 % interval.
Z95 = 1.96
COUNTS = ("received", "answered", "answered_on_time", "transfers_requested",
          "transfers_refused", "ping_pong", "answers_returned", "disputes", "reopened",
          "ratings", "satisfied")
# Serialises refreshes on PostgreSQL (the job and a command run by hand): pg_advisory_xact_lock.
_LOCK_KEY = 0x5354415453  # "STATS"


# -- months ---------------------------------------------------------------------------------


def month_of(day: date) -> date:
    """The first day of the month of `day`."""
    return day.replace(day=1)


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def months_from(first: date, last: date) -> list[date]:
    """Every month from the one of `first` to the one of `last`, both included."""
    month, end = month_of(first), month_of(last)
    months = []
    while month <= end:
        months.append(month)
        month = add_months(month, 1)
    return months


def hanoi_midnight(day: date) -> datetime:
    """The start of a Hanoi day as stored: naive UTC (Hanoi keeps UTC+7 all year)."""
    return datetime(day.year, day.month, day.day) - timedelta(hours=7)


# -- periods: the months the public pages and the open data are asked for --------------------

DEFAULT_MONTHS = 12  # a period without both ends: this many months
MAX_MONTHS = 36  # the longest period
FIRST_YEAR, LAST_YEAR = 2000, 2100  # the years a period may name
_MONTH_TEXT = re.compile(r"([0-9]{4})-([0-9]{2})")  # ASCII digits only, as YYYY-MM
MONTH_FORMAT = _l("Enter a month as YYYY-MM, e.g. 2025-04.")


class PeriodError(ValueError):
    """A period that cannot be read or is not allowed.

    `message`: what to tell people (a lazy string); `field`: the field it is about, "from" or
    "to" (the names of the query arguments).
    """

    def __init__(self, message: Any, field: str):
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Period:
    """Whole Hanoi months, from the month of `since` to the month of `until`, both included."""

    since: date  # the first day of the first month
    until: date  # the first day of the last month

    @property
    def months(self) -> int:
        """How many months the period holds."""
        return (self.until.year - self.since.year) * 12 + self.until.month - self.since.month + 1

    @property
    def last_day(self) -> date:
        return add_months(self.until, 1) - timedelta(days=1)

    @property
    def starts(self) -> datetime:
        """Midnight in Hanoi on the first day, as stored: naive UTC."""
        return hanoi_midnight(self.since)

    @property
    def ends(self) -> datetime:
        """Midnight in Hanoi after the last day, as stored: naive UTC (exclusive)."""
        return hanoi_midnight(add_months(self.until, 1))

    def label(self) -> str:
        return f"{self.since:%Y-%m}-to-{self.until:%Y-%m}"


def _parse_month(text: str, field: str) -> date:
    match = _MONTH_TEXT.fullmatch(text.strip())
    if match is None or not 1 <= int(match[2]) <= 12:
        raise PeriodError(MONTH_FORMAT, field)
    if not FIRST_YEAR <= int(match[1]) <= LAST_YEAR:
        raise PeriodError(_out_of_range(), field)
    return date(int(match[1]), int(match[2]), 1)


def _out_of_range() -> Any:
    return _l("Enter a month from %(first)s to %(last)s.", first=f"{FIRST_YEAR}-01",
              last=f"{LAST_YEAR}-12")


def parse_period(from_text: str | None, to_text: str | None,
                 default_months: int = DEFAULT_MONTHS, max_months: int = MAX_MONTHS, *,
                 today: date | None = None) -> Period:
    """The months `from_text` to `to_text` (YYYY-MM, both included, years 2000 to 2100).

    Both left out: the last `default_months` months, the current Hanoi month included. One
    left out: the other is `default_months` months away (no later than the current month
    when only the first is given, unless it is itself later). At most `max_months` months.
    Raises `PeriodError` (a ValueError) naming the field to correct; nothing else.
    """
    since = _parse_month(from_text, "from") if from_text else None
    until = _parse_month(to_text, "to") if to_text else None
    try:
        current = month_of(today or deadlines.today())
        if since is None and until is None:
            until = current
        if since is None:
            since = add_months(until, 1 - default_months)
        if until is None:
            until = min(add_months(since, default_months - 1), max(since, current))
        if since > until:
            raise PeriodError(_l("The last month comes before the first."), "to")
        if add_months(since, max_months - 1) < until:
            raise PeriodError(_l("At most %(n)d months.", n=max_months), "to")
    except PeriodError:
        raise
    except (ValueError, OverflowError):  # a month before year 1 or after 9999: not with the
        # years allowed above, but never a server error whatever changes
        raise PeriodError(_out_of_range(), "from" if from_text else "to") from None
    return Period(since, until)


# -- the refresh ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RefreshResult:
    months: list[date]
    rows: int  # AgencyMonthStats rows written
    snapshots: int  # AgencySnapshot rows written

    def summary(self) -> str:
        if not self.months:
            return f"no month to compute; snapshots of {self.snapshots} agencies"
        span = (f"{self.months[0]:%Y-%m}" if len(self.months) == 1
                else f"{self.months[0]:%Y-%m} to {self.months[-1]:%Y-%m}")
        return (f"statistics refreshed for {len(self.months)} month(s), {span}: {self.rows} "
                f"row(s); snapshots of {self.snapshots} agencies")

    def as_dict(self) -> dict[str, Any]:
        return {"months": [m.isoformat() for m in self.months], "rows": self.rows,
                "snapshots": self.snapshots}


def refresh(session: Session, months: Iterable[date] | None = None, *,
            all: bool = False) -> RefreshResult:
    """Recompute the monthly aggregates of `months` (any day of each month) and the snapshots.

    Default: the current and previous Hanoi months, plus any older month whose transfer
    requests the Front decided since (their refusals change that month's row); every month
    when no aggregate exists yet (the first run). `all=True`: every month from the one of the
    first case to the current one, and rows outside that span are removed.

    Each month is replaced (delete, then insert) in a transaction of its own, committed here,
    so a reader sees a month as it was before or after, never half of it; running it twice
    gives the same rows. The snapshots are replaced in a last transaction. The session is
    committed first: pass one without pending work of its own.
    """
    session.commit()  # nothing of the caller's rides along in the transactions below
    current = month_of(deadlines.today())
    if all or (months is None and session.scalar(select(AgencyMonthStats.id).limit(1)) is None):
        first = session.scalar(select(func.min(Case.created_at)))
        chosen = months_from(deadlines.hanoi_date(first), current) if first else []
        _begin(session)
        outside = delete(AgencyMonthStats)
        if chosen:
            outside = outside.where(or_(AgencyMonthStats.month < chosen[0],
                                        AgencyMonthStats.month > chosen[-1]))
        session.execute(outside)
        session.commit()
    elif months is None:
        chosen = sorted({add_months(current, -1), current} | _months_decided_since(
            session, add_months(current, -1)))
    else:
        chosen = sorted({month_of(m) for m in months})
    calendar = deadlines.WorkingCalendar.load(session)
    written = 0
    for month in chosen:
        written += _refresh_month(session, month, calendar)
    snapshots = refresh_snapshots(session)
    return RefreshResult(months=chosen, rows=written, snapshots=snapshots)


def _begin(session: Session) -> None:
    """Start the writing transaction; on PostgreSQL, wait for any other refresh to end first."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})


def _months_decided_since(session: Session, since_month: date) -> set[date]:
    """Months before `since_month` with a transfer request decided since: their refusals moved."""
    start = hanoi_midnight(since_month)
    days = session.scalars(
        select(hanoi_day(TransferRequest.created_at)).distinct()
        .where(TransferRequest.decided_at >= start, TransferRequest.created_at < start))
    return {month_of(day) for day in days}


def _refresh_month(session: Session, month: date, calendar: deadlines.WorkingCalendar) -> int:
    _begin(session)
    # The delete comes first: on SQLite it takes the write lock, so the reads below see the
    # same data as the rows written from them.
    session.execute(delete(AgencyMonthStats).where(AgencyMonthStats.month == month))
    rows = compute_month(session, month, calendar)
    if rows:
        session.execute(insert(AgencyMonthStats), rows)
    session.commit()
    return len(rows)


def _tally() -> dict[str, Any]:
    return {**dict.fromkeys(COUNTS, 0), "answer_days": [0] * DAY_BUCKETS}


def compute_month(session: Session, month: date,
                  calendar: deadlines.WorkingCalendar | None = None) -> list[dict[str, Any]]:
    """The rows of one Hanoi month, as dicts for `AgencyMonthStats`: five GROUP BY queries."""
    calendar = calendar or deadlines.WorkingCalendar.load(session)
    start, end = hanoi_midnight(month), hanoi_midnight(add_months(month, 1))
    tallies: dict[tuple[int, str], dict[str, Any]] = defaultdict(_tally)

    # Received, and ping-pong: the case had been given to this agency before.
    earlier = aliased(Assignment)
    came_back = exists().where(earlier.case_id == Assignment.case_id,
                               earlier.agency_id == Assignment.agency_id,
                               earlier.id < Assignment.id)
    for agency_id, sector, received, ping_pong in session.execute(
            select(Assignment.agency_id, Case.sector, func.count(),
                   func.count(case((came_back, 1))))
            .join(Case, Case.id == Assignment.case_id)
            .where(Assignment.assigned_at >= start, Assignment.assigned_at < end)
            .group_by(Assignment.agency_id, Case.sector)):
        tally = tallies[agency_id, sector]
        tally["received"], tally["ping_pong"] = received, ping_pong

    # Answers, on time, and their working days: grouped by the pair of days.
    assigned_day = hanoi_day(Assignment.assigned_at)
    answered_day = hanoi_day(Answer.created_at)
    pairs = session.execute(
        select(Assignment.agency_id, Case.sector, assigned_day, answered_day, func.count(),
               func.count(case((answered_day <= Answer.due_on, 1))))
        .select_from(Answer)
        .join(Assignment, Assignment.id == Answer.assignment_id)
        .join(Case, Case.id == Answer.case_id)
        .where(Answer.created_at >= start, Answer.created_at < end)
        .group_by(Assignment.agency_id, Case.sector, assigned_day, answered_day)).all()
    working = WorkingDays(calendar, [day for row in pairs for day in row[2:4]])
    for agency_id, sector, given, answered, count, on_time in pairs:
        tally = tallies[agency_id, sector]
        tally["answered"] += count
        tally["answered_on_time"] += on_time
        tally["answer_days"][min(working.between(given, answered), LAST_BUCKET)] += count

    for agency_id, sector, requested, refused in session.execute(
            select(TransferRequest.from_agency_id, Case.sector, func.count(),
                   func.count(case((TransferRequest.decision == "refused", 1))))
            .join(Case, Case.id == TransferRequest.case_id)
            .where(TransferRequest.created_at >= start, TransferRequest.created_at < end)
            .group_by(TransferRequest.from_agency_id, Case.sector)):
        tally = tallies[agency_id, sector]
        tally["transfers_requested"], tally["transfers_refused"] = requested, refused

    # Disputes and returned answers: against the agency that held the case at the event, the
    # one of the case's latest assignment made before it.
    holder = (select(Assignment.agency_id)
              .where(Assignment.case_id == CaseEvent.case_id,
                     Assignment.assigned_at <= CaseEvent.created_at)
              .order_by(Assignment.id.desc()).limit(1)
              .correlate(CaseEvent).scalar_subquery())
    events = (select(holder.label("agency_id"), Case.sector.label("sector"),
                     CaseEvent.action.label("action"), CaseEvent.from_status.label("from_status"))
              .join(Case, Case.id == CaseEvent.case_id)
              .where(CaseEvent.action.in_(("dispute", "return_answer")),
                     CaseEvent.created_at >= start, CaseEvent.created_at < end)
              .subquery())
    for agency_id, sector, disputes, returned, reopened in session.execute(
            select(events.c.agency_id, events.c.sector,
                   func.count(case((events.c.action == "dispute", 1))),
                   func.count(case((events.c.action == "return_answer", 1))),
                   func.count(case((and_(events.c.action == "return_answer",
                                         events.c.from_status == CaseStatus.DISPUTED), 1))))
            .where(events.c.agency_id.is_not(None))
            .group_by(events.c.agency_id, events.c.sector)):
        tally = tallies[agency_id, sector]
        tally["disputes"], tally["answers_returned"], tally["reopened"] = (
            disputes, returned, reopened)

    # Ratings: a rated case is closed for good, so the agency holding it is the one rated.
    for agency_id, sector, ratings, satisfied in session.execute(
            select(Case.assigned_agency_id, Case.sector, func.count(),
                   func.count(case((Rating.overall >= SATISFIED, 1))))
            .select_from(Rating).join(Case, Case.id == Rating.case_id)
            .where(Rating.created_at >= start, Rating.created_at < end,
                   Case.assigned_agency_id.is_not(None))
            .group_by(Case.assigned_agency_id, Case.sector)):
        tally = tallies[agency_id, sector]
        tally["ratings"], tally["satisfied"] = ratings, satisfied

    return [{"agency_id": agency_id, "month": month, "sector": sector, **tally}
            for (agency_id, sector), tally in sorted(tallies.items())]


class WorkingDays:
    """Working days between Hanoi days, from a running count over the span of the given days."""

    def __init__(self, calendar: deadlines.WorkingCalendar, days: Sequence[date]):
        self.count: dict[date, int] = {}
        if not days:
            return
        day, last, running = min(days), max(days), 0
        while day <= last:
            self.count[day] = running
            day += timedelta(days=1)
            if day <= last and calendar.is_working_day(day):
                running += 1
        # count[d]: working days after the first day up to and including d.

    def between(self, start: date, end: date) -> int:
        """As `WorkingCalendar.working_days_between`: working days after `start` up to `end`."""
        return max(0, self.count[end] - self.count[start])


def refresh_snapshots(session: Session) -> int:
    """Replace every agency's snapshot: the cases it holds now, and how many are overdue."""
    _begin(session)
    now = deadlines.today()
    held = (select(Case.assigned_agency_id.label("agency_id"),
                   func.count().label("open_now"),
                   func.count(case((and_(Case.status.in_(WAITING_FOR_AGENCY), Case.due_on < now),
                                    1))).label("overdue_now"))
            .where(Case.assigned_agency_id.is_not(None),
                   Case.status.in_(sorted(OPEN_STATUSES)))
            .group_by(Case.assigned_agency_id).subquery())
    session.execute(delete(AgencySnapshot))
    result = session.execute(insert(AgencySnapshot).from_select(
        ["agency_id", "open_now", "overdue_now", "refreshed_at"],
        select(Agency.id, func.coalesce(held.c.open_now, 0), func.coalesce(held.c.overdue_now, 0),
               literal(utcnow()))
        .outerjoin(held, held.c.agency_id == Agency.id)))
    session.commit()
    return result.rowcount


# -- reading: figures over a period ---------------------------------------------------------


def percentile(histogram: Sequence[int], percent: int) -> int | None:
    """The nearest-rank percentile of a histogram of working days (60: 60 or more).

    The smallest number of days that at least `percent` % of the answers took: with N answers,
    the value of the ⌈percent·N/100⌉-th shortest. None without answers.
    """
    total = sum(histogram)
    if not total:
        return None
    rank = max(1, -(-percent * total // 100))
    running = 0
    for days, count in enumerate(histogram):
        running += count
        if running >= rank:
            return days
    raise AssertionError("unreachable")


def wilson_interval(successes: int, trials: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion, as percentages; None without trials."""
    if not trials:
        return None
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return 100 * max(0.0, centre - half), 100 * min(1.0, centre + half)


@dataclass(frozen=True)
class Figures:
    """Counts summed over months, and what follows from them."""

    received: int = 0
    answered: int = 0
    answered_on_time: int = 0
    transfers_requested: int = 0
    transfers_refused: int = 0
    ping_pong: int = 0
    answers_returned: int = 0
    disputes: int = 0
    reopened: int = 0
    ratings: int = 0
    satisfied: int = 0

    @property
    def on_time_percent(self) -> float | None:
        return 100 * self.answered_on_time / self.answered if self.answered else None

    @property
    def satisfaction_shown(self) -> bool:
        return self.ratings >= MIN_RATINGS

    @property
    def satisfaction_percent(self) -> float | None:
        return 100 * self.satisfied / self.ratings if self.satisfaction_shown else None

    @property
    def satisfaction_interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.satisfied, self.ratings) if self.satisfaction_shown else None


@dataclass(frozen=True)
class AgencyRow:
    """One agency's line of the scoreboard over a period: the fields are listed in `scoreboard`."""

    agency_id: int
    code: str
    name: str
    name_en: str | None
    kind: str
    received: int
    answered: int
    answered_on_time: int
    on_time: float | None
    answer_days: tuple[int, ...]
    median_days: int | None
    p90_days: int | None
    transfers_requested: int
    transfers_refused: int
    ping_pong: int
    answers_returned: int
    disputes: int
    reopened: int
    ratings: int
    satisfied: int
    satisfaction: float | None
    satisfaction_low: float | None
    satisfaction_high: float | None
    open_now: int
    overdue_now: int
    snapshot_at: datetime | None
    rank: int | None
    ranked: int


@dataclass(frozen=True)
class MonthFigures(Figures):
    """One agency's figures for one month (see `monthly`)."""

    month: date = date.min


def _sums(since: date, until: date, sector: str | None):
    """The SUM of each count of AgencyMonthStats, and the WHERE of a period and sector."""
    where = [AgencyMonthStats.month >= month_of(since), AgencyMonthStats.month <= month_of(until)]
    if sector:
        where.append(AgencyMonthStats.sector == sector)
    sums = [func.coalesce(func.sum(getattr(AgencyMonthStats, name)), 0).label(name)
            for name in COUNTS]
    return sums, where


def scoreboard(session: Session, since: date, until: date, sector: str | None) -> list[AgencyRow]:
    """Every agency's figures over the months from the one of `since` to the one of `until`.

    Reads only the aggregates and the snapshots, in three queries whatever the number of
    agencies (one when the same figures were computed before: `Scoreboards`). `sector`:
    one sector's cases (a `portal.vocab.Sector` code), or None for all.
    One `AgencyRow` per active agency (and per inactive one with figures in the period),
    ordered by kind (in the order of `AgencyKind`), then rank, then name. Its fields:

    - agency_id, code, name (Vietnamese), name_en (or None), kind (`AgencyKind` code);
    - received: times a case was given to the agency (forward or approved transfer);
    - answered: answers the agency gave; answered_on_time: those given by the Hanoi day of the
      deadline each was given against; on_time: their share in % (None without answers);
    - answer_days: histogram of working days from assignment to answer (index 0..59, then
      index 60 for 60 or more); median_days and p90_days: its nearest-rank 50th and 90th
      percentiles (60 meaning 60 or more; None without answers);
    - transfers_requested: the agency's requests to pass a case on; transfers_refused: how
      many of them the Front refused;
    - ping_pong: times a case came back to the agency after it had passed it on (A → B → A);
    - answers_returned: answers the Front sent back to the agency; reopened: of those, the
      ones returned after the reporter disputed the accepted answer; disputes: reporters'
      disputes of the agency's accepted answers;
    - ratings: ratings of the agency's closed cases; satisfied: those rated 4 or 5 overall;
      satisfaction: satisfied / ratings in %, and satisfaction_low / satisfaction_high: its
      Wilson 95 % interval in % — all three None below `MIN_RATINGS` (10) ratings;
    - open_now, overdue_now: cases the agency holds now, and those of them waiting past their
      deadline for its acknowledgement or answer — all sectors, whatever the period, as of
      snapshot_at (the last refresh; None before the first);
    - rank: 1 = best among the agencies of the same kind, by on_time (exact share), then
      satisfaction (a hidden one counts as lowest); equal records share a rank (1, 1, 3),
      listed by name; None for an agency with fewer than `MIN_ANSWERS` (5) answers in the
      period, listed after the ranked ones by name; ranked: how many agencies of its kind
      have a rank.

    Every count is a sum over the months of the period of the monthly rows (see the module's
    docstring for what each counts and in which month).
    """
    return _scoreboard(session, since, until, sector)


def _scoreboard(session: Session, since: date, until: date, sector: str | None,
                kind: str | None = None, include: int | None = None) -> list[AgencyRow]:
    # A refresh replaces the months one transaction at a time (new rows, new ids) and the
    # snapshots last: the newest id tells a scoreboard read halfway through from the next.
    newest = select(func.max(AgencyMonthStats.id)).scalar_subquery()
    listing = select(Agency.id, Agency.code, Agency.name, Agency.name_en, Agency.kind,
                     Agency.active, AgencySnapshot.open_now, AgencySnapshot.overdue_now,
                     AgencySnapshot.refreshed_at, newest) \
        .outerjoin(AgencySnapshot, AgencySnapshot.agency_id == Agency.id).order_by(Agency.id)
    if kind is not None:
        listing = listing.where(Agency.kind == kind)
    rows = session.execute(listing).all()
    agencies = tuple(tuple(row[:-1]) for row in rows)
    key = (month_of(since), month_of(until), sector, kind, include,
           rows[0][-1] if rows else None, agencies)
    return Scoreboards.of(session).kept(key, lambda: _figures(
        session, since, until, sector, kind, include, agencies))


def _figures(session: Session, since: date, until: date, sector: str | None, kind: str | None,
             include: int | None, agencies: tuple[tuple, ...]) -> list[AgencyRow]:
    sums, where = _sums(since, until, sector)
    totals_query = (select(AgencyMonthStats.agency_id, *sums).where(*where)
                    .group_by(AgencyMonthStats.agency_id))
    histogram_query = (select(AgencyMonthStats.agency_id, cast(AgencyMonthStats.answer_days, Text))
                       .where(*where, AgencyMonthStats.answered > 0))
    if kind is not None:
        totals_query = totals_query.join(Agency, Agency.id == AgencyMonthStats.agency_id) \
            .where(Agency.kind == kind)
        histogram_query = histogram_query.join(Agency, Agency.id == AgencyMonthStats.agency_id) \
            .where(Agency.kind == kind)
    totals = {row[0]: row[1:] for row in session.execute(totals_query)}
    histograms = _sum_histograms(session.execute(histogram_query))

    partial = []
    for agency_id, code, name, name_en, agency_kind, active, open_now, overdue_now, \
            snapshot_at in agencies:
        if not (active or agency_id in totals or agency_id == include):
            continue
        counts = dict(zip(COUNTS, totals.get(agency_id, (0,) * len(COUNTS)), strict=True))
        days = tuple(histograms.get(agency_id, (0,) * DAY_BUCKETS))
        figures = Figures(**counts)
        interval = figures.satisfaction_interval
        partial.append(dict(
            agency_id=agency_id, code=code, name=name, name_en=name_en, kind=agency_kind,
            open_now=open_now or 0, overdue_now=overdue_now or 0, snapshot_at=snapshot_at,
            answer_days=days, median_days=percentile(days, 50), p90_days=percentile(days, 90),
            on_time=figures.on_time_percent, satisfaction=figures.satisfaction_percent,
            satisfaction_low=interval[0] if interval else None,
            satisfaction_high=interval[1] if interval else None, **counts))
    return _ranked(partial)


def _sum_histograms(rows: Iterable[tuple[int, str]]) -> dict[int, tuple[int, ...]]:
    """Each agency's histograms (as JSON text) summed bucket by bucket, shorter ones padded."""
    texts: dict[int, list[str]] = defaultdict(list)
    for agency_id, days in rows:
        texts[agency_id].append(days)
    summed = {}
    for agency_id, histograms in texts.items():
        total = [0] * DAY_BUCKETS
        # One parse per agency, and the additions in C: a million numbers on a city's board.
        for days in json.loads("[" + ",".join(histograms) + "]"):
            if len(days) < DAY_BUCKETS:
                days = days + [0] * (DAY_BUCKETS - len(days))
            total = list(map(operator.add, total, days))
        summed[agency_id] = tuple(total)
    return summed


class Scoreboards(EngineMemo):
    """Recent scoreboards, kept with what they were computed from.

    The key holds the period, sector and kind asked for, the newest aggregate's id, and every
    agency with its snapshot as read for the request: names, kind, whether it is active, the
    cases it holds now and the time of the snapshot. The monthly aggregates change only
    through `refresh`, which replaces them month by month (new ids) and ends by replacing
    every snapshot (a new time), so a scoreboard asked for during or after a refresh, or
    after a change to an agency, gets a new key and is computed again; until then the same
    key means the same figures. Summing the aggregates (a row per agency, month and sector, and
    a histogram of 61 numbers in each) was most of the page's time. Per database engine, in
    this process, the `SIZE` most recent.
    """

    SIZE = 64


def _rank_key(row: dict[str, Any]) -> tuple:
    """What the rank compares: the exact share on time, then satisfaction (hidden: lowest)."""
    on_time = Fraction(row["answered_on_time"], row["answered"])
    satisfaction = (Fraction(row["satisfied"], row["ratings"])
                    if row["ratings"] >= MIN_RATINGS else Fraction(-1))
    return (-on_time, -satisfaction)


def _by_name(row: dict[str, Any]) -> tuple:
    return (row["name"].casefold(), row["code"])


KIND_ORDER = {kind.value: index for index, kind in enumerate(AgencyKind)}


def _ranked(partial: list[dict[str, Any]]) -> list[AgencyRow]:
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in partial:
        by_kind[row["kind"]].append(row)
    rows = []
    for kind in sorted(by_kind, key=lambda k: (KIND_ORDER.get(k, len(KIND_ORDER)), k)):
        group = by_kind[kind]
        eligible = sorted((r for r in group if r["answered"] >= MIN_ANSWERS),
                          key=lambda r: (_rank_key(r), _by_name(r)))
        unranked = sorted((r for r in group if r["answered"] < MIN_ANSWERS), key=_by_name)
        # Standard competition ranking: equal records share a rank, the next one skips
        # (1, 1, 3); the name only orders the lines of a shared rank.
        rank, previous = 0, None
        for position, row in enumerate(eligible, start=1):
            key = _rank_key(row)
            if key != previous:
                rank, previous = position, key
            rows.append(AgencyRow(**row, rank=rank, ranked=len(eligible)))
        rows.extend(AgencyRow(**row, rank=None, ranked=len(eligible)) for row in unranked)
    return rows


def agency_row(session: Session, agency: Agency, since: date, until: date,
               sector: str | None) -> tuple[AgencyRow, list[AgencyRow]]:
    """One agency's row, and the rows of its kind it is ranked among (two queries).

    An inactive agency (merged away, say) has its row too, ranked if it answered enough in the
    period.
    """
    rows = _scoreboard(session, since, until, sector, kind=agency.kind, include=agency.id)
    return next(row for row in rows if row.agency_id == agency.id), rows


def monthly(session: Session, agency_id: int, since: date, until: date,
            sector: str | None) -> list[MonthFigures]:
    """One agency's figures month by month over the period, months without rows as zeros."""
    sums, where = _sums(since, until, sector)
    found = {
        row[0]: MonthFigures(month=row[0], **dict(zip(COUNTS, row[1:], strict=True)))
        for row in session.execute(
            select(AgencyMonthStats.month, *sums)
            .where(*where, AgencyMonthStats.agency_id == agency_id)
            .group_by(AgencyMonthStats.month))
    }
    return [found.get(month, MonthFigures(month=month)) for month in months_from(since, until)]
