"""The case lifecycle: the only code that changes `Case.status`.

Each transition is a function. It checks that the actor may act on this case in
this state, then moves the state, writes a hash-chained `CaseEvent`, sets the
deadline of the next stage and queues the notifications, all in the caller's
transaction: the caller commits once, or nothing happened. A refused action
raises before it touches anything, so it leaves no trace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from moderation.routing import city_committee, committee_for_agency
from portal import notifications
from portal.audit import GENESIS, event_hash
from portal.db import utcnow
from portal.deadlines import WorkingCalendar, hanoi_date, rule_days, today
from portal.models import (
    Agency,
    Answer,
    Assignment,
    Case,
    CaseEvent,
    Rating,
    TransferRequest,
    User,
)
from portal.receipts import hash_tracking_code, new_tracking_code
from portal.search import fold
from portal.vocab import (
    AGENCY_ROLES,
    FRONT_ROLES,
    OPEN_STATUSES,
    CaseStatus,
    DeadlineStage,
    Outcome,
    RejectReason,
    Role,
)

S = CaseStatus
FRONT = FRONT_ROLES
AGENCY = AGENCY_ROLES
REPORTER = frozenset({"reporter"})
SYSTEM = frozenset({"system"})
# An extension request may add at most this share of the answer rule's days.
EXTENSION_CAP_RATIO = 0.5
DEADLINE_OVERRIDE_FACTOR = 2


class TransitionRefused(Exception):
    """The actor may not do this to this case now. The message is for people."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


class StaleCase(TransitionRefused):
    """Someone else changed the case since the page was loaded."""


@dataclass(frozen=True)
class Actor:
    kind: str  # reporter, staff, system
    user: User | None = None
    case_id: int | None = None  # the case whose tracking code a reporter holds

    @classmethod
    def staff(cls, user: User) -> Actor:
        return cls("staff", user=user)

    @classmethod
    def reporter(cls, case_id: int) -> Actor:
        return cls("reporter", case_id=case_id)

    @classmethod
    def system(cls) -> Actor:
        return cls("system")

    @property
    def role(self) -> str:
        return self.user.role if self.user else self.kind


@dataclass(frozen=True)
class Transition:
    sources: frozenset[str]
    target: str | None  # None: the state stays as it is
    roles: frozenset[str]


def _t(sources, target, roles) -> Transition:
    return Transition(frozenset(sources), target, frozenset(roles))


_OPEN = OPEN_STATUSES
_WITH_AGENCY = {S.FORWARDED, S.IN_PROGRESS, S.TRANSFER_REQUESTED}

TRANSITIONS: dict[str, Transition] = {
    "ask_info": _t({S.SUBMITTED}, S.NEEDS_INFO, FRONT),
    "provide_info": _t({S.NEEDS_INFO}, S.SUBMITTED, REPORTER),
    "reject": _t({S.SUBMITTED, S.NEEDS_INFO}, S.REJECTED, FRONT),
    "merge": _t({S.SUBMITTED, S.NEEDS_INFO}, S.MERGED, FRONT),
    "forward": _t({S.SUBMITTED}, S.FORWARDED, FRONT),
    # A commune committee hands up what it may not decide: a transfer or an answer that
    # concerns a city agency, a conflict of interest.
    "refer_up": _t({S.SUBMITTED, S.NEEDS_INFO, S.TRANSFER_REQUESTED, S.ANSWERED, S.DISPUTED},
                   None, FRONT),
    "acknowledge": _t({S.FORWARDED}, S.IN_PROGRESS, AGENCY),
    "assign_officer": _t({S.FORWARDED, S.IN_PROGRESS}, None, {Role.AGENCY_HEAD}),
    "request_extension": _t({S.IN_PROGRESS}, None, AGENCY),
    "request_transfer": _t({S.FORWARDED, S.IN_PROGRESS}, S.TRANSFER_REQUESTED, AGENCY),
    "approve_transfer": _t({S.TRANSFER_REQUESTED}, S.FORWARDED, FRONT),
    "refuse_transfer": _t({S.TRANSFER_REQUESTED}, S.IN_PROGRESS, FRONT),
    "answer": _t({S.IN_PROGRESS}, S.ANSWERED, AGENCY),
    "return_answer": _t({S.ANSWERED, S.DISPUTED}, S.IN_PROGRESS, FRONT),
    "accept_answer": _t({S.ANSWERED}, S.RESOLVED, FRONT),
    "uphold_answer": _t({S.DISPUTED}, S.CLOSED, FRONT),
    "dispute": _t({S.RESOLVED}, S.DISPUTED, REPORTER),
    "rate": _t({S.RESOLVED}, S.CLOSED, REPORTER),
    "close_unrated": _t({S.RESOLVED}, S.CLOSED, SYSTEM),
    "escalate": _t(_WITH_AGENCY | {S.SUBMITTED, S.ANSWERED, S.DISPUTED}, None, SYSTEM),
    "redact": _t(_OPEN, None, FRONT),
    "view_identity": _t(set(S), None, FRONT),
    "claim": _t(_OPEN, None, FRONT),
    "release": _t(_OPEN, None, FRONT),
    "note": _t(set(S), None, FRONT),
    # The Front takes a published answer down: personal data found late, consent withdrawn.
    "unpublish": _t({S.RESOLVED, S.DISPUTED, S.CLOSED}, None, FRONT),
}


