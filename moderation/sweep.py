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
into "due before date D", and one query for the whole run compares dates on the
(status, due_on) index and computes each case's target rung. The cases are then loaded and
changed by batches, each in one transaction flushed at once: a statement per case was what
the day's first sweep at city scale spent its time on. When a case of a batch fails, or was
changed by someone else meanwhile (the version check), the batch is rolled back and done
again case by case, each under a savepoint of its own, so that the failure costs that case
only; it is picked up again by the next run. A case already at its target is not selected,
which makes a second run right after a first one do nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy import case as case_when
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

    def add(self, other: SweepResult) -> None:
        """Count what `other`, a part of this run, did."""
        self.closed += other.closed
        self.skipped += other.skipped
        self.failed += other.failed
        for step, count in other.escalated.items():
            self.escalated[step] += count

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
    return (select(Case.id, Case.version, target)
            .where(or_(and_(overdue, Case.escalation_level < target), rating_ended))
            .order_by(Case.id))


def _candidates(session: Session, query: Select) -> list[tuple[int, int, int]]:
    """(id, version, target rung) of every case to act on: narrow rows, read at once.

    Paging this query by id would read every overdue case again for each page: the rows are
    found on the (status, due_on) index, not in id order. Even a city's whole backlog of open
    cases (a few hundred thousand) makes a list of a few megabytes.
    """
    rows = [(row.id, row.version, row.target) for row in session.execute(query)]
    session.commit()  # the read holds no transaction open while the cases are changed
    return rows


def _still_due(session: Session, batch: list[tuple[int, int, int]],
               result: SweepResult) -> Iterator[tuple[Case, int]]:
    """The batch's cases as they are now, each with its target rung. A case changed since it
    was found is counted as skipped: the next run looks at it again."""
    # populate_existing: a case still in the session is read anew, with its current version.
    cases = {case.id: case for case in session.scalars(
        select(Case).where(Case.id.in_([case_id for case_id, _version, _target in batch]))
        .execution_options(populate_existing=True))}
    for case_id, version, target in batch:
        case = cases.get(case_id)
        if case is None or case.version != version:
            result.skipped += 1
            continue
        yield case, target


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
    candidates = _candidates(session, query)
    for start in range(0, len(candidates), batch_size):
        batch = candidates[start:start + batch_size]
        result.batches += 1
        result.selected += len(batch)
        if each_case_commits or not _batch_at_once(session, batch, today, calendar, result):
            _batch_case_by_case(session, batch, today, calendar, result, each_case_commits)
        # The sweep delivers nothing itself (the relay does): keep no reference to the
        # messages, so memory stays flat over a long run.
        session.info.pop(outbox.NEW_MESSAGES, None)
    result.duration = time.perf_counter() - started
    log.info(result.summary())
    return result


def _batch_at_once(session: Session, batch: list[tuple[int, int, int]], today: date,
                   calendar: WorkingCalendar, result: SweepResult) -> bool:
    """The whole batch in one flush, a few statements for all its cases; False when any case
    fails or was changed meanwhile: then nothing of it is kept."""
    done = SweepResult(today)
    try:
        # The assignment a closing case reads must not flush the cases changed before it.
        with session.no_autoflush:
            for case, target in _still_due(session, batch, done):
                _act(session, case, target, today, calendar, done)
        session.commit()
    except Exception as error:  # noqa: BLE001 - told apart case by case, where each one is logged
        session.rollback()
        log.info("deadline sweep: a batch failed as a whole (%s); its cases are tried one by one",
                 type(error).__name__)
        return False
    result.add(done)
    return True


def _batch_case_by_case(session: Session, batch: list[tuple[int, int, int]], today: date,
                        calendar: WorkingCalendar, result: SweepResult,
                        each_case_commits: bool) -> None:
    for case, target in _still_due(session, batch, result):
        _handle(session, case, target, today, calendar, result)
        if each_case_commits:
            session.commit()
    session.commit()


def _handle(session: Session, case: Case, target: int, today: date,
            calendar: WorkingCalendar, result: SweepResult) -> None:
    """Act on one selected case under a savepoint of its own."""
    done = SweepResult(today)
    try:
        with session.begin_nested():
            _act(session, case, target, today, calendar, done)
    except (TransitionRefused, StaleDataError, IntegrityError):
        # The case moved on since it was read (a concurrent action, or the clock of the
        # lifecycle disagreeing with `today`): nothing to do this time.
        result.skipped += 1
        return
    except Exception:
        log.exception("deadline sweep: case %s failed; it is tried again next run", case.id)
        result.failed += 1
        return
    result.add(done)


def _act(session: Session, case: Case, target: int, today: date, calendar: WorkingCalendar,
         done: SweepResult) -> None:
    if case.status == S.RESOLVED:
        lifecycle.close_unrated(session, case, Actor.system())
        done.closed += 1
    else:
        for step in _climb(session, case, target, today, calendar):
            done.escalated[step] += 1


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
