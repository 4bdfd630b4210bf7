"""What a reporter sees of their case: the timeline with its deadlines and the "3 rõ" block.

Built from the case's events, so the page shows exactly what the record holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.deadlines import hanoi_date, today
from portal.lifecycle import hash_tracking_code
from portal.models import Agency, Answer, Case, CaseEvent, Rating, User
from portal.vocab import OPEN_STATUSES, CaseStatus, Role

# Events that only the Front sees: who looked at an identity, what was redacted.
FRONT_ONLY_ACTIONS = {"view_identity", "redact"}


def find_by_code(session: Session, code: str) -> Case | None:
    return session.scalar(select(Case).where(Case.tracking_code_hash == hash_tracking_code(code)))


@dataclass
class Deadline:
    stage: str
    due_on: date
    met_on: date | None = None  # when the stage ended; None while it runs
    moved: bool = False  # replaced by a later date (the reporter's pause, an extension)

    @property
    def state(self) -> str:
        if self.moved:
            return "moved"
        if self.met_on is not None:
            return "met" if self.met_on <= self.due_on else "missed"
        return "overdue" if today() > self.due_on else "running"


@dataclass
class TimelineEntry:
    event: CaseEvent
    on: date
    deadline: Deadline | None = None
    agency: Agency | None = None


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
    extras: dict[str, Any] = field(default_factory=dict)


MOVES_DEADLINE = {"provide_info", "request_extension"}


def _deadlines(events: list[CaseEvent]) -> list[tuple[CaseEvent, Deadline]]:
    """Each deadline an event set, closed by the next event that set another or ended the case."""
    result: list[tuple[CaseEvent, Deadline]] = []
    running: Deadline | None = None
    for event in events:
        sets_deadline = "due_on" in event.data
        if running is not None and (sets_deadline or event.to_status not in OPEN_STATUSES):
            if event.action in MOVES_DEADLINE:
                running.moved = True
            else:
                running.met_on = hanoi_date(event.created_at)
            running = None
        if sets_deadline:
            running = Deadline(event.data["due_stage"], date.fromisoformat(event.data["due_on"]))
            result.append((event, running))
    return result


def case_view(session: Session, case: Case) -> CaseView:
    events = [e for e in case.events if e.action not in FRONT_ONLY_ACTIONS]
    set_deadlines = _deadlines(list(case.events))
    set_by = {id(ev): dl for ev, dl in set_deadlines}
    agency_ids = {e.data.get("agency_id") for e in events} | {e.data.get("to_agency_id") for e in events}
    agencies = {a.id: a for a in session.scalars(
        select(Agency).where(Agency.id.in_([i for i in agency_ids if i])))}
    timeline = [
        TimelineEntry(event=e, on=hanoi_date(e.created_at), deadline=set_by.get(id(e)),
                      agency=agencies.get(e.data.get("agency_id") or e.data.get("to_agency_id")))
        for e in events
    ]
    deadlines = [dl for _, dl in set_deadlines]
    current = next((dl for dl in reversed(deadlines) if dl.met_on is None), None)
    if case.status == CaseStatus.NEEDS_INFO:
        current = None  # the clock is stopped while the Front waits for the reporter

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
    return CaseView(case=case, timeline=timeline, deadlines=deadlines, current_deadline=current,
                    agency=agency, officer=case.assigned_officer, head=head, answer=answer,
                    rating=rating, question=question, merged_into=merged_into)