# -- checks ---------------------------------------------------------------------------------


def _in_scope(case: Case, actor: Actor) -> bool:
    """Whether the actor is one of the people this case belongs to at all."""
    if actor.kind == "system":
        return True
    if actor.kind == "reporter":
        return actor.case_id == case.id
    user = actor.user
    if user is None or not user.active:
        return False
    if user.role in FRONT_ROLES:
        committee = user.front_committee
        return committee is not None and (committee.is_city
                                          or committee.id == case.front_committee_id)
    if user.role in AGENCY_ROLES:
        return user.agency_id is not None and user.agency_id == case.assigned_agency_id
    return False


def allowed(case: Case, actor: Actor, action: str) -> bool:
    """Whether `action` is open to `actor` on `case` now (for showing buttons)."""
    rule = TRANSITIONS[action]
    if not (case.status in rule.sources and actor.role in rule.roles and _in_scope(case, actor)):
        return False
    session = object_session(case)
    if action == "approve_transfer" and session is not None:
        # Unlike a forward, the agency is already chosen: no button the actor may not use.
        target = session.get(Agency, _pending_transfer(session, case).to_agency_id)
        return target is None or _within_area(session, case, actor, target)
    return True


def _within_area(session: Session, case: Case, actor: Actor, agency: Agency) -> bool:
    """Whether the acting Front committee may hand the case to this agency.

    A commune's committee has standing only with the bodies it supervises; a case that
    concerns any other agency is the city committee's to send.
    """
    committee = actor.user.front_committee if actor.user else None
    if committee is not None and committee.is_city:
        return True
    return committee_for_agency(session, agency).id == case.front_committee_id


def _check(case: Case, actor: Actor, action: str, expected_version: int | None) -> Transition:
    rule = TRANSITIONS[action]
    if not _in_scope(case, actor) or actor.role not in rule.roles:
        raise TransitionRefused(_l("You may not do this to this case."))
    if case.status not in rule.sources:
        raise TransitionRefused(_l("This case is no longer in a state that allows this."))
    if expected_version is not None and case.version != expected_version:
        raise StaleCase(_l("Someone else changed this case while you were looking at it. "
                           "Nothing was saved; look at it again and decide."))
    return rule


def _require(value: Any, message) -> None:
    if not value:
        raise TransitionRefused(message)


# -- recording ------------------------------------------------------------------------------


def record(session: Session, case: Case, actor: Actor, action: str, *,
           to_status: str | None = None, reason: str | None = None,
           data: dict[str, Any] | None = None) -> CaseEvent:
    """Append a hash-chained event to the case (and move its state when `to_status` is given)."""
    from_status = case.status
    if to_status is not None:
        case.status = to_status
    event = CaseEvent(
        case_id=case.id,
        seq=case.event_count + 1,
        created_at=utcnow(),
        actor_kind=actor.kind,
        actor_id=actor.user.id if actor.user else None,
        action=action,
        from_status=from_status,
        to_status=case.status,
        reason=reason,
        data=data or {},
        prev_hash=case.event_head_hash or GENESIS,
    )
    event.hash = event_hash(event)
    case.event_count = event.seq
    case.event_head_hash = event.hash
    session.add(event)
    return event


