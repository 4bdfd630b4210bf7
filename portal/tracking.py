"""What a reporter sees of their case: the timeline with its deadlines and the "3 rõ" block.

Built from the case's events, so the page shows exactly what the record holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.deadlines import hanoi_date, today
from portal.models import Agency, Answer, Case, CaseEvent, Rating, User
from portal.receipts import hash_tracking_code
from portal.vocab import OPEN_STATUSES, CaseStatus, DeadlineStage, Role

# Events that only the Front sees: who looked at an identity, what was redacted, internal
# notes, who took the case.
FRONT_ONLY_ACTIONS = frozenset({"view_identity", "redact", "note", "claim", "release"})

# Events whose reason the reporter reads. The others' reasons are between the Front and the
# agency (why a case was referred up) or say nothing the reporter needs.
PUBLIC_REASONS = frozenset({
    "ask_info", "provide_info", "reject", "forward", "request_extension", "request_transfer",
    "refuse_transfer", "return_answer", "accept_answer", "uphold_answer", "dispute",
})

# The actions that do the work a deadline is set for: only these meet (or miss) it.
COMPLETES = {
    DeadlineStage.TRIAGE: frozenset({
        "forward", "reject", "merge", "approve_transfer", "refuse_transfer", "accept_answer",
        "return_answer", "uphold_answer"}),
    DeadlineStage.ACKNOWLEDGE: frozenset({"acknowledge"}),
    DeadlineStage.ANSWER: frozenset({"answer"}),
    DeadlineStage.RATING: frozenset({"rate", "dispute"}),
}
# The rating window is the reporter's, not a duty: it ends, it is not missed.
WINDOW_ENDS = frozenset({"close_unrated"})
# The actions that give the same stage a later date: the reporter's pause, an extension.
MOVES = frozenset({"provide_info", "request_extension"})


def find_by_code(session: Session, code: str) -> Case | None:
    return session.scalar(select(Case).where(Case.tracking_code_hash == hash_tracking_code(code)))


@dataclass
class Deadline:
    stage: str
    due_on: date
    # How it ended: met, missed, moved or interrupted; None while it runs.
    outcome: str | None = None
    ended_on: date | None = None
    # While the case waits for the reporter, time stands still at this date.
    paused_on: date | None = None

    @property
    def state(self) -> str:
        if self.outcome is not None:
            return self.outcome
        return "overdue" if (self.paused_on or today()) > self.due_on else "running"

    def end(self, on: date, *, done: bool) -> None:
        """Done: met or missed. Not done: interrupted, unless the date had already passed."""
        on = self.paused_on or on  # days spent waiting for the reporter do not count
        self.ended_on = on
        if on > self.due_on:
            self.outcome = "missed"
        else:
            self.outcome = "met" if done else "interrupted"


@dataclass
class TimelineEntry:
    event: CaseEvent
    on: date
    deadline: Deadline | None = None
    agency: Agency | None = None

    @property
    def reason(self) -> str | None:
        """The event's reason, when it is one the reporter may read."""
        return self.event.reason if self.event.action in PUBLIC_REASONS else None


@dataclass
class CaseView:
    case: Case
    timeline: list[TimelineEntry]
    deadlines: list[Deadline]
    current_deadline: Deadline | None
    agency: Agency | None
    officer: User | None
    head: User | None
    answer: Answer | None
    rating: Rating | None
    question: str | None
    merged_into: Case | None
    # The main case's deadline now: a merged report has no progress of its own.
    merged_into_deadline: Deadline | None = None
    reporters: int = 1

    @property
    def duties(self) -> list[Deadline]:
        """The deadlines the Front and the agency owe: the reporter's rating window is not one."""
        return [dl for dl in self.deadlines if dl.stage != DeadlineStage.RATING]

    @property
    def deadlines_met(self) -> int:
        return sum(dl.state == "met" for dl in self.duties)

    @property
    def deadlines_judged(self) -> int:
        """Duties that ended met or missed: a moved, interrupted or running one is neither."""
        return sum(dl.state in ("met", "missed") for dl in self.duties)


