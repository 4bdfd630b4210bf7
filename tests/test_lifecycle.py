"""The case lifecycle: who may do what to a case in which state, and what each change leaves behind.

The matrix runs every action of `lifecycle.TRANSITIONS` by every kind of actor on a case in every
state. An allowed action moves the case, appends exactly its event(s) to a valid hash chain; a
refused one raises `TransitionRefused` and leaves the database as it was. The tests after it pin
the deadlines, the pause, transfers, ping-pong and the outbox.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import func, select

from moderation.routing import city_committee
from portal import audit, deadlines, lifecycle
from portal.lifecycle import Actor, StaleCase, TransitionRefused
from portal.models import (
    Answer,
    Assignment,
    Case,
    CaseEvent,
    DeadlineRule,
    OutboxMessage,
    Rating,
    TransferRequest,
)
from portal.vocab import CaseStatus, DeadlineStage, Outcome, RejectReason, Role
from tests.factories import CITY_DEPARTMENT, COMMUNE_AGENCY, COMMUNE_COMMITTEE

S = CaseStatus
CITY_COMMITTEE = "MTTQ-HN"
OTHER_COMMITTEE = "MTTQ-00004"  # Phường Ba Đình: a commune committee that is not the case's
OTHER_AGENCY = "SO-NNMT"  # the agency a transfer is asked for: not the case's agency until approved
PAST = date(2020, 1, 2)
SCORES = dict.fromkeys(lifecycle.RATING_FACTORS, 4)

# -- the design, written out: every action, the states it starts from, where it leads, who acts --

FRONT = {Role.MODERATOR, Role.SUPERVISOR}
AGENCY = {Role.AGENCY_OFFICER, Role.AGENCY_HEAD}
OPEN = set(S) - {S.REJECTED, S.MERGED, S.CLOSED}
DESIGN = {
    "ask_info": ({S.SUBMITTED}, S.NEEDS_INFO, FRONT),
    "provide_info": ({S.NEEDS_INFO}, S.SUBMITTED, {"reporter"}),
    "reject": ({S.SUBMITTED, S.NEEDS_INFO}, S.REJECTED, FRONT),
    "merge": ({S.SUBMITTED, S.NEEDS_INFO}, S.MERGED, FRONT),
    "forward": ({S.SUBMITTED}, S.FORWARDED, FRONT),
    "refer_up": ({S.SUBMITTED, S.NEEDS_INFO, S.TRANSFER_REQUESTED, S.ANSWERED, S.DISPUTED}, None,
                 FRONT),
    "acknowledge": ({S.FORWARDED}, S.IN_PROGRESS, AGENCY),
    "assign_officer": ({S.FORWARDED, S.IN_PROGRESS}, None, {Role.AGENCY_HEAD}),
    "request_extension": ({S.IN_PROGRESS}, None, AGENCY),
    "request_transfer": ({S.FORWARDED, S.IN_PROGRESS}, S.TRANSFER_REQUESTED, AGENCY),
    "approve_transfer": ({S.TRANSFER_REQUESTED}, S.FORWARDED, FRONT),
    "refuse_transfer": ({S.TRANSFER_REQUESTED}, S.IN_PROGRESS, FRONT),
    "answer": ({S.IN_PROGRESS}, S.ANSWERED, AGENCY),
    "return_answer": ({S.ANSWERED, S.DISPUTED}, S.IN_PROGRESS, FRONT),
    "accept_answer": ({S.ANSWERED}, S.RESOLVED, FRONT),
    "uphold_answer": ({S.DISPUTED}, S.CLOSED, FRONT),
    "dispute": ({S.RESOLVED}, S.DISPUTED, {"reporter"}),
    "rate": ({S.RESOLVED}, S.CLOSED, {"reporter"}),
    "close_unrated": ({S.RESOLVED}, S.CLOSED, {"system"}),
    "escalate": ({S.SUBMITTED, S.FORWARDED, S.IN_PROGRESS, S.TRANSFER_REQUESTED, S.ANSWERED,
                  S.DISPUTED}, None, {"system"}),
    "redact": (OPEN, None, FRONT),
    "view_identity": (set(S), None, FRONT),
    "claim": (OPEN, None, FRONT),
    "release": (OPEN, None, FRONT),
    "note": (set(S), None, FRONT),
    "unpublish": ({S.RESOLVED, S.DISPUTED, S.CLOSED}, None, FRONT),
}


def test_the_transition_table_is_the_design():
    table = {name: (set(t.sources), t.target, set(t.roles))
             for name, t in lifecycle.TRANSITIONS.items()}
    assert table == DESIGN
    assert set(lifecycle.ACTIONS) == set(DESIGN)


# -- the actors of the matrix ----------------------------------------------------------------------

IN_SCOPE = ("reporter", "moderator", "supervisor", "agency_officer", "agency_head", "admin", "system")
OUT_OF_SCOPE = ("moderator_other_committee", "supervisor_other_committee", "officer_other_agency",
                "head_other_agency", "reporter_other_case", "inactive_moderator")
ROLE_OF = {
    "reporter": "reporter", "reporter_other_case": "reporter", "system": "system",
    "moderator": Role.MODERATOR, "supervisor": Role.SUPERVISOR, "admin": Role.ADMIN,
    "agency_officer": Role.AGENCY_OFFICER, "agency_head": Role.AGENCY_HEAD,
    "moderator_other_committee": Role.MODERATOR, "supervisor_other_committee": Role.SUPERVISOR,
    "officer_other_agency": Role.AGENCY_OFFICER, "head_other_agency": Role.AGENCY_HEAD,
    "inactive_moderator": Role.MODERATOR,
}
# Cases of the matrix concern a commune's people's committee, so they sit in that commune's Front
# queue (and `refer_up` has somewhere to go). The supervisor is the city's: it sees every queue.
STAFF = {
    "moderator": (Role.MODERATOR, COMMUNE_COMMITTEE),
    "supervisor": (Role.SUPERVISOR, CITY_COMMITTEE),
    "agency_officer": (Role.AGENCY_OFFICER, COMMUNE_AGENCY),
    "agency_head": (Role.AGENCY_HEAD, COMMUNE_AGENCY),
    "admin": (Role.ADMIN, None),
    "moderator_other_committee": (Role.MODERATOR, OTHER_COMMITTEE),
    "supervisor_other_committee": (Role.SUPERVISOR, OTHER_COMMITTEE),
    "officer_other_agency": (Role.AGENCY_OFFICER, OTHER_AGENCY),
    "head_other_agency": (Role.AGENCY_HEAD, OTHER_AGENCY),
}


class World:
    """The staff, agencies and a second open case that the matrix needs, made once per test."""

    def __init__(self, factory):
        self.factory = factory
        self.session = factory.session
        self.agency = factory.agency(COMMUNE_AGENCY)
        self.other_agency = factory.agency(OTHER_AGENCY)
        self.users = {name: factory.user(role, org) for name, (role, org) in STAFF.items()}
        inactive = factory.user(Role.MODERATOR, COMMUNE_COMMITTEE, email="gone@example.org")
        inactive.active = False
        self.users["inactive_moderator"] = inactive
        # An open case of the same committee: the merge target, and the "other" tracking code.
        self.other_case = self.case_in(S.SUBMITTED)

    def case_in(self, status: str) -> Case:
        case = self.factory.case_in(status, agency=COMMUNE_AGENCY, confidential=True)
        if status == S.SUBMITTED:  # reviewed for personal details, so that it may be forwarded
            self.factory.redact(case)
        self.session.commit()
        return case

    def actor(self, name: str, case: Case) -> Actor:
        if name == "reporter":
            return Actor.reporter(case.id)
        if name == "reporter_other_case":
            return Actor.reporter(self.other_case.id)
        if name == "system":
            return Actor.system()
        return Actor.staff(self.users[name])

    def arguments(self, action: str, case: Case) -> dict:
        return {
            "ask_info": {"question": "Anh/chị đã nộp hồ sơ ở bộ phận nào?"},
            "provide_info": {"reply": "Bộ phận một cửa, ngày 3/10."},
            "reject": {"reason": RejectReason.INSUFFICIENT, "note": "Thiếu thông tin."},
            "merge": {"into_case_id": self.other_case.id},
            "forward": {"agency_id": self.agency.id, "recommendation": "Đề nghị xem xét, trả lời."},
            "refer_up": {"reason": "Có xung đột lợi ích ở cấp phường."},
            "acknowledge": {},
            "assign_officer": {"officer_id": self.users["agency_officer"].id},
            "request_extension": {"working_days": 2, "reason": "Cần xác minh thực địa."},
            "request_transfer": {"to_agency_id": self.other_agency.id,
                                 "reason": "Thuộc thẩm quyền của Sở."},
            "approve_transfer": {"note": "Đồng ý chuyển."},
            "refuse_transfer": {"note": "Thuộc thẩm quyền của phường."},
            "answer": {"findings": "Đã kiểm tra hồ sơ.", "outcome": Outcome.PARTLY},
            "return_answer": {"reason": "Chưa trả lời kiến nghị."},
            "accept_answer": {"assessment": "Trả lời đầy đủ."},
            "uphold_answer": {"assessment": "Câu trả lời đúng quy định."},
            "dispute": {"reason": "Vẫn chưa được giải quyết."},
            "rate": {"scores": dict(SCORES), "comment": "Cảm ơn."},
            "close_unrated": {},
            "escalate": {"step": lifecycle.next_escalation_step(case)},
            "redact": {"redacted_text": "Hồ sơ cấp phép xây dựng của [đã ẩn] đã quá hạn."},
            "view_identity": {},
            "claim": {},
            "release": {},
            "note": {"text": "Đã gọi điện cho người phản ánh để xác minh."},
            "unpublish": {"reason": "Nội dung trả lời còn tên người phản ánh."},
        }[action]


def expected_allowed(case: Case, action: str, name: str) -> bool:
    sources, _target, roles = DESIGN[action]
    if case.status not in sources or ROLE_OF[name] not in roles or name in OUT_OF_SCOPE:
        return False
    if name in ("agency_officer", "agency_head"):
        return case.assigned_agency_id is not None
    if action == "approve_transfer" and name == "moderator":
        # The transfer asked for goes to a city department: beyond the commune committee's area.
        return False
    return name != "admin"


def call(action: str, session, case: Case, actor: Actor, arguments: dict, version: int | None):
    if action != "view_identity":  # looking is not a change, so it carries no version
        arguments = {**arguments, "expected_version": version}
    return lifecycle.ACTIONS[action](session, case, actor, **arguments)


# -- what the database holds ------------------------------------------------------------------------

COUNTED = (CaseEvent, Assignment, Answer, TransferRequest, Rating, OutboxMessage)


def snapshot(session, *case_ids: int) -> list:
    """In one query, read from the database (not the identity map): the rows of the cases and how
    many rows each table a transition writes to holds."""
    cases = Case.__table__
    counts = [select(func.count()).select_from(m.__table__).scalar_subquery().label(m.__tablename__)
              for m in COUNTED]
    return [row._asdict() for row in session.execute(
        select(cases, *counts).where(cases.c.id.in_(case_ids)).order_by(cases.c.id))]


def case_event_total(session) -> int:
    return session.scalar(select(func.count()).select_from(CaseEvent))


def events_of(session, case_id: int) -> list[CaseEvent]:
    return session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id)
                           .order_by(CaseEvent.seq).execution_options(populate_existing=True)).all()


def assert_refused(session, case: Case, actor: Actor, action: str, arguments: dict,
                   version: int | None = None, error=TransitionRefused, others=()) -> None:
    """The action raises `error` and leaves no trace, even once the session is flushed."""
    before = snapshot(session, case.id, *others)
    with pytest.raises(error):
        call(action, session, case, actor, arguments, case.version if version is None else version)
    assert not session.new, f"{action} added {session.new} before refusing"
    assert not [o for o in session.dirty if session.is_modified(o)], f"{action} changed objects"
    session.flush()
    assert snapshot(session, case.id, *others) == before


def assert_applies(session, world: World, case: Case, actor: Actor, action: str,
                   arguments: dict) -> None:
    _sources, target, _roles = DESIGN[action]
    old_status, old_version, old_count = case.status, case.version, case.event_count
    main = world.other_case
    main_count = main.event_count
    total = case_event_total(session)

    result = call(action, session, case, actor, arguments, case.version)
    session.commit()

    stored = session.execute(select(Case.__table__).where(Case.__table__.c.id == case.id)).one()
    assert stored.status == (target or old_status)
    assert stored.version > old_version
    events = events_of(session, case.id)
    new = events[old_count:]
    assert [e.action for e in new] == [action]
    (event,) = new
    assert (event.from_status, event.to_status) == (old_status, target or old_status)
    assert event.actor_kind == actor.kind
    assert event.actor_id == (actor.user.id if actor.user else None)
    if isinstance(result, CaseEvent):
        assert result.id == event.id
    assert stored.event_count == len(events) and stored.event_head_hash == event.hash
    assert audit.verify_case(session.get(Case, case.id), events) == []
    appended = 2 if action == "merge" else 1
    assert case_event_total(session) == total + appended
    if action == "merge":
        main_events = events_of(session, main.id)
        assert [e.action for e in main_events[main_count:]] == ["absorb"]
        assert main_events[-1].data == {"merged_case_id": case.id}
        session.refresh(main)
        assert audit.verify_case(main, main_events) == []


@pytest.mark.parametrize("state", list(S))
def test_every_action_by_every_actor(state, factory, session):
    world = World(factory)
    base = world.case_in(state)
    problems = []
    for action in lifecycle.TRANSITIONS:
        for name in IN_SCOPE + OUT_OF_SCOPE:
            allowed = expected_allowed(base, action, name)
            case = world.case_in(state) if allowed else base
            if action == "close_unrated":  # the rating window has ended
                case.due_on = PAST
                session.commit()
            if action == "unpublish":  # there is a published answer to take down
                case.published_at = datetime(2026, 11, 1)
                session.commit()
            actor = world.actor(name, case)
            label = f"{state} / {action} / {name} ({'allowed' if allowed else 'refused'})"
            if lifecycle.allowed(case, actor, action) is not allowed:
                problems.append(f"{label}: lifecycle.allowed says {not allowed}")
            try:
                if allowed:
                    assert_applies(session, world, case, actor, action, world.arguments(action, case))
                else:
                    assert_refused(session, case, actor, action, world.arguments(action, case))
            except (Exception, pytest.fail.Exception) as error:  # report every failing combination
                session.rollback()
                problems.append(f"{label}: {type(error).__name__}: {error}")
    assert not problems, "\n".join(problems)


# -- optimistic locking -----------------------------------------------------------------------------

# One state and actor for which each action is allowed.
ALLOWED_EXAMPLE = {
    "ask_info": (S.SUBMITTED, "moderator"), "provide_info": (S.NEEDS_INFO, "reporter"),
    "reject": (S.NEEDS_INFO, "supervisor"), "merge": (S.SUBMITTED, "moderator"),
    "forward": (S.SUBMITTED, "supervisor"), "refer_up": (S.NEEDS_INFO, "moderator"),
    "acknowledge": (S.FORWARDED, "agency_head"), "assign_officer": (S.IN_PROGRESS, "agency_head"),
    "request_extension": (S.IN_PROGRESS, "agency_officer"),
    "request_transfer": (S.FORWARDED, "agency_officer"),
    "approve_transfer": (S.TRANSFER_REQUESTED, "supervisor"),
    "refuse_transfer": (S.TRANSFER_REQUESTED, "supervisor"),
    "answer": (S.IN_PROGRESS, "agency_officer"), "return_answer": (S.DISPUTED, "moderator"),
    "accept_answer": (S.ANSWERED, "moderator"), "uphold_answer": (S.DISPUTED, "supervisor"),
    "dispute": (S.RESOLVED, "reporter"), "rate": (S.RESOLVED, "reporter"),
    "close_unrated": (S.RESOLVED, "system"), "escalate": (S.ANSWERED, "system"),
    "redact": (S.IN_PROGRESS, "moderator"),
    "claim": (S.SUBMITTED, "moderator"), "release": (S.ANSWERED, "supervisor"),
    "note": (S.CLOSED, "moderator"),
    "unpublish": (S.CLOSED, "supervisor"),
}


def test_a_stale_version_is_refused_without_trace_then_the_right_one_works(factory, session):
    assert set(ALLOWED_EXAMPLE) == set(lifecycle.TRANSITIONS) - {"view_identity"}
    world = World(factory)
    for action, (state, name) in ALLOWED_EXAMPLE.items():
        case = world.case_in(state)
        if action == "close_unrated":
            case.due_on = PAST
            session.commit()
        if action == "unpublish":
            case.published_at = datetime(2026, 11, 1)
            session.commit()
        actor = world.actor(name, case)
        arguments = world.arguments(action, case)
        for wrong in (case.version - 1, case.version + 1):
            assert_refused(session, case, actor, action, arguments, version=wrong, error=StaleCase,
                           others=(world.other_case.id,))
        assert_applies(session, world, case, actor, action, arguments)


# -- refusals for what the actor asks, not who they are -------------------------------------------

def _invalid(world: World) -> list[tuple[str, str, str, dict]]:
    """(state, actor, action, arguments) that the actor may do, but not with these arguments."""
    officer_elsewhere = world.users["officer_other_agency"].id
    return [
        (S.SUBMITTED, "moderator", "ask_info", {"question": "   "}),
        (S.NEEDS_INFO, "reporter", "provide_info", {"reply": ""}),
        (S.SUBMITTED, "moderator", "reject", {"reason": "because"}),
        (S.SUBMITTED, "moderator", "merge", {"into_case_id": -1}),
        (S.SUBMITTED, "moderator", "forward", {"agency_id": 10**9, "recommendation": "Xem xét."}),
        (S.SUBMITTED, "moderator", "forward", {"agency_id": world.agency.id, "recommendation": " "}),
        (S.SUBMITTED, "moderator", "forward", {"agency_id": world.agency.id, "recommendation": "X",
                                               "due_on": date(2099, 1, 1)}),
        (S.SUBMITTED, "supervisor", "forward", {"agency_id": world.agency.id, "recommendation": "X",
                                                "due_on": PAST}),
        (S.FORWARDED, "agency_head", "assign_officer", {"officer_id": officer_elsewhere}),
        (S.IN_PROGRESS, "agency_officer", "request_extension", {"working_days": 0, "reason": "x"}),
        (S.IN_PROGRESS, "agency_officer", "request_extension", {"working_days": 8, "reason": "x"}),
        (S.IN_PROGRESS, "agency_officer", "request_extension", {"working_days": 2, "reason": ""}),
        (S.IN_PROGRESS, "agency_officer", "request_transfer", {"to_agency_id": world.agency.id,
                                                               "reason": "Không phải của chúng tôi."}),
        (S.TRANSFER_REQUESTED, "moderator", "refuse_transfer", {"note": ""}),
        (S.IN_PROGRESS, "agency_officer", "answer", {"findings": "Đã xem.", "outcome": "maybe"}),
        (S.ANSWERED, "moderator", "return_answer", {"reason": ""}),
        (S.ANSWERED, "moderator", "accept_answer", {"assessment": ""}),
        (S.DISPUTED, "moderator", "uphold_answer", {"assessment": ""}),
        (S.RESOLVED, "reporter", "dispute", {"reason": ""}),
        (S.RESOLVED, "reporter", "rate", {"scores": {**SCORES, "overall": 6}}),
        (S.RESOLVED, "reporter", "rate", {"scores": {"overall": 5}}),
        (S.RESOLVED, "system", "close_unrated", {}),  # the window is still open
        (S.ANSWERED, "system", "escalate", {"step": "the prime minister"}),
        (S.IN_PROGRESS, "moderator", "redact", {"redacted_text": ""}),
    ]


def test_invalid_arguments_are_refused_without_trace(factory, session):
    world = World(factory)
    cases = {}
    for state, name, action, arguments in _invalid(world):
        case = cases.get(state) or cases.setdefault(state, world.case_in(state))
        assert_refused(session, case, world.actor(name, case), action, arguments,
                       others=(world.other_case.id,))


def test_merge_needs_another_open_case_of_the_actors_queue(factory, session):
    world = World(factory)
    case = world.case_in(S.SUBMITTED)
    moderator = world.actor("moderator", case)
    closed = world.case_in(S.REJECTED)
    elsewhere = factory.case_in(S.SUBMITTED, agency=CITY_DEPARTMENT)  # the city Front's queue
    session.commit()
    for target in (case.id, closed.id, elsewhere.id):
        assert_refused(session, case, moderator, "merge", {"into_case_id": target},
                       others=(target,))


def test_refer_up_from_the_city_committee_is_refused(factory, session):
    case = factory.case_in(S.SUBMITTED, agency=CITY_DEPARTMENT)
    session.commit()
    assert_refused(session, case, Actor.staff(factory.moderator()), "refer_up",
                   {"reason": "Lên thành phố."})


def test_refer_up_hands_the_case_to_the_city_committee(factory, session):
    world = World(factory)
    case = world.case_in(S.SUBMITTED)
    moderator = world.actor("moderator", case)
    lifecycle.refer_up(session, case, moderator, reason="Có xung đột lợi ích.")
    session.commit()
    assert case.front_committee_id == city_committee(session).id
    # The commune committee's moderator no longer holds it; the city's staff do.
    assert not lifecycle.allowed(case, moderator, "forward")
    assert lifecycle.allowed(case, Actor.staff(factory.moderator(CITY_COMMITTEE)), "forward")


def test_viewing_a_confidential_identity_is_recorded_and_a_public_one_is_not(factory, session):
    moderator = Actor.staff(factory.moderator())
    confidential = factory.case_in(S.SUBMITTED, confidential=True)
    public = factory.case_in(S.SUBMITTED, confidential=False)
    session.commit()
    assert lifecycle.view_identity(session, public, moderator) is None
    event = lifecycle.view_identity(session, confidential, moderator)
    session.commit()
    assert event.action == "view_identity" and event.actor_id == moderator.user.id
    assert [e.action for e in events_of(session, public.id)] == ["submit"]
    assert [e.action for e in events_of(session, confidential.id)] == ["submit", "view_identity"]
    with pytest.raises(TransitionRefused):
        lifecycle.view_identity(session, confidential, Actor.staff(factory.officer()))


# -- deadlines, with the date frozen ----------------------------------------------------------------

class Clock:
    def __init__(self, day: date):
        self.day = day

    def __call__(self) -> date:
        return self.day


@pytest.fixture
def clock(monkeypatch):
    clock = Clock(date(2026, 11, 2))
    monkeypatch.setattr(deadlines, "today", clock)
    monkeypatch.setattr(lifecycle, "today", clock)
    return clock


def test_forward_creates_an_assignment_and_sets_the_acknowledgement_deadline(factory, session, clock):
    case, _ = factory.report()
    moderator = factory.moderator()
    clock.day = date(2026, 11, 5)  # a Thursday: 3 working days are Fri, Mon, Tue
    event = lifecycle.forward(session, case, Actor.staff(moderator),
                              agency_id=factory.agency(OTHER_AGENCY).id,
                              recommendation="Đề nghị trả lời trong thời hạn.")
    session.commit()
    assert case.status == S.FORWARDED
    assert (case.due_stage, case.due_on) == (DeadlineStage.ACKNOWLEDGE, date(2026, 11, 10))
    (assignment,) = session.scalars(select(Assignment).where(Assignment.case_id == case.id)).all()
    assert assignment.agency_id == case.assigned_agency_id == factory.agency(OTHER_AGENCY).id
    assert assignment.assigned_by_id == moderator.id
    assert assignment.recommendation == "Đề nghị trả lời trong thời hạn."
    assert assignment.ended_at is None and assignment.acknowledged_at is None
    assert event.data == {"agency_id": assignment.agency_id, "due_stage": "acknowledge",
                          "due_on": "2026-11-10"}
    assert event.reason == "Đề nghị trả lời trong thời hạn."


def test_a_supervisor_may_set_the_deadline_of_a_forward(factory, session, clock):
    case, _ = factory.report()
    lifecycle.forward(session, case, Actor.staff(factory.user(Role.SUPERVISOR, CITY_COMMITTEE)),
                      agency_id=case.agency_id, recommendation="Khẩn.", due_on=date(2026, 11, 4))
    assert (case.due_stage, case.due_on) == (DeadlineStage.ACKNOWLEDGE, date(2026, 11, 4))


def test_acknowledge_sets_the_answer_deadline_and_accept_the_rating_window(factory, session, clock):
    clock.day = date(2026, 11, 5)
    case = factory.case_in(S.FORWARDED)
    clock.day = date(2026, 11, 10)
    lifecycle.acknowledge(session, case, Actor.staff(factory.officer()))
    # 15 working days from Tue 10 Nov 2026; Tue 24 Nov (Vietnam Cultural Day) is a holiday.
    assert (case.due_stage, case.due_on) == (DeadlineStage.ANSWER, date(2026, 12, 2))
    assignment = session.scalars(select(Assignment).where(Assignment.case_id == case.id)).one()
    assert assignment.acknowledged_at is not None
    assert assignment.answer_due_on == date(2026, 12, 2)

    lifecycle.answer(session, case, Actor.staff(factory.officer()), findings="Đã xử lý.",
                     outcome=Outcome.SUBSTANTIATED)
    assert case.due_stage == DeadlineStage.TRIAGE
    clock.day = date(2026, 12, 2)
    lifecycle.accept_answer(session, case, Actor.staff(factory.moderator()), assessment="Đạt.")
    session.commit()
    # 10 working days from Wed 2 Dec 2026.
    assert (case.due_stage, case.due_on) == (DeadlineStage.RATING, date(2026, 12, 16))
    assert case.status == S.RESOLVED


def test_a_deadline_rule_for_the_conduct_overrides_the_default(factory, session, clock):
    session.add(DeadlineRule(stage=DeadlineStage.ACKNOWLEDGE, conduct="slow_handling",
                             sector=None, working_days=5))
    session.flush()
    clock.day = date(2026, 11, 5)
    slow = factory.case_in(S.FORWARDED, conduct="slow_handling")
    rude = factory.case_in(S.FORWARDED, conduct="attitude")
    assert slow.due_on == date(2026, 11, 12)  # 5 working days: Fri, Mon, Tue, Wed, Thu
    assert rude.due_on == date(2026, 11, 10)  # no rule for this conduct: the default 3


def test_asking_for_information_pauses_the_clock(factory, session, clock):
    clock.day = date(2026, 11, 2)  # Monday: triage is due in 2 working days, on Wednesday
    case, _ = factory.report()
    assert (case.due_stage, case.due_on) == (DeadlineStage.TRIAGE, date(2026, 11, 4))
    clock.day = date(2026, 11, 3)
    lifecycle.ask_info(session, case, Actor.staff(factory.moderator()), question="Ở bộ phận nào?")
    assert case.paused_on == date(2026, 11, 3)
    assert case.due_on == date(2026, 11, 4)
    session.commit()

    clock.day = date(2026, 11, 10)  # a week later: Wed, Thu, Fri, Mon, Tue went by (5 days)
    event = lifecycle.provide_info(session, case, Actor.reporter(case.id), reply="Bộ phận một cửa.")
    session.commit()
    assert case.status == S.SUBMITTED and case.paused_on is None
    assert (case.due_stage, case.due_on) == (DeadlineStage.TRIAGE, date(2026, 11, 11))
    assert event.data["paused_working_days"] == 5
    assert event.data["due_on"] == "2026-11-11"


def test_an_answer_the_same_day_moves_no_deadline(factory, session, clock):
    case, _ = factory.report()
    lifecycle.ask_info(session, case, Actor.staff(factory.moderator()), question="Ở đâu?")
    event = lifecycle.provide_info(session, case, Actor.reporter(case.id), reply="Ở phường.")
    assert case.due_on == date(2026, 11, 4)
    assert event.data["paused_working_days"] == 0


def _transfer(factory, session, case, officer, to: str) -> None:
    lifecycle.request_transfer(session, case, Actor.staff(officer),
                               to_agency_id=factory.agency(to).id, reason="Không thuộc thẩm quyền.")
    lifecycle.approve_transfer(session, case, Actor.staff(factory.moderator()), note="Đồng ý.")
    session.flush()


def test_a_case_that_comes_back_to_an_agency_is_ping_pong(factory, session, clock):
    a, b = CITY_DEPARTMENT, OTHER_AGENCY
    officer_a, officer_b = factory.officer(a), factory.officer(b)
    case = factory.case_in(S.IN_PROGRESS, agency=a)

    _transfer(factory, session, case, officer_a, to=b)
    assert case.status == S.FORWARDED
    assert case.assigned_agency_id == factory.agency(b).id
    assert case.ping_pong is False
    assert (case.due_stage, case.due_on) == (DeadlineStage.ACKNOWLEDGE, date(2026, 11, 5))
    # The agency that passed it on has no say any more; the new one has.
    assert not lifecycle.allowed(case, Actor.staff(officer_a), "answer")
    with pytest.raises(TransitionRefused):
        lifecycle.acknowledge(session, case, Actor.staff(officer_a))
    lifecycle.acknowledge(session, case, Actor.staff(officer_b))

    _transfer(factory, session, case, officer_b, to=a)
    session.commit()
    assert case.assigned_agency_id == factory.agency(a).id
    assert case.ping_pong is True
    last = events_of(session, case.id)[-1]
    assert last.action == "approve_transfer" and last.data["ping_pong"] is True
    assignments = session.scalars(select(Assignment).where(Assignment.case_id == case.id)
                                  .order_by(Assignment.id)).all()
    assert [x.agency.code for x in assignments] == [a, b, a]
    assert [x.end_reason for x in assignments] == ["transferred", "transferred", None]
    requests = session.scalars(select(TransferRequest).where(TransferRequest.case_id == case.id)
                               .order_by(TransferRequest.id)).all()
    ids = {code: factory.agency(code).id for code in (a, b)}
    assert [(r.from_agency_id, r.to_agency_id, r.decision) for r in requests] == [
        (ids[a], ids[b], "approved"), (ids[b], ids[a], "approved")]


def test_a_first_transfer_is_not_ping_pong(factory, session, clock):
    case = factory.case_in(S.FORWARDED)
    _transfer(factory, session, case, factory.officer(), to=OTHER_AGENCY)
    assert case.ping_pong is False
    assert "ping_pong" not in events_of(session, case.id)[-1].data


def test_a_refused_transfer_keeps_the_original_answer_deadline(factory, session, clock):
    clock.day = date(2026, 11, 5)
    case = factory.case_in(S.FORWARDED)
    officer = Actor.staff(factory.officer())
    clock.day = date(2026, 11, 9)
    lifecycle.acknowledge(session, case, officer)
    # 15 working days from Mon 9 Nov 2026, skipping Tue 24 Nov.
    assert case.due_on == date(2026, 12, 1)
    clock.day = date(2026, 11, 13)
    lifecycle.request_transfer(session, case, officer, to_agency_id=factory.agency(OTHER_AGENCY).id,
                               reason="Thuộc thẩm quyền Sở Nông nghiệp và Môi trường.")
    assert (case.due_stage, case.due_on) == (DeadlineStage.TRIAGE, date(2026, 11, 17))
    clock.day = date(2026, 11, 18)
    lifecycle.refuse_transfer(session, case, Actor.staff(factory.moderator()),
                              note="Thuộc thẩm quyền của Sở Xây dựng.")
    session.commit()
    assert case.status == S.IN_PROGRESS
    assert (case.due_stage, case.due_on) == (DeadlineStage.ANSWER, date(2026, 12, 1))
    assert case.assigned_agency_id == factory.agency(CITY_DEPARTMENT).id
    request = session.scalars(select(TransferRequest).where(TransferRequest.case_id == case.id)).one()
    assert (request.decision, request.decision_note) == ("refused", "Thuộc thẩm quyền của Sở Xây dựng.")
    kinds = session.scalars(select(OutboxMessage.kind).order_by(OutboxMessage.id)).all()
    assert kinds[-1] == "transfer_refused"


def test_an_extension_moves_the_answer_deadline_within_its_cap(factory, session, clock):
    clock.day = date(2026, 11, 9)
    case = factory.case_in(S.IN_PROGRESS)
    officer = Actor.staff(factory.officer())
    assert case.due_on == date(2026, 12, 1)
    lifecycle.request_extension(session, case, officer, working_days=5, reason="Cần xác minh.")
    session.commit()
    assert case.due_on == date(2026, 12, 8)
    assignment = session.scalars(select(Assignment).where(Assignment.case_id == case.id)).one()
    assert assignment.answer_due_on == date(2026, 12, 8)
    # The cap is half the answer rule (15 // 2 = 7 working days) in all: 5 used, 2 left.
    assert_refused(session, case, officer, "request_extension",
                   {"working_days": 3, "reason": "Thêm nữa."})
    lifecycle.request_extension(session, case, officer, working_days=2, reason="Thêm nữa.")
    assert case.due_on == date(2026, 12, 10)


@pytest.mark.parametrize("closing", ["rate", "close_unrated", "uphold_answer"])
def test_closing_a_case_ends_the_agencys_assignment(factory, session, clock, closing):
    state = S.DISPUTED if closing == "uphold_answer" else S.RESOLVED
    case = factory.case_in(state)
    actor = {"rate": Actor.reporter(case.id), "close_unrated": Actor.system(),
             "uphold_answer": Actor.staff(factory.moderator())}[closing]
    arguments = {"rate": {"scores": SCORES}, "close_unrated": {},
                 "uphold_answer": {"assessment": "Câu trả lời đúng."}}[closing]
    if closing == "close_unrated":
        clock.day = date(2027, 1, 4)  # the rating window (10 working days) has ended
    lifecycle.ACTIONS[closing](session, case, actor, **arguments)
    session.commit()
    assert case.status == S.CLOSED
    assert case.closed_at is not None
    assert (case.due_stage, case.due_on) == (None, None)
    (assignment,) = session.scalars(select(Assignment).where(Assignment.case_id == case.id)).all()
    assert assignment.ended_at is not None and assignment.end_reason == "closed"


def test_a_rating_is_stored_once(factory, session):
    case = factory.case_in(S.RESOLVED)
    reporter = Actor.reporter(case.id)
    rating = lifecycle.rate(session, case, reporter, scores={**SCORES, "overall": 5}, comment=" Tốt ")
    session.commit()
    assert (rating.overall, rating.access, rating.comment) == (5, 4, "Tốt")
    assert_refused(session, case, reporter, "rate", {"scores": SCORES})
    assert session.scalars(select(Rating).where(Rating.case_id == case.id)).one() == rating


# -- the outbox shares the transaction of the change ----------------------------------------------

def test_a_notification_is_written_in_the_transaction_of_the_change(factory, app, session):
    case = factory.case_in(S.SUBMITTED)
    moderator = Actor.staff(factory.moderator())
    session.commit()
    outbox = select(OutboxMessage.kind, OutboxMessage.payload).order_by(OutboxMessage.id)
    before = session.execute(outbox).all()

    lifecycle.forward(session, case, moderator, agency_id=case.agency_id, recommendation="Xem xét.")
    session.flush()
    queued = session.execute(outbox).all()[len(before):]
    assert [(k, p) for k, p in queued] == [
        ("forwarded_to_agency", {"case_id": case.id, "agency_id": case.agency_id}),
        ("status_changed", {"case_id": case.id}),
    ]
    session.rollback()
    # Neither the change nor its notifications survive the rollback.
    assert session.execute(outbox).all() == before
    assert session.get(Case, case.id).status == S.SUBMITTED
    assert session.scalar(select(Assignment.id).where(Assignment.case_id == case.id)) is None

    lifecycle.forward(session, case, moderator, agency_id=case.agency_id, recommendation="Xem xét.")
    session.commit()
    # Seen from another connection, both are there once committed.
    with app.extensions["db_engine"].connect() as conn:
        status = conn.execute(select(Case.status).where(Case.id == case.id)).scalar_one()
        kinds = conn.execute(select(OutboxMessage.kind).order_by(OutboxMessage.id)).scalars().all()
    assert status == S.FORWARDED
    assert kinds[len(before):] == ["forwarded_to_agency", "status_changed"]


def test_a_submission_with_an_email_queues_its_receipt(factory, session):
    case, code = factory.report()
    anonymous, _ = factory.report(reporter_email=None, reporter_name=None)
    session.commit()
    receipts = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "receipt")).all()
    # The code never reaches the outbox: the receipt derives it again when it is sent.
    assert [m.payload for m in receipts] == [{"case_id": case.id}]
    assert code not in str(receipts[0].payload)
    assert anonymous.event_count == 1


@pytest.mark.parametrize("action", ["rate", "dispute"])
def test_the_reporter_cannot_rate_or_dispute_after_the_window(factory, session, clock, action):
    clock.day = date(2026, 11, 2)
    case = factory.case_in(S.RESOLVED)
    assert case.due_on == date(2026, 11, 16)  # 10 working days
    arguments = ({"scores": dict.fromkeys(lifecycle.RATING_FACTORS, 5)} if action == "rate"
                 else {"reason": "Chưa được giải quyết."})
    clock.day = date(2026, 11, 17)
    assert_refused(session, case, Actor.reporter(case.id), action, arguments)
    clock.day = date(2026, 11, 16)  # the last day still counts
    call(action, session, case, Actor.reporter(case.id), arguments, None)
    assert case.status in (S.CLOSED, S.DISPUTED)


def test_a_transfer_refused_before_acknowledgement_runs_from_the_forward(factory, session, clock):
    clock.day = date(2026, 11, 5)
    case = factory.case_in(S.FORWARDED)
    clock.day = date(2026, 11, 12)
    lifecycle.request_transfer(session, case, Actor.staff(factory.officer()),
                               to_agency_id=factory.agency(OTHER_AGENCY).id, reason="Không thuộc.")
    lifecycle.refuse_transfer(session, case, Actor.staff(factory.moderator()), note="Thuộc Sở.")
    session.commit()
    forwarded_on = deadlines.hanoi_date(session.scalars(
        select(Assignment.assigned_at).where(Assignment.case_id == case.id)).one())
    expected = deadlines.WorkingCalendar().add_working_days(forwarded_on, 15)
    assert (case.due_stage, case.due_on) == (DeadlineStage.ANSWER, expected)


def test_each_agency_has_its_own_extension_allowance(factory, session, clock):
    clock.day = date(2026, 11, 9)
    case = factory.case_in(S.IN_PROGRESS)
    first = Actor.staff(factory.officer())
    lifecycle.request_extension(session, case, first, working_days=7, reason="Cần xác minh.")
    _transfer(factory, session, case, factory.officer(), to=OTHER_AGENCY)
    second = Actor.staff(factory.officer(OTHER_AGENCY))
    lifecycle.acknowledge(session, case, second)
    lifecycle.request_extension(session, case, second, working_days=7, reason="Cần xác minh.")
    session.commit()
    assert_refused(session, case, second, "request_extension", {"working_days": 1, "reason": "Nữa."})


# -- a Front committee acts within its area -------------------------------------------------------

FORWARD = {"recommendation": "Đề nghị xem xét, trả lời."}
OUTSIDE_AREA = "outside your Front committee's area"


def test_a_commune_committee_forwards_only_within_its_area(factory, session):
    world = World(factory)
    case = world.case_in(S.SUBMITTED)
    moderator = world.actor("moderator", case)
    city_department = factory.agency(CITY_DEPARTMENT)
    with pytest.raises(TransitionRefused, match=OUTSIDE_AREA):
        call("forward", session, case, moderator, {**FORWARD, "agency_id": city_department.id},
             case.version)
    assert_refused(session, case, moderator, "forward", {**FORWARD, "agency_id": city_department.id})
    # Referred up, the case is the city committee's, which may send it anywhere.
    lifecycle.refer_up(session, case, moderator, reason="Liên quan đến Sở Xây dựng.")
    lifecycle.forward(session, case, Actor.staff(factory.moderator(CITY_COMMITTEE)),
                      agency_id=city_department.id, **FORWARD)
    session.commit()
    assert (case.status, case.assigned_agency_id) == (S.FORWARDED, city_department.id)


def test_the_city_committee_forwards_a_commune_case_anywhere(factory, session):
    world = World(factory)
    case = world.case_in(S.SUBMITTED)
    lifecycle.forward(session, case, world.actor("supervisor", case),
                      agency_id=factory.agency(CITY_DEPARTMENT).id, **FORWARD)
    assert case.status == S.FORWARDED


def test_a_commune_committee_approves_a_transfer_only_within_its_area(factory, session):
    world = World(factory)
    case = world.case_in(S.TRANSFER_REQUESTED)  # the ward asks to pass it to a city department
    moderator = world.actor("moderator", case)
    assert not lifecycle.allowed(case, moderator, "approve_transfer")
    assert lifecycle.allowed(case, moderator, "refuse_transfer")
    with pytest.raises(TransitionRefused, match=OUTSIDE_AREA):
        lifecycle.approve_transfer(session, case, moderator, note="Đồng ý.")
    assert_refused(session, case, moderator, "approve_transfer", {"note": "Đồng ý."})
    supervisor = world.actor("supervisor", case)
    assert lifecycle.allowed(case, supervisor, "approve_transfer")
    lifecycle.approve_transfer(session, case, supervisor, note="Đồng ý.")
    session.commit()
    assert case.assigned_agency_id == factory.agency(OTHER_AGENCY).id


def test_a_commune_committee_approves_a_transfer_back_into_its_area(factory, session):
    """The city sent the ward's case to a department; the department names the ward itself."""
    world = World(factory)
    case = world.case_in(S.SUBMITTED)
    lifecycle.forward(session, case, world.actor("supervisor", case),
                      agency_id=factory.agency(CITY_DEPARTMENT).id, **FORWARD)
    lifecycle.request_transfer(session, case, Actor.staff(factory.officer(CITY_DEPARTMENT)),
                               to_agency_id=world.agency.id, reason="Thuộc thẩm quyền của phường.")
    session.commit()
    moderator = world.actor("moderator", case)
    assert lifecycle.allowed(case, moderator, "approve_transfer")
    lifecycle.approve_transfer(session, case, moderator, note="Đồng ý.")
    session.commit()
    assert (case.status, case.assigned_agency_id) == (S.FORWARDED, world.agency.id)