def _set_deadline(session: Session, case: Case, stage: DeadlineStage | None,
                  due_on: date | None = None) -> dict[str, Any]:
    if stage is None:
        case.due_stage, case.due_on, case.escalation_level = None, None, 0
        return {}
    if due_on is None:
        days = rule_days(session, stage, case.conduct, case.sector)
        due_on = WorkingCalendar.load(session).add_working_days(today(), days)
    case.due_stage, case.due_on = stage, due_on
    case.escalation_level = 0  # a new deadline starts the ladder again
    return {"due_stage": str(stage), "due_on": due_on.isoformat()}


def _current_assignment(session: Session, case: Case) -> Assignment:
    return session.scalars(
        select(Assignment).where(Assignment.case_id == case.id, Assignment.ended_at.is_(None))
        .order_by(Assignment.id.desc())
    ).first()


def _close(session: Session, case: Case) -> None:
    """End the case: no clock runs any more, and the agency holding it (if any) is released."""
    # A case rejected or merged during triage never reached an agency. Read before the case
    # changes: the query would flush it half-changed, and its row would be written twice.
    current = _current_assignment(session, case) if case.assigned_agency_id else None
    case.paused_on = None
    _set_deadline(session, case, None)
    if current is not None:
        current.ended_at, current.end_reason = utcnow(), "closed"
    case.closed_at = utcnow()


def _assign(session: Session, case: Case, actor: Actor, agency: Agency,
            recommendation: str) -> dict[str, Any]:
    """Give the case to an agency; flag ping-pong when the agency held it before."""
    held_before = session.scalar(
        select(Assignment.id).where(Assignment.case_id == case.id,
                                    Assignment.agency_id == agency.id).limit(1)
    )
    if held_before is not None:
        case.ping_pong = True
    session.add(Assignment(case_id=case.id, agency_id=agency.id,
                           assigned_by_id=actor.user.id if actor.user else None,
                           recommendation=recommendation))
    case.assigned_agency_id = agency.id
    case.assigned_officer_id = None
    data = {"agency_id": agency.id}
    if held_before is not None:
        data["ping_pong"] = True
    return data


def _active_agency(session: Session, agency_id: int | None) -> Agency:
    agency = session.get(Agency, agency_id) if agency_id else None
    _require(agency is not None and agency.active, _l("Choose an agency from the list."))
    return agency


def _text(value: str | None, message, limit: int = 5000) -> str:
    value = (value or "").strip()
    _require(value, message)
    _require(len(value) <= limit, _l("This text is too long."))
    return value


# -- submission -----------------------------------------------------------------------------


@dataclass
class NewReport:
    agency_id: int
    conduct: str
    sector: str
    description: str
    reporter_kind: str
    occurred_on: date | None = None
    ward_code: int | None = None
    address: str = ""
    reporter_name: str | None = None
    reporter_email: str | None = None
    reporter_phone: str | None = None
    business_name: str | None = None
    tax_code: str | None = None
    confidential: bool = False
    publish_consent: bool = False
    locale: str = "vi"
    submission_token: str | None = None
    attachments: list[Any] = field(default_factory=list)


def submit(session: Session, report: NewReport, code: str | None = None) -> tuple[Case, str]:
    """Create a case from a validated report; returns it with its tracking code (shown once).

    `code` is the code derived from the form's token (see `portal.receipts`); without one a
    random code is made.
    """
    agency = _active_agency(session, report.agency_id)
    code = code or new_tracking_code()
    case = Case(
        tracking_code_hash=hash_tracking_code(code),
        submission_token=report.submission_token,
        status=S.SUBMITTED,
        agency_id=agency.id,
        front_committee_id=committee_for_agency(session, agency).id,
        conduct=report.conduct,
        sector=report.sector,
        description=report.description,
        occurred_on=report.occurred_on,
        ward_code=report.ward_code,
        address=report.address,
        search_text=fold(f"{report.description} {report.address}"),
        reporter_kind=report.reporter_kind,
        reporter_name=report.reporter_name,
        reporter_email=report.reporter_email,
        reporter_phone=report.reporter_phone,
        business_name=report.business_name,
        tax_code=report.tax_code,
        confidential=report.confidential,
        publish_consent=report.publish_consent,
        locale=report.locale,
        created_at=utcnow(),
        event_count=0,
        event_head_hash=GENESIS,
    )
    # Before the row is written: set afterwards, the deadline would rewrite every index of
    # the row the insert has just filled.
    deadline = _set_deadline(session, case, DeadlineStage.TRIAGE)
    session.add(case)
    session.flush()  # the case id goes into the event chain
    record(session, case, Actor.reporter(case.id), "submit", data={
        "agency_id": agency.id, "front_committee_id": case.front_committee_id, **deadline})
    if case.reporter_email:
        notifications.queue(session, "receipt", case_id=case.id)
    return case, code