def _deadlines(events: list[CaseEvent]) -> list[tuple[CaseEvent, Deadline]]:
    """Each deadline with the event that set it, ended as the later events say.

    A deadline runs until an action of its stage ends it (met or missed), an action gives the
    stage a later date (moved), or another step sets a new deadline or ends the case before
    the stage was done (interrupted, or missed when that came after the due date). Asking the
    reporter for information stops the clock; the answer moves the deadline by the pause.
    """
    result: list[tuple[CaseEvent, Deadline]] = []
    running: Deadline | None = None
    for event in events:
        on = hanoi_date(event.created_at)
        sets_deadline = "due_on" in event.data
        if running is not None:
            if event.action in COMPLETES[running.stage]:
                running.end(on, done=True)
                running = None
            elif event.action in WINDOW_ENDS:
                running.outcome, running.ended_on = "ended", on
                running = None
            elif event.action in MOVES and sets_deadline:
                running.outcome, running.ended_on = "moved", on
                running = None
            elif sets_deadline or event.to_status not in OPEN_STATUSES:
                running.end(on, done=False)
                running = None
            elif event.action == "ask_info":
                running.paused_on = on
        if sets_deadline:
            running = Deadline(event.data["due_stage"], date.fromisoformat(event.data["due_on"]))
            result.append((event, running))
    return result


def _current(case: Case, deadlines: list[Deadline]) -> Deadline | None:
    if case.status == CaseStatus.NEEDS_INFO:
        return None  # the clock is stopped while the Front waits for the reporter
    return next((dl for dl in reversed(deadlines) if dl.outcome is None), None)


def case_view(session: Session, case: Case) -> CaseView:
    events = [e for e in case.events if e.action not in FRONT_ONLY_ACTIONS]
    set_deadlines = _deadlines(list(case.events))
    set_by = {ev.id: dl for ev, dl in set_deadlines}
    agency_ids = {e.data.get("agency_id") for e in events} | {e.data.get("to_agency_id") for e in events}
    agencies = {a.id: a for a in session.scalars(
        select(Agency).where(Agency.id.in_([i for i in agency_ids if i])))}
    timeline = [
        TimelineEntry(event=e, on=hanoi_date(e.created_at), deadline=set_by.get(e.id),
                      agency=agencies.get(e.data.get("agency_id") or e.data.get("to_agency_id")))
        for e in events
    ]
    deadlines = [dl for _, dl in set_deadlines]

    agency = case.assigned_agency
    head = None
    if agency is not None:
        head = session.scalar(select(User).where(User.agency_id == agency.id,
                                                 User.role == Role.AGENCY_HEAD,
                                                 User.active.is_(True)).order_by(User.id))
    answer = session.scalar(select(Answer).where(Answer.case_id == case.id,
                                                 Answer.review == "accepted")
                            .order_by(Answer.id.desc()))
    rating = session.scalar(select(Rating).where(Rating.case_id == case.id))
    question = None
    if case.status == CaseStatus.NEEDS_INFO:
        question = next((e.reason for e in reversed(events) if e.action == "ask_info"), None)
    merged_into = session.get(Case, case.merged_into_id) if case.merged_into_id else None
    merged_into_deadline = None
    if merged_into is not None:
        merged_into_deadline = _current(
            merged_into, [dl for _, dl in _deadlines(list(merged_into.events))])
    # This report and every report merged into it: how many people raised the problem.
    reporters = 1 + (session.scalar(select(func.count()).select_from(Case)
                                    .where(Case.merged_into_id == case.id)) or 0)
    return CaseView(case=case, timeline=timeline, deadlines=deadlines,
                    current_deadline=_current(case, deadlines), agency=agency,
                    officer=case.assigned_officer, head=head, answer=answer, rating=rating,
                    question=question, merged_into=merged_into,
                    merged_into_deadline=merged_into_deadline, reporters=reporters)
