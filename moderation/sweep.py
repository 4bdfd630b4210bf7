"""The deadline sweep: one job that finds every case whose deadline has passed and acts on it.

Agency stages (forwarded: acknowledge; in_progress: answer) climb the ladder of
`lifecycle.ESCALATION_STEPS` by working days overdue: 1 → a reminder to the named officer
(or every officer of the agency when none is named), 3 → the agency head(s), 5 → the
supervising authority (the case's Front committee and, for a commune-level case, the city
committee too).

Front stages (submitted, transfer_requested, answered, disputed) are late on the Front's own
side: there is no officer or head to remind, so one working day overdue sends the case to
the top rung at once (`lifecycle.next_escalation_step`), one event: the committee's
supervisors and, for a commune or ward committee, the city Front are told.

`needs_info` cases are never selected: their clock stands still. Resolved cases whose
rating window has ended are closed with `lifecycle.close_unrated`.

The working calendar (national holidays from the `holidays` library, the city's days off
from the database) cannot be evaluated in SQL, so Python turns "N working days overdue"
into "due before date D", and one query per batch compares dates on the
(status, due_on) index, computes each case's target rung and loads the cases themselves.
Each case is then changed under a savepoint of its own, so a failure or a concurrent
change (the version check) costs that case only; it is picked up again by the next run.
The batch commits once: a commit per case cost the first sweep of a day at city scale
(thousands of cases) most of its time. A case already at its target is not selected,
which makes a second run right after a first one do nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy import case as case_when
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from portal import deadlines, lifecycle, notifications, outbox
from portal.deadlines import WorkingCalendar
from portal.lifecycle import ESCALATION_STEPS, Actor, TransitionRefused
from portal.models import Case
from portal.vocab import CaseStatus

log = logging.getLogger(__name__)

S = CaseStatus
AGENCY_STAGES = (S.FORWARDED, S.IN_PROGRESS)
FRONT_STAGES = tuple(sorted(lifecycle.FRONT_STAGES))
# Working days overdue at which an agency stage reaches each rung (1: officer, 2: head,
# 3: supervisor).
AGENCY_RUNG_DAYS = {1: 1, 2: 3, 3: 5}
FRONT_STAGE_DAYS = 1
TOP = len(ESCALATION_STEPS)
# Enough to make each query and each commit worth its round trip, small enough that a batch
# never weighs much in memory nor keeps its changed rows locked for long (a fraction of a
# second), whatever the size of the table.
BATCH_SIZE = 200


@dataclass
class SweepResult:
    today: date
    selected: int = 0
    escalated: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ESCALATION_STEPS, 0))
    closed: int = 0
    # Changed by someone else since it was selected; the next run looks at it again.
    skipped: int = 0
    failed: int = 0
    batches: int = 0
    duration: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"today": self.today.isoformat(), "selected": self.selected,
                "escalated": dict(self.escalated), "closed": self.closed,
                "skipped": self.skipped, "failed": self.failed, "batches": self.batches,
                "duration": round(self.duration, 3)}

    def summary(self) -> str:
        steps = ", ".join(f"{step} {n}" for step, n in self.escalated.items())
        return (f"deadline sweep for {self.today.isoformat()}: {self.selected} selected; "
                f"escalated: {steps}; closed unrated: {self.closed}; skipped: {self.skipped}; "
                f"failed: {self.failed}; {self.duration:.2f} s")


def overdue_before(calendar: WorkingCalendar, today: date, working_days: int) -> date:
    """The date a deadline must fall before to be at least `working_days` working days overdue.

    A case is N working days overdue when N working days passed after its due date, today
    included: it was due before the N-th working day counted back from today.
    """
    day, seen = today, 0
    while True:
        if calendar.is_working_day(day):
            seen += 1
            if seen == working_days:
                return day
        day -= timedelta(days=1)


def candidates_query(calendar: WorkingCalendar, today: date) -> Select:
    """Every case the sweep must act on, with the rung its deadline calls for, in id order."""
    rung_dates = {level: overdue_before(calendar, today, days)
                  for level, days in AGENCY_RUNG_DAYS.items()}
    front_date = overdue_before(calendar, today, FRONT_STAGE_DAYS)
    agency_target = case_when(
        *((Case.due_on < rung_dates[level], level) for level in sorted(rung_dates, reverse=True)),
        else_=0)
    target = case_when(
        (Case.status.in_(AGENCY_STAGES), agency_target),
        (Case.status.in_(FRONT_STAGES), case_when((Case.due_on < front_date, TOP), else_=0)),
        else_=0,
    ).label("target")
    # Each branch is a range of the (status, due_on) index; the rung test then drops cases
    # already as high as their deadline calls for.
    overdue = or_(
        and_(Case.status.in_(AGENCY_STAGES), Case.due_on < rung_dates[1]),
        and_(Case.status.in_(FRONT_STAGES), Case.due_on < front_date),
    )
    rating_ended = and_(Case.status == S.RESOLVED, Case.due_on < today)
    return (select(Case, target)
            .where(or_(and_(overdue, Case.escalation_level < target), rating_ended))
            .order_by(Case.id))


def _batch(session: Session, query: Select, after_id: int, limit: int) -> list[Row]:
    # populate_existing: a case still in the session from an earlier batch is read anew.
    return session.execute(query.where(Case.id > after_id).limit(limit)
                           .execution_options(populate_existing=True)).all()


def sweep(session: Session, today: date | None = None, *,
          batch_size: int = BATCH_SIZE) -> SweepResult:
    """Escalate every overdue case to the rung it has reached and close ended rating windows.

    Give it a session of its own: it commits after each batch. Safe to run again at any time,
    and next to another sweep (the version check makes one of the two skip the case).
    """
    started = time.perf_counter()
    today = today or deadlines.today()
    calendar = WorkingCalendar.load(session)
    query = candidates_query(calendar, today)
    # SQLite's driver ends its transaction with the outermost savepoint, and a savepoint rolled
    # back would keep the database's only write lock until the batch ends: there each case
    # commits on its own, as a web request would.
    each_case_commits = session.get_bind().dialect.name == "sqlite"
    result = SweepResult(today)
    after_id = 0
    while True:
        rows = _batch(session, query, after_id, batch_size)
        result.batches += 1
        for row in rows:
            result.selected += 1
            _handle(session, row.Case, row.target, today, calendar, result)
            if each_case_commits:
                session.commit()
        session.commit()
        # The sweep delivers nothing itself (the relay does): keep no reference to the
        # messages, so memory stays flat over a long run.
        session.info.pop(outbox.NEW_MESSAGES, None)
        if len(rows) < batch_size:
            break
        after_id = rows[-1].Case.id
    result.duration = time.perf_counter() - started
    log.info(result.summary())
    return result


def _handle(session: Session, case: Case, target: int, today: date,
            calendar: WorkingCalendar, result: SweepResult) -> None:
    """Act on one selected case under a savepoint of its own."""
    closing = case.status == S.RESOLVED
    try:
        with session.begin_nested():
            if closing:
                lifecycle.close_unrated(session, case, Actor.system())
                climbed = []
            else:
                climbed = _climb(session, case, target, today, calendar)
    except (TransitionRefused, StaleDataError, IntegrityError):
        # The case moved on since it was read (a concurrent action, or the clock of the
        # lifecycle disagreeing with `today`): nothing to do this time.
        result.skipped += 1
        return
    except Exception:
        log.exception("deadline sweep: case %s failed; it is tried again next run", case.id)
        result.failed += 1
        return
    if closing:
        result.closed += 1
    for step in climbed:
        result.escalated[step] += 1


def _climb(session: Session, case: Case, target: int, today: date,
           calendar: WorkingCalendar) -> list[str]:
    front_stage = case.status in FRONT_STAGES
    days_overdue = calendar.working_days_between(case.due_on, today)
    climbed = []
    while case.escalation_level < target:
        step = lifecycle.next_escalation_step(case)
        lifecycle.escalate(session, case, Actor.system(), step=step)
        notifications.queue(
            session, "escalation", case_id=case.id, step=step,
            front_stage=front_stage, stage=case.due_stage,
            due_on=case.due_on.isoformat(), days_overdue=days_overdue,
            agency_id=case.assigned_agency_id, officer_id=case.assigned_officer_id,
            committee_id=case.front_committee_id)
        climbed.append(step)
    return climbed