# -- the Front's triage ---------------------------------------------------------------------


def ask_info(session: Session, case: Case, actor: Actor, *, question: str,
             expected_version: int | None = None) -> CaseEvent:
    _check(case, actor, "ask_info", expected_version)
    question = _text(question, _l("Write the question for the reporter."))
    case.paused_on = today()
    event = record(session, case, actor, "ask_info", to_status=S.NEEDS_INFO, reason=question)
    notifications.queue(session, "info_requested", case_id=case.id)
    return event


def provide_info(session: Session, case: Case, actor: Actor, *, reply: str,
                 expected_version: int | None = None) -> CaseEvent:
    _check(case, actor, "provide_info", expected_version)
    reply = _text(reply, _l("Write your answer to the Front's question."))
    data: dict[str, Any] = {}
    if case.paused_on and case.due_on:
        # The clock stood still while the case waited: the deadline moves by the pause.
        calendar = WorkingCalendar.load(session)
        paused = calendar.working_days_between(case.paused_on, today())
        data = _set_deadline(session, case, DeadlineStage(case.due_stage),
                             calendar.add_working_days(case.due_on, paused))
        data["paused_working_days"] = paused
    case.paused_on = None
    return record(session, case, actor, "provide_info", to_status=S.SUBMITTED, reason=reply,
                  data=data)


def reject(session: Session, case: Case, actor: Actor, *, reason: str, note: str = "",
           expected_version: int | None = None) -> CaseEvent:
    _check(case, actor, "reject", expected_version)
    _require(reason in set(RejectReason), _l("Choose a reason from the list."))
    case.reject_reason, case.reject_note = reason, note.strip() or None
    _close(session, case)
    event = record(session, case, actor, "reject", to_status=S.REJECTED, reason=note.strip(),
                   data={"reject_reason": reason})
    notifications.queue(session, "status_changed", case_id=case.id)
    return event


def merge(session: Session, case: Case, actor: Actor, *, into_case_id: int,
          expected_version: int | None = None) -> CaseEvent:
    _check(case, actor, "merge", expected_version)
    main = session.get(Case, into_case_id)
    _require(main is not None and main.id != case.id and main.status in OPEN_STATUSES
             and main.status != S.MERGED and _in_scope(main, actor),
             _l("Choose an open case to merge this report into."))
    case.merged_into_id = main.id
    _close(session, case)
    event = record(session, case, actor, "merge", to_status=S.MERGED,
                   data={"into_case_id": main.id})
    record(session, main, actor, "absorb", data={"merged_case_id": case.id})
    notifications.queue(session, "status_changed", case_id=case.id)
    return event


def forward(session: Session, case: Case, actor: Actor, *, agency_id: int, recommendation: str,
            due_on: date | None = None, expected_version: int | None = None) -> CaseEvent:
    _check(case, actor, "forward", expected_version)
    # The agency reads `public_description`: for a confidential report, only once a person has
    # looked for what would identify the reporter.
    _require(not case.confidential or case.description_redacted is not None,
             _l("The reporter asked to keep their identity from the agency. Review the text and "
                "remove any personal details before forwarding; save the text even if there is "
                "nothing to remove."))
    agency = _active_agency(session, agency_id)
    _require(_within_area(session, case, actor, agency),
             _l("This agency is outside your Front committee's area. Refer the case up to the "
                "city Front committee, which may forward it to any agency."))
    recommendation = _text(recommendation, _l("Write the Front's recommendation to the agency."))
    if due_on is not None:
        _require(actor.role == Role.SUPERVISOR,
                 _l("Only a supervisor may change the deadline."))
        _require(today() < due_on, _l("The deadline must be in the future."))
        # A supervisor may shorten the rule's deadline or lengthen it up to twice the rule.
        longest = WorkingCalendar.load(session).add_working_days(
            today(), DEADLINE_OVERRIDE_FACTOR * rule_days(session, DeadlineStage.ACKNOWLEDGE,
                                                          case.conduct, case.sector))
        _require(due_on <= longest, _l("The deadline may be at most %(date)s.",
                                       date=longest.isoformat()))
    data = _assign(session, case, actor, agency, recommendation)
    data |= _set_deadline(session, case, DeadlineStage.ACKNOWLEDGE, due_on)
    event = record(session, case, actor, "forward", to_status=S.FORWARDED,
                   reason=recommendation, data=data)
    notifications.queue(session, "forwarded_to_agency", case_id=case.id, agency_id=agency.id)
    notifications.queue(session, "status_changed", case_id=case.id)
    return event


