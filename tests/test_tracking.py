"""What the reporter reads at /track: each deadline met, missed, moved or interrupted, and the "3 rõ".

Cases go through the real lifecycle with the date frozen; every event is stamped at 10:00 in Hanoi
on the frozen day, so a deadline's fate depends only on the days the test chooses.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time

import pytest

from portal import deadlines, lifecycle, tracking
from portal.accounts import create_user
from portal.lifecycle import Actor
from portal.tracking import case_view
from portal.vocab import CaseStatus, DeadlineStage
from tests.factories import CITY_DEPARTMENT, PASSWORD

S = CaseStatus
OTHER_AGENCY = "SO-NNMT"
MONDAY = date(2026, 11, 2)  # triage (2 working days) is due on Wednesday 4 November


class Clock:
    def __init__(self, day: date):
        self.day = day

    def __call__(self) -> date:
        return self.day

    def moment(self) -> datetime:
        """10:00 in Hanoi on the day, stored as naive UTC like every event time."""
        return datetime.combine(self.day, time(3, 0), tzinfo=UTC).replace(tzinfo=None)


@pytest.fixture
def clock(monkeypatch):
    clock = Clock(MONDAY)
    for module in (deadlines, lifecycle, tracking):
        monkeypatch.setattr(module, "today", clock)
    monkeypatch.setattr(lifecycle, "utcnow", clock.moment)
    return clock


@pytest.fixture
def people(factory):
    return {
        "front": Actor.staff(factory.moderator()),
        "officer": Actor.staff(factory.officer()),
        "other_officer": Actor.staff(factory.officer(OTHER_AGENCY)),
    }


@pytest.fixture
def view(session):
    def view(case):
        session.flush()
        session.expire(case, ["events"])
        return case_view(session, case)
    return view


def deadline_states(v) -> list[tuple[str, str]]:
    """(stage, state) of every deadline the case was ever given, in order."""
    return [(dl.stage, dl.state) for dl in v.deadlines]


def forward(factory, case, people) -> None:
    lifecycle.forward(factory.session, case, people["front"],
                      agency_id=factory.agency(CITY_DEPARTMENT).id,
                      recommendation="Đề nghị trả lời người dân.")


# -- met and missed -------------------------------------------------------------------------------

def test_deadlines_done_in_time_are_met(factory, session, clock, people, view):
    case, _ = factory.report()
    clock.day = date(2026, 11, 3)
    forward(factory, case, people)  # acknowledgement due Friday 6 November
    clock.day = date(2026, 11, 6)  # the last day still counts
    lifecycle.acknowledge(session, case, people["officer"])
    v = view(case)
    assert deadline_states(v) == [("triage", "met"), ("acknowledge", "met"), ("answer", "running")]
    assert v.deadlines[0].ended_on == date(2026, 11, 3)
    assert (v.deadlines_met, v.deadlines_judged) == (2, 2)
    assert v.current_deadline is v.deadlines[-1]


def test_deadlines_done_late_are_missed(factory, session, clock, people, view):
    case, _ = factory.report()
    clock.day = date(2026, 11, 5)  # a day after the triage deadline
    forward(factory, case, people)
    clock.day = date(2026, 11, 9)  # acknowledgement was due on Tuesday 10: in time
    lifecycle.acknowledge(session, case, people["officer"])
    v = view(case)
    assert deadline_states(v)[:2] == [("triage", "missed"), ("acknowledge", "met")]
    assert (v.deadlines_met, v.deadlines_judged) == (1, 2)


def test_the_rating_window_is_met_by_the_reporters_rating(factory, session, clock, people, view):
    case = factory.case_in(S.RESOLVED)
    lifecycle.rate(session, case, Actor.reporter(case.id),
                   scores=dict.fromkeys(lifecycle.RATING_FACTORS, 5))
    v = view(case)
    assert deadline_states(v) == [("triage", "met"), ("acknowledge", "met"), ("answer", "met"),
                                  ("triage", "met"), ("rating", "met")]
    assert v.current_deadline is None


def test_a_rating_window_that_ends_unrated_is_no_missed_duty(factory, session, clock, people, view):
    case = factory.case_in(S.RESOLVED)
    clock.day = date(2026, 12, 1)  # ten working days have passed
    lifecycle.close_unrated(session, case, Actor.system())
    v = view(case)
    assert deadline_states(v)[-1] == ("rating", "ended")
    # The reporter's window is not the Front's or the agency's duty: it counts for neither.
    assert (v.deadlines_met, v.deadlines_judged) == (4, 4)


# -- moved -----------------------------------------------------------------------------------------

def test_an_extension_moves_the_answer_deadline(factory, session, clock, people, view):
    case = factory.case_in(S.IN_PROGRESS)
    lifecycle.request_extension(session, case, people["officer"], working_days=3,
                                reason="Cần xác minh thực địa.")
    v = view(case)
    assert deadline_states(v)[-2:] == [("answer", "moved"), ("answer", "running")]
    assert v.current_deadline.due_on == case.due_on
    # A moved deadline is neither met nor missed.
    assert (v.deadlines_met, v.deadlines_judged) == (2, 2)


# -- interrupted ----------------------------------------------------------------------------------

def test_a_transfer_request_interrupts_the_acknowledgement_deadline(factory, session, clock, people,
                                                                   view):
    """Asking to pass the case on is not acknowledging it: the deadline was not met."""
    case, _ = factory.report()
    forward(factory, case, people)  # acknowledgement due Thursday 5 November
    clock.day = date(2026, 11, 3)
    lifecycle.request_transfer(session, case, people["officer"],
                               to_agency_id=factory.agency(OTHER_AGENCY).id,
                               reason="Thuộc thẩm quyền Sở Nông nghiệp và Môi trường.")
    v = view(case)
    assert deadline_states(v) == [("triage", "met"), ("acknowledge", "interrupted"),
                                  ("triage", "running")]
    assert (v.deadlines_met, v.deadlines_judged) == (1, 1)

    clock.day = date(2026, 11, 4)
    lifecycle.approve_transfer(session, case, people["front"], note="Đồng ý.")
    v = view(case)
    assert deadline_states(v)[2:] == [("triage", "met"), ("acknowledge", "running")]
    # The timeline shows each deadline at the event that set it.
    entry = next(e for e in v.timeline if e.event.action == "approve_transfer")
    assert entry.deadline is v.deadlines[-1]
    assert entry.agency.code == OTHER_AGENCY


def test_a_transfer_request_interrupts_the_answer_deadline(factory, session, clock, people, view):
    case = factory.case_in(S.IN_PROGRESS)
    lifecycle.request_transfer(session, case, people["officer"],
                               to_agency_id=factory.agency(OTHER_AGENCY).id, reason="Không thuộc.")
    lifecycle.refuse_transfer(session, case, people["front"], note="Thuộc thẩm quyền của Sở.")
    v = view(case)
    assert deadline_states(v)[2:] == [("answer", "interrupted"), ("triage", "met"),
                                      ("answer", "running")]


def test_an_interruption_after_the_due_date_is_a_miss(factory, session, clock, people, view):
    case, _ = factory.report()
    forward(factory, case, people)  # acknowledgement due Thursday 5 November
    clock.day = date(2026, 11, 9)
    lifecycle.request_transfer(session, case, people["officer"],
                               to_agency_id=factory.agency(OTHER_AGENCY).id, reason="Không thuộc.")
    assert deadline_states(view(case))[1] == ("acknowledge", "missed")


def test_a_merge_during_triage_meets_the_triage_deadline(factory, session, clock, people, view):
    case, _ = factory.report()
    main, _ = factory.report()
    lifecycle.merge(session, case, people["front"], into_case_id=main.id)
    assert deadline_states(view(case)) == [("triage", "met")]


# -- running, overdue and paused ------------------------------------------------------------------

def test_a_running_deadline_becomes_overdue(factory, session, clock, people, view):
    case, _ = factory.report()
    clock.day = date(2026, 11, 4)
    v = view(case)
    assert deadline_states(v) == [("triage", "running")]
    assert v.current_deadline.stage == DeadlineStage.TRIAGE
    assert (v.deadlines_met, v.deadlines_judged) == (0, 0)
    clock.day = date(2026, 11, 5)
    v = view(case)
    assert deadline_states(v) == [("triage", "overdue")]
    assert v.current_deadline.state == "overdue"


def test_the_clock_stands_still_while_the_front_waits_for_the_reporter(factory, session, clock,
                                                                      people, view):
    case, _ = factory.report()
    clock.day = date(2026, 11, 3)
    lifecycle.ask_info(session, case, people["front"], question="Anh nộp hồ sơ ngày nào?")
    clock.day = date(2026, 11, 10)  # long past the triage date, but the case is waiting
    v = view(case)
    assert deadline_states(v) == [("triage", "running")]
    assert v.current_deadline is None
    assert v.question == "Anh nộp hồ sơ ngày nào?"

    lifecycle.provide_info(session, case, Actor.reporter(case.id), reply="Ngày 3 tháng 10.")
    v = view(case)
    assert deadline_states(v) == [("triage", "moved"), ("triage", "running")]
    assert v.current_deadline.due_on == date(2026, 11, 11)


def test_a_decision_during_the_pause_counts_from_when_the_clock_stopped(factory, session, clock,
                                                                       people, view):
    case, _ = factory.report()
    clock.day = date(2026, 11, 3)
    lifecycle.ask_info(session, case, people["front"], question="Anh nộp hồ sơ ngày nào?")
    clock.day = date(2026, 11, 20)  # the reporter never answered
    lifecycle.reject(session, case, people["front"], reason="insufficient")
    assert deadline_states(view(case)) == [("triage", "met")]


# -- what the reporter reads ----------------------------------------------------------------------

def test_only_public_reasons_reach_the_reporter(factory, session, clock, people, view):
    world_case = factory.case_in(S.SUBMITTED, agency="UBND-00070")
    commune = Actor.staff(factory.moderator("MTTQ-00070"))
    lifecycle.ask_info(session, world_case, commune, question="Ở bộ phận nào?")
    lifecycle.refer_up(session, world_case, commune, reason="Xung đột lợi ích của cán bộ phường.")
    reasons = {e.event.action: e.reason for e in view(world_case).timeline}
    assert reasons["ask_info"] == "Ở bộ phận nào?"
    assert reasons["refer_up"] is None


def test_a_merged_report_shows_the_progress_of_the_main_one(factory, session, clock, people, view):
    case, _ = factory.report()
    main, _ = factory.report()
    lifecycle.merge(session, case, people["front"], into_case_id=main.id)
    forward(factory, main, people)
    session.flush()
    session.expire(main, ["events"])
    v = view(case)
    assert v.merged_into is main
    assert v.current_deadline is None
    assert v.merged_into_deadline.stage == DeadlineStage.ACKNOWLEDGE
    assert v.merged_into_deadline.due_on == main.due_on


# -- the page -------------------------------------------------------------------------------------

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')
THREE_CLEAR = re.compile(r'<section class="three-clear".*?</section>', re.S)


def open_case(client, code: str, reference: str) -> str:
    html = client.get("/track").get_data(as_text=True)
    match = CSRF.search(html)
    response = client.post("/track", data={"csrf_token": match.group(1) or match.group(2),
                                           "code": code})
    assert response.status_code == 303
    page = client.get(f"/track/{reference}")
    assert page.status_code == 200
    return page.get_data(as_text=True)


def test_the_page_names_the_officer_and_the_head(client, factory, session):
    case, code = factory.report()
    head = factory.user("agency_head", CITY_DEPARTMENT)
    head.name = "Đỗ Văn Hùng"
    officer = create_user(session, "tuan.pham@example.org", "agency_officer", PASSWORD,
                          CITY_DEPARTMENT, name="Phạm Minh Tuấn")
    session.flush()
    factory.step(case, "forward")
    factory.step(case, "acknowledge")
    lifecycle.assign_officer(session, case, Actor.staff(head), officer_id=officer.id)
    session.commit()

    html = open_case(client, code, case.reference)
    (block,) = THREE_CLEAR.findall(html)
    assert "Phạm Minh Tuấn" in block and "Đỗ Văn Hùng" in block
    assert "Sở Xây dựng" in block
    assert 'class="badge met"' in html  # the Front's review and the acknowledgement, in time


def test_the_page_names_agencies_in_english_when_asked(client, factory, session):
    case, code = factory.report()
    factory.step(case, "forward")
    session.commit()
    client.get("/lang/en")
    html = open_case(client, code, case.reference)
    (block,) = THREE_CLEAR.findall(html)
    assert "Department of Construction" in block and "Sở Xây dựng" not in block


def test_a_merged_reports_page_shows_the_main_reports_status(client, factory, session):
    case, code = factory.report()
    main = factory.case_in(S.IN_PROGRESS)
    lifecycle.merge(session, case, Actor.staff(factory.moderator()), into_case_id=main.id)
    session.commit()
    client.get("/lang/en")
    html = open_case(client, code, case.reference)
    assert f"Report {main.reference} now: Being handled by the agency" in html
    assert "Current stage: Answer by the agency" in html