# -- a confidential report reaches the agency only once the Front has reviewed its text ----------

SECRET_SENTENCE = "Tôi là Phạm Quang Huy, nhà số 15 ngõ Hàng Hương."


def test_a_confidential_report_is_forwarded_only_once_its_text_is_reviewed(factory, session):
    case = factory.case_in(S.SUBMITTED, confidential=True)
    moderator = Actor.staff(factory.moderator())
    session.commit()
    arguments = {**FORWARD, "agency_id": case.agency_id}
    with pytest.raises(TransitionRefused, match="remove any personal details"):
        call("forward", session, case, moderator, arguments, case.version)
    assert_refused(session, case, moderator, "forward", arguments)
    # Nothing to remove: the reviewed text may be the text itself.
    lifecycle.redact(session, case, moderator, redacted_text=case.description)
    lifecycle.forward(session, case, moderator, **arguments)
    session.commit()
    assert case.status == S.FORWARDED


def test_a_public_report_needs_no_review_before_forwarding(factory, session):
    case = factory.case_in(S.SUBMITTED)
    lifecycle.forward(session, case, Actor.staff(factory.moderator()), agency_id=case.agency_id,
                      **FORWARD)
    assert case.status == S.FORWARDED and case.description_redacted is None


def test_the_agencys_email_carries_no_trace_of_a_confidential_reporter(app, factory, session):
    from portal import notifications

    name, phone, email = "Phạm Quang Huy", "0904000404", "huy.pham@example.org"
    case, _ = factory.report(confidential=True, reporter_name=name, reporter_phone=phone,
                             reporter_email=email,
                             description=SECRET_SENTENCE + " Cán bộ địa chính đòi 5 triệu đồng.")
    factory.officer()  # someone at the agency to write to
    moderator = Actor.staff(factory.moderator())
    session.commit()
    with pytest.raises(TransitionRefused):  # the text was not reviewed yet
        lifecycle.forward(session, case, moderator, agency_id=case.agency_id, **FORWARD)
    lifecycle.redact(session, case, moderator,
                     redacted_text="Tôi là [đã ẩn]. Cán bộ địa chính đòi 5 triệu đồng.")
    lifecycle.forward(session, case, moderator, agency_id=case.agency_id, **FORWARD)
    session.commit()
    message = session.scalars(select(OutboxMessage)
                              .where(OutboxMessage.kind == "forwarded_to_agency")).one()
    with app.app_context():
        emails = notifications.render(session, message)
    assert emails
    for sent in emails:
        body = bytes(sent).decode() + "".join(part.get_content() for part in sent.walk()
                                              if part.get_content_maintype() == "text")
        assert "Cán bộ địa chính đòi 5 triệu đồng." in body  # the redacted text is there
        for secret in (name, phone, email, SECRET_SENTENCE):
            assert secret not in body, secret


# -- closing ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("closing", ["reject", "merge"])
def test_closing_during_triage_stops_the_paused_clock(factory, session, clock, closing):
    case = factory.case_in(S.NEEDS_INFO)
    factory.step(case, closing)
    session.commit()
    assert case.closed_at is not None
    assert (case.due_stage, case.due_on, case.paused_on) == (None, None, None)
    assert session.scalar(select(Assignment.id).where(Assignment.case_id == case.id)) is None


def test_every_action_is_its_function():
    assert all(function.__name__ == name for name, function in lifecycle.ACTIONS.items())