def refer_up(session: Session, case: Case, actor: Actor, *, reason: str,
             expected_version: int | None = None) -> CaseEvent:
    _check(case, actor, "refer_up", expected_version)
    _require(not case.front_committee.is_city,
             _l("This case is already with the city Front committee."))
    reason = _text(reason, _l("Say why the city committee should take this case."))
    city = city_committee(session)
    old = case.front_committee_id
    case.front_committee_id = city.id
    case.claimed_by_id = None
    return record(session, case, actor, "refer_up", reason=reason,
                  data={"from_committee_id": old, "to_committee_id": city.id})


# -- the agency -----------------------------------------------------------------------------


def acknowledge(session: Session, case: Case, actor: Actor, *,
                expected_version: int | None = None) -> CaseEvent:
    _check(case, actor, "acknowledge", expected_version)
    assignment = _current_assignment(session, case)
    assignment.acknowledged_at = utcnow()
    data = _set_deadline(session, case, DeadlineStage.ANSWER)
    assignment.answer_due_on = case.due_on
    return record(session, case, actor, "acknowledge", to_status=S.IN_PROGRESS, data=data)


def assign_officer(session: Session, case: Case, actor: Actor, *, officer_id: int,
                   expected_version: int | None = None) -> CaseEvent:
    _check(case, actor, "assign_officer", expected_version)
    officer = session.get(User, officer_id) if isinstance(officer_id, int) else None
    _require(officer is not None and officer.active and not officer.invited
             and officer.role in AGENCY_ROLES
             and officer.agency_id == case.assigned_agency_id,
             _l("Choose an officer of your agency."))
    case.assigned_officer_id = officer.id
    return record(session, case, actor, "assign_officer", data={"officer_id": officer.id})


def request_extension(session: Session, case: Case, actor: Actor, *, working_days: int,
                      reason: str, expected_version: int | None = None) -> CaseEvent:
    _check(case, actor, "request_extension", expected_version)
    # More time is asked for before the deadline: a late agency answers, it does not restart
    # its escalation ladder.
    _require(case.due_on is None or today() <= case.due_on,
             _l("The deadline has passed: answer the case instead of asking for more time."))
    reason = _text(reason, _l("Say why the agency needs more time."))
    cap = max(1, int(rule_days(session, DeadlineStage.ANSWER, case.conduct, case.sector)
                     * EXTENSION_CAP_RATIO))
    # Read from the database: `case.events` may be a list loaded before this session's events.
    # Each agency has its own allowance: a previous agency's extensions are not this one's.
    already = sum(data.get("working_days", 0) for data in session.scalars(
        select(CaseEvent.data).where(CaseEvent.case_id == case.id,
                                     CaseEvent.action == "request_extension"))
        if data.get("agency_id") == case.assigned_agency_id)
    _require(0 < working_days <= cap - already,
             _l("An extension may add at most %(n)d working days in all.", n=cap))
    due = WorkingCalendar.load(session).add_working_days(case.due_on or today(), working_days)
    data = _set_deadline(session, case, DeadlineStage.ANSWER, due)
    _current_assignment(session, case).answer_due_on = due
    return record(session, case, actor, "request_extension", reason=reason,
                  data={"working_days": working_days, "agency_id": case.assigned_agency_id,
                        **data})


def request_transfer(session: Session, case: Case, actor: Actor, *, to_agency_id: int,
                     reason: str, expected_version: int | None = None) -> CaseEvent:
    _check(case, actor, "request_transfer", expected_version)
    target = _active_agency(session, to_agency_id)
    _require(target.id != case.assigned_agency_id,
             _l("Name another agency than your own."))
    reason = _text(reason, _l("Say why the other agency is competent."))
    session.add(TransferRequest(case_id=case.id, from_agency_id=case.assigned_agency_id,
                                to_agency_id=target.id, reason=reason,
                                requested_by_id=actor.user.id))
    data = _set_deadline(session, case, DeadlineStage.TRIAGE)
    return record(session, case, actor, "request_transfer", to_status=S.TRANSFER_REQUESTED,
                  reason=reason, data={"to_agency_id": target.id, **data})


