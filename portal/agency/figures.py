"""An agency's own figures over a period, for its head: each one an aggregate query.

Every query is filtered on an indexed column of the agency (`assignments.agency_id`,
`cases.assigned_agency_id`, `transfer_requests.from_agency_id`) and counts in the database:
no case is loaded. What is counted, and against whom:

- received: the times a case was given to the agency (`Assignment` rows) in the period;
- open now, overdue now: the cases the agency holds today, whatever the period;
- answered on time: of the agency's answers given in the period, those given by the end of
  the deadline each was given against (kept on the answer), a Hanoi working day;
- transfer requests: those the agency made in the period, and how many the Front refused;
- returned answers: the agency's answers the Front sent back in the period;
- disputes and satisfaction: of the cases the agency holds or last held, the disputes and
  ratings made in the period. Satisfaction is the share of ratings of 4 or 5 overall, shown
  only from `MIN_RATINGS` ratings on.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Date, case, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from portal.deadlines import HANOI, today
from portal.models import Answer, Assignment, Case, CaseEvent, Rating, TransferRequest
from portal.vocab import OPEN_STATUSES, CaseStatus

DEFAULT_MONTHS = 12
MAX_MONTHS = 36
MIN_RATINGS = 10
SATISFIED = 4  # an overall score of 4 or 5
# Overdue as the inbox shows it: still waiting for the agency to acknowledge or answer.
WAITING_FOR_AGENCY = (CaseStatus.FORWARDED, CaseStatus.IN_PROGRESS)


class hanoi_day(FunctionElement):  # noqa: N801 - an SQL function, named as such
    """The Hanoi date of a stored moment (naive UTC). Hanoi keeps UTC+7 all year round."""

    type = Date()
    name = "hanoi_day"
    inherit_cache = True


@compiles(hanoi_day)
def _hanoi_day_postgresql(element, compiler, **kw):
    return f"CAST(({compiler.process(element.clauses, **kw)} + INTERVAL '7 hours') AS DATE)"


@compiles(hanoi_day, "sqlite")
def _hanoi_day_sqlite(element, compiler, **kw):
    return f"date({compiler.process(element.clauses, **kw)}, '+7 hours')"


def _percent(part: int, whole: int) -> int | None:
    return round(100 * part / whole) if whole else None


@dataclass(frozen=True)
class AgencyFigures:
    months: int
    since: date  # the first Hanoi day of the period
    until: date  # today, the last day of the period
    received: int
    open_now: int
    overdue_now: int
    answered: int
    answered_on_time: int
    transfers_requested: int
    transfers_refused: int
    answers_returned: int
    disputes: int
    ratings: int
    satisfied: int

    @property
    def on_time_percent(self) -> int | None:
        """Of the answers given in the period, the share given in time; None without answers."""
        return _percent(self.answered_on_time, self.answered)

    @property
    def satisfaction_percent(self) -> int | None:
        """The share of ratings of 4 or 5; None below `MIN_RATINGS` ratings (too few to tell)."""
        if self.ratings < MIN_RATINGS:
            return None
        return _percent(self.satisfied, self.ratings)


def months_before(day: date, months: int) -> date:
    """The same day `months` calendar months earlier (the month's last day if it is shorter)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _start_of(day: date) -> datetime:
    """Midnight in Hanoi at the start of `day`, as stored: naive UTC."""
    return datetime.combine(day, time(), tzinfo=HANOI).astimezone(UTC).replace(tzinfo=None)


def _count(condition):
    return func.count(case((condition, 1)))


def agency_figures(session: Session, agency_id: int, months: int = DEFAULT_MONTHS) -> AgencyFigures:
    if not 1 <= months <= MAX_MONTHS:
        raise ValueError(f"months must be between 1 and {MAX_MONTHS}")
    now = today()
    # `months` months ending today: from the day after the same day `months` months ago.
    since_day = months_before(now, months) + timedelta(days=1)
    since = _start_of(since_day)

    received = session.scalar(
        select(func.count()).select_from(Assignment)
        .where(Assignment.agency_id == agency_id, Assignment.assigned_at >= since))

    # Every answer given, each judged against the deadline it was given under: an answer
    # that came late stays late after the Front returns it and a second one comes in time.
    answered, on_time = session.execute(
        select(func.count(), _count(hanoi_day(Answer.created_at) <= Answer.due_on))
        .select_from(Answer).join(Assignment, Assignment.id == Answer.assignment_id)
        .where(Assignment.agency_id == agency_id, Answer.created_at >= since)
    ).one()

    open_now, overdue_now = session.execute(
        select(func.count(),
               _count(Case.status.in_(WAITING_FOR_AGENCY) & (Case.due_on < now)))
        .where(Case.assigned_agency_id == agency_id, Case.status.in_(list(OPEN_STATUSES)))
    ).one()

    transfers, refused = session.execute(
        select(func.count(), _count(TransferRequest.decision == "refused"))
        .where(TransferRequest.from_agency_id == agency_id, TransferRequest.created_at >= since)
    ).one()

    returned = session.scalar(
        select(func.count()).select_from(Answer)
        .join(Assignment, Assignment.id == Answer.assignment_id)
        .where(Assignment.agency_id == agency_id, Answer.review == "returned",
               Answer.reviewed_at >= since)
    )

    disputes = session.scalar(
        select(func.count()).select_from(CaseEvent)
        .join(Case, Case.id == CaseEvent.case_id)
        .where(Case.assigned_agency_id == agency_id, CaseEvent.action == "dispute",
               CaseEvent.created_at >= since)
    )

    ratings, satisfied = session.execute(
        select(func.count(), _count(Rating.overall >= SATISFIED))
        .select_from(Rating).join(Case, Case.id == Rating.case_id)
        .where(Case.assigned_agency_id == agency_id, Case.status == CaseStatus.CLOSED,
               Rating.created_at >= since)
    ).one()

    return AgencyFigures(
        months=months, since=since_day, until=now, received=received, open_now=open_now,
        overdue_now=overdue_now, answered=answered, answered_on_time=on_time,
        transfers_requested=transfers, transfers_refused=refused, answers_returned=returned or 0,
        disputes=disputes or 0, ratings=ratings, satisfied=satisfied,
    )