def _pending_transfer(session: Session, case: Case) -> TransferRequest:
    return session.scalars(
        select(TransferRequest).where(TransferRequest.case_id == case.id,
                                      TransferRequest.decision == "pending")
    ).one()


def approve_transfer(session: Session, case: Case, actor: Actor, *, note: str = "",
                     expected_version: int | None = None) -> CaseEvent:
    _check(case, actor, "approve_transfer", expected_version)
    request = _pending_transfer(session, case)
    target = _active_agency(session, request.to_agency_id)
    _require(_within_area(session, case, actor, target),
             _l("The agency asked for is outside your Front committee's area: only the city "
                "Front committee may approve this transfer."))
    request.decision, request.decision_note = "approved", note.strip() or None
    request.decided_by_id, request.decided_at = actor.user.id, utcnow()
    current = _current_assignment(session, case)
    current.ended_at, current.end_reason = utcnow(), "transferred"
    data = _assign(session, case, actor, target, current.recommendation)
    data |= _set_deadline(session, case, DeadlineStage.ACKNOWLEDGE)
    event = record(session, case, actor, "approve_transfer", to_status=S.FORWARDED,
                   reason=note.strip() or None,
                   data={"from_agency_id": request.from_agency_id, **data})
    notifications.queue(session, "forwarded_to_agency", case_id=case.id, agency_id=target.id)
    return event


def refuse_transfer(session: Session, case: Case, actor: Actor, *, note: str,
                    expected_version: int | None = None) -> CaseEvent:
    _check(case, actor, "refuse_transfer", expected_version)
    note = _text(note, _l("Say why the agency must handle this case itself."))
    request = _pending_transfer(session, case)
    request.decision, request.decision_note = "refused", note
    request.decided_by_id, request.decided_at = actor.user.id, utcnow()
    assignment = _current_assignment(session, case)
    if assignment.acknowledged_at is None:
        assignment.acknowledged_at = utcnow()
    # Asking for a transfer buys no time: the answer deadline stays where it was, or runs from
    # the day the case reached the agency when it asked before acknowledging.
    answer_due = assignment.answer_due_on or WorkingCalendar.load(session).add_working_days(
        hanoi_date(assignment.assigned_at),
        rule_days(session, DeadlineStage.ANSWER, case.conduct, case.sector))
    data = _set_deadline(session, case, DeadlineStage.ANSWER, answer_due)
    assignment.answer_due_on = case.due_on
    event = record(session, case, actor, "refuse_transfer", to_status=S.IN_PROGRESS,
                   reason=note, data=data)
    notifications.queue(session, "transfer_refused", case_id=case.id,
                        agency_id=case.assigned_agency_id)
    return event


def answer(session: Session, case: Case, actor: Actor, *, findings: str, outcome: str,
           actions_taken: str = "", reply_to_recommendation: str = "",
           expected_version: int | None = None) -> Answer:
    _check(case, actor, "answer", expected_version)
    findings = _text(findings, _l("Write what the agency found."), limit=20000)
    _require(outcome in set(Outcome), _l("Choose the outcome."))
    assignment = _current_assignment(session, case)
    assignment.answered_at = utcnow()
    reply = Answer(case_id=case.id, assignment_id=assignment.id, author_id=actor.user.id,
                   due_on=case.due_on,
                   findings=findings, outcome=outcome, actions_taken=actions_taken.strip(),
                   reply_to_recommendation=reply_to_recommendation.strip())
    session.add(reply)
    session.flush()
    data = _set_deadline(session, case, DeadlineStage.TRIAGE)
    record(session, case, actor, "answer", to_status=S.ANSWERED,
           data={"answer_id": reply.id, "outcome": outcome, **data})
    return reply


def _review_latest_answer(session: Session, case: Case, actor: Actor, review: str,
                          note: str) -> Answer:
    """Record the Front's decision on the answer it reviews: the agency's latest."""
    latest = session.scalars(
        select(Answer).where(Answer.case_id == case.id).order_by(Answer.id.desc())
    ).first()
    latest.review, latest.review_note = review, note
    latest.reviewed_by_id, latest.reviewed_at = actor.user.id, utcnow()
    return latest


def return_answer(session: Session, case: Case, actor: Actor, *, reason: str,
                  expected_version: int | None = None) -> CaseEvent:
    _check(case, actor, "return_answer", expected_version)
    reason = _text(reason, _l("Say what the agency must do again."))
    latest = _review_latest_answer(session, case, actor, "returned", reason)
    _unpublish(case)
    data = _set_deadline(session, case, DeadlineStage.ANSWER)
    _current_assignment(session, case).answer_due_on = case.due_on
    event = record(session, case, actor, "return_answer", to_status=S.IN_PROGRESS,
                   reason=reason, data={"answer_id": latest.id, **data})
    notifications.queue(session, "answer_returned", case_id=case.id,
                        agency_id=case.assigned_agency_id)
    return event


def accept_answer(session: Session, case: Case, actor: Actor, *, assessment: str,
                  expected_version: int | None = None) -> CaseEvent:
    _check(case, actor, "accept_answer", expected_version)
    assessment = _text(assessment, _l("Write the Front's assessment of the answer."))
    latest = _review_latest_answer(session, case, actor, "accepted", assessment)
    _publish(case, latest)
    data = _set_deadline(session, case, DeadlineStage.RATING)
    event = record(session, case, actor, "accept_answer", to_status=S.RESOLVED,
                   reason=assessment, data={"answer_id": latest.id, **data})
    notifications.queue(session, "answer_published", case_id=case.id)
    return event


def _publish(case: Case, accepted: Answer) -> None:
    """An accepted answer is published when the reporter agreed and the Front reviewed the text.

    A report whose text the Front never reviewed for personal data stays unpublished, even
    with the reporter's consent.
    """
    if case.publish_consent and case.description_redacted is not None:
        # A text redacted again keeps its place among the published answers.
        case.published_at = case.published_at or utcnow()
        case.public_search_text = fold(" ".join(
            (case.description_redacted, accepted.findings, accepted.actions_taken)))


def _unpublish(case: Case) -> None:
    case.published_at = None
    case.public_search_text = ""


def uphold_answer(session: Session, case: Case, actor: Actor, *, assessment: str,
                  expected_version: int | None = None) -> CaseEvent:
    _check(case, actor, "uphold_answer", expected_version)
    assessment = _text(assessment, _l("Say why the answer stands despite the dispute."))
    _close(session, case)
    event = record(session, case, actor, "uphold_answer", to_status=S.CLOSED, reason=assessment)
    notifications.queue(session, "status_changed", case_id=case.id)
    return event


# -- the reporter ---------------------------------------------------------------------------


def rating_window_open(case: Case) -> bool:
    """Whether the reporter may still rate the result or dispute it (the last day counts)."""
    return case.due_on is None or today() <= case.due_on


def _require_rating_window_open(case: Case) -> None:
    _require(rating_window_open(case), _l("The time to rate or dispute this answer has ended."))


def dispute(session: Session, case: Case, actor: Actor, *, reason: str,
            expected_version: int | None = None) -> CaseEvent:
    _check(case, actor, "dispute", expected_version)
    _require_rating_window_open(case)
    reason = _text(reason, _l("Say why the problem is not solved."))
    data = _set_deadline(session, case, DeadlineStage.TRIAGE)
    event = record(session, case, actor, "dispute", to_status=S.DISPUTED, reason=reason,
                   data=data)
    notifications.queue(session, "case_disputed", case_id=case.id,
                        agency_id=case.assigned_agency_id)
    return event


RATING_FACTORS = ("access", "procedure", "attitude", "result", "handling", "overall")


def rate(session: Session, case: Case, actor: Actor, *, scores: dict[str, int],
         comment: str = "", expected_version: int | None = None) -> Rating:
    _check(case, actor, "rate", expected_version)
    _require_rating_window_open(case)
    _require(all(isinstance(scores.get(f), int) and 1 <= scores[f] <= 5
                 for f in RATING_FACTORS), _l("Give every score from 1 to 5."))
    rating = Rating(case_id=case.id, comment=comment.strip()[:5000],
                    **{f: scores[f] for f in RATING_FACTORS})
    session.add(rating)
    _close(session, case)
    record(session, case, actor, "rate", to_status=S.CLOSED,
           data={f: scores[f] for f in RATING_FACTORS})
    return rating


def close_unrated(session: Session, case: Case, actor: Actor, *,
                  expected_version: int | None = None) -> CaseEvent:
    _check(case, actor, "close_unrated", expected_version)
    _require(case.due_on is not None and case.due_on < today(),
             _l("The reporter's rating window is still open."))
    _close(session, case)
    return record(session, case, actor, "close_unrated", to_status=S.CLOSED)


# -- events that change no state ------------------------------------------------------------


# The escalation ladder of an overdue case, one rung at a time. `Case.escalation_level` is the
# number of the highest rung reached (3: the supervising authority).
ESCALATION_STEPS = ("officer", "head", "supervisor")
# A case late at the Front's own stage has no officer or head to remind: it goes up at once.
FRONT_STAGES = frozenset({S.SUBMITTED, S.TRANSFER_REQUESTED, S.ANSWERED, S.DISPUTED})


def next_escalation_step(case: Case) -> str | None:
    if case.escalation_level >= len(ESCALATION_STEPS):
        return None
    if case.status in FRONT_STAGES:
        return ESCALATION_STEPS[-1]
    return ESCALATION_STEPS[case.escalation_level]


def escalate(session: Session, case: Case, actor: Actor, *, step: str,
             expected_version: int | None = None) -> CaseEvent:
    _check(case, actor, "escalate", expected_version)
    _require(step in ESCALATION_STEPS, _l("Unknown escalation step."))
    _require(step == next_escalation_step(case),
             _l("An overdue case climbs the escalation ladder one step at a time."))
    case.escalation_level = ESCALATION_STEPS.index(step) + 1
    return record(session, case, actor, "escalate",
                  data={"step": step, "stage": case.due_stage,
                        "missed": case.due_on.isoformat() if case.due_on else None})


def redact(session: Session, case: Case, actor: Actor, *, redacted_text: str,
           expected_version: int | None = None) -> CaseEvent:
    _check(case, actor, "redact", expected_version)
    redacted_text = _text(redacted_text, _l("Write the text the agency and the public see."),
                          limit=10000)
    case.description_redacted = redacted_text
    if case.published_at is not None:
        # What the public may search is made anew: a removed name must not stay findable.
        _publish(case, session.scalars(select(Answer).where(
            Answer.case_id == case.id, Answer.review == "accepted")
            .order_by(Answer.id.desc())).first())
    return record(session, case, actor, "redact")


def view_identity(session: Session, case: Case, actor: Actor) -> CaseEvent | None:
    """Front staff looked at a confidential reporter's identity: that is on the record."""
    _check(case, actor, "view_identity", None)
    if not case.confidential:
        return None
    return record(session, case, actor, "view_identity")


def claim(session: Session, case: Case, actor: Actor, *,
          expected_version: int | None = None) -> CaseEvent:
    """A Front member takes the case, so colleagues see who is handling it."""
    _check(case, actor, "claim", expected_version)
    previous = case.claimed_by_id
    case.claimed_by_id = actor.user.id
    return record(session, case, actor, "claim", data={"previous_id": previous})


def release(session: Session, case: Case, actor: Actor, *,
            expected_version: int | None = None) -> CaseEvent:
    _check(case, actor, "release", expected_version)
    previous = case.claimed_by_id
    case.claimed_by_id = None
    return record(session, case, actor, "release", data={"previous_id": previous})


def note(session: Session, case: Case, actor: Actor, *, text: str,
         expected_version: int | None = None) -> CaseEvent:
    """An internal note: on the record for the Front, never shown to the reporter or agency."""
    _check(case, actor, "note", expected_version)
    return record(session, case, actor, "note",
                  reason=_text(text, _l("Write the note."), limit=5000))


def unpublish(session: Session, case: Case, actor: Actor, *, reason: str,
              expected_version: int | None = None) -> CaseEvent:
    _check(case, actor, "unpublish", expected_version)
    _require(case.published_at is not None, _l("This answer is not published."))
    reason = _text(reason, _l("Say why the answer is taken down."))
    _unpublish(case)
    return record(session, case, actor, "unpublish", reason=reason)


ACTIONS = {
    "ask_info": ask_info,
    "provide_info": provide_info,
    "reject": reject,
    "merge": merge,
    "forward": forward,
    "refer_up": refer_up,
    "acknowledge": acknowledge,
    "assign_officer": assign_officer,
    "request_extension": request_extension,
    "request_transfer": request_transfer,
    "approve_transfer": approve_transfer,
    "refuse_transfer": refuse_transfer,
    "answer": answer,
    "return_answer": return_answer,
    "accept_answer": accept_answer,
    "uphold_answer": uphold_answer,
    "dispute": dispute,
    "rate": rate,
    "close_unrated": close_unrated,
    "escalate": escalate,
    "redact": redact,
    "view_identity": view_identity,
    "claim": claim,
    "release": release,
    "note": note,
    "unpublish": unpublish,
}
