"""The deadline sweep: overdue cases climb the escalation ladder on working days, one rung an event.

The date is frozen: `today=` goes to the sweep, and `portal.deadlines.today` and
`portal.lifecycle.today` are patched, as in tests/test_lifecycle.py. Tết 2027 (holidays
library): Thu 4 Feb – Wed 10 Feb, so Mon 1, Tue 2, Wed 3 and then Thu 11 Feb are
consecutive working days.
"""

from __future__ import annotations

import email
import re
from datetime import date, timedelta
from email import policy
from types import SimpleNamespace

import click
import pytest
from sqlalchemy import event, select

from moderation import sweep as sweep_module
from moderation.sweep import sweep
from portal import audit, deadlines, jobs, lifecycle, notifications
from portal.db import new_session
from portal.deadlines import WorkingCalendar
from portal.lifecycle import Actor
from portal.models import Case, CaseEvent, OutboxMessage, User
from portal.vocab import CaseStatus, Role
from tests.factories import CITY_DEPARTMENT, COMMUNE_AGENCY, COMMUNE_COMMITTEE

S = CaseStatus
CITY_COMMITTEE = "MTTQ-HN"
OTHER_COMMUNE_AGENCY = "UBND-00004"  # Phường Ba Đình
OTHER_COMMUNE_COMMITTEE = "MTTQ-00004"
CALENDAR = WorkingCalendar()


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


@pytest.fixture
def staff(factory):
    """Two officers and a head at the city department; supervisors of the city and a commune."""
    return SimpleNamespace(
        officer=factory.officer(),
        officer2=factory.user(Role.AGENCY_OFFICER, CITY_DEPARTMENT,
                              email="second.officer@example.org"),
        head=factory.user(Role.AGENCY_HEAD, CITY_DEPARTMENT),
        moderator=factory.moderator(),
        city_supervisor=factory.user(Role.SUPERVISOR, CITY_COMMITTEE),
        commune_supervisor=factory.user(Role.SUPERVISOR, COMMUNE_COMMITTEE),
    )


def run(session, clock, day: date, **options):
    clock.day = day
    return sweep(session, today=day, **options)


def days(first: date, last: date):
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def escalations(session, case: Case) -> list[tuple[str, str, str]]:
    return [(e.data["step"], e.data["stage"], e.data["missed"]) for e in session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.action == "escalate")
        .order_by(CaseEvent.seq))]


def messages(session, case: Case) -> list[OutboxMessage]:
    return [m for m in session.scalars(select(OutboxMessage)
                                       .where(OutboxMessage.kind == "escalation")
                                       .order_by(OutboxMessage.id))
            if m.payload["case_id"] == case.id]


def rendered(app, session, message: OutboxMessage) -> list:
    with app.app_context():
        return notifications.render(session, message)


def recipients(app, session, message: OutboxMessage) -> set[str]:
    return {sent["To"] for sent in rendered(app, session, message)}


def text_of(sent) -> str:
    return sent["Subject"] + "".join(part.get_content() for part in sent.walk()
                                     if part.get_content_maintype() == "text")


def chain_ok(session, case: Case) -> bool:
    events = list(session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)
                                  .order_by(CaseEvent.seq)))
    session.refresh(case)
    return audit.verify_case(case, events) == []


def overdue_by(due: date, working_days: int) -> date:
    return CALENDAR.add_working_days(due, working_days)


# -- across Tết ----------------------------------------------------------------------------------

def test_a_deadline_across_tet_escalates_on_working_days_only(app, factory, session, clock, staff):
    clock.day = date(2027, 1, 29)  # the Friday before Tết
    named = factory.case_in(S.FORWARDED)
    lifecycle.assign_officer(session, named, Actor.staff(staff.head), officer_id=staff.officer2.id)
    clock.day = date(2027, 2, 2)  # Tuesday: the last working days before Tết are Tue 2 and Wed 3
    unnamed = factory.case_in(S.FORWARDED)
    session.commit()
    # Three working days: Mon 1, Tue 2, Wed 3 Feb; and Wed 3, Thu 11, Fri 12 Feb across Tết.
    assert named.due_on == date(2027, 2, 3)
    assert unnamed.due_on == date(2027, 2, 12)

    reached: dict[tuple[str, int], date] = {}
    for day in days(date(2027, 2, 3), date(2027, 2, 22)):
        first = run(session, clock, day)
        again = run(session, clock, day)
        # Right after a run, the next one finds nothing to do.
        assert (again.selected, again.escalated, again.closed) == (
            0, {"officer": 0, "head": 0, "supervisor": 0}, 0)
        assert first.skipped == first.failed == 0
        for label, case in (("named", named), ("unnamed", unnamed)):
            for level in range(1, case.escalation_level + 1):
                reached.setdefault((label, level), day)

    # Not overdue at all during Tết, though the named case's date passed on Wed 3 Feb; then
    # 1, 3 and 5 working days overdue give the officer, the head and the supervisor.
    assert reached == {
        ("named", 1): date(2027, 2, 11), ("named", 2): date(2027, 2, 15),
        ("named", 3): date(2027, 2, 17),
        ("unnamed", 1): date(2027, 2, 15), ("unnamed", 2): date(2027, 2, 17),
        ("unnamed", 3): date(2027, 2, 19),
    }
    assert escalations(session, named) == [("officer", "acknowledge", "2027-02-03"),
                                           ("head", "acknowledge", "2027-02-03"),
                                           ("supervisor", "acknowledge", "2027-02-03")]
    assert escalations(session, unnamed) == [("officer", "acknowledge", "2027-02-12"),
                                             ("head", "acknowledge", "2027-02-12"),
                                             ("supervisor", "acknowledge", "2027-02-12")]
    assert all(e.actor_kind == "system" for e in session.scalars(
        select(CaseEvent).where(CaseEvent.action == "escalate")))
    assert chain_ok(session, named) and chain_ok(session, unnamed)

    # One message per rung, to the people of that rung.
    sent = [(m.payload["step"], m.payload["days_overdue"], recipients(app, session, m))
            for m in messages(session, named)]
    assert sent == [("officer", 1, {staff.officer2.email}),
                    ("head", 3, {staff.head.email}),
                    ("supervisor", 5, {staff.city_supervisor.email})]
    sent = [(m.payload["step"], recipients(app, session, m)) for m in messages(session, unnamed)]
    assert sent == [("officer", {staff.officer.email, staff.officer2.email}),
                    ("head", {staff.head.email}),
                    ("supervisor", {staff.city_supervisor.email})]


def test_a_late_first_run_climbs_every_rung_due_at_once(app, factory, session, clock, staff):
    case = factory.case_in(S.IN_PROGRESS)
    session.commit()
    result = run(session, clock, overdue_by(case.due_on, 12))
    assert result.escalated == {"officer": 1, "head": 1, "supervisor": 1}
    assert [s for s, _, _ in escalations(session, case)] == ["officer", "head", "supervisor"]
    assert [m.payload["stage"] for m in messages(session, case)] == ["answer"] * 3
    assert chain_ok(session, case)


# -- what resets, pauses or ends the ladder ----------------------------------------------------------

def test_a_new_deadline_starts_the_ladder_again(app, factory, session, clock, staff):
    case = factory.case_in(S.FORWARDED)  # Monday 2 Nov 2026: acknowledgement due Thu 5 Nov
    session.commit()
    assert run(session, clock, date(2026, 11, 10)).escalated["head"] == 1  # Fri, Mon, Tue
    assert case.escalation_level == 2

    lifecycle.acknowledge(session, case, Actor.staff(staff.officer))
    session.commit()
    assert (case.due_stage, case.escalation_level) == ("answer", 0)
    assert run(session, clock, date(2026, 11, 10)).selected == 0

    answer_due = case.due_on
    assert run(session, clock, answer_due).selected == 0  # the last day still counts
    result = run(session, clock, overdue_by(answer_due, 1))
    assert result.escalated == {"officer": 1, "head": 0, "supervisor": 0}
    assert escalations(session, case)[-1] == ("officer", "answer", answer_due.isoformat())
    assert chain_ok(session, case)


def test_a_case_waiting_for_the_reporter_never_escalates(factory, session, clock, staff):
    case = factory.case_in(S.NEEDS_INFO)
    session.commit()
    assert case.due_on is not None
    result = run(session, clock, date(2027, 6, 1))
    assert (result.selected, case.escalation_level) == (0, 0)
    assert escalations(session, case) == []


def test_a_resolved_case_is_closed_unrated_once_its_window_ends(factory, session, clock, staff):
    case = factory.case_in(S.RESOLVED)
    session.commit()
    assert case.due_on == date(2026, 11, 16)  # 10 working days to rate or dispute
    assert run(session, clock, date(2026, 11, 16)).closed == 0  # the last day still counts

    result = run(session, clock, date(2026, 11, 17))
    assert (result.selected, result.closed, result.escalated["officer"]) == (1, 1, 0)
    assert case.status == S.CLOSED and case.closed_at is not None
    last = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)
                           .order_by(CaseEvent.seq.desc())).first()
    assert (last.action, last.actor_kind) == ("close_unrated", "system")
    assert chain_ok(session, case)
    assert run(session, clock, date(2026, 11, 17)).selected == 0


# -- the Front's own stages -------------------------------------------------------------------------

@pytest.mark.parametrize("status", [S.SUBMITTED, S.ANSWERED])
def test_a_commune_case_late_at_the_front_reaches_the_city_front(app, factory, session, clock,
                                                                 staff, status):
    factory.officer(COMMUNE_AGENCY)
    case = factory.case_in(status, agency=COMMUNE_AGENCY)  # Mon 2 Nov: triage due Wed 4 Nov
    session.commit()
    assert (case.front_committee.code, case.due_stage) == (COMMUNE_COMMITTEE, "triage")
    assert run(session, clock, date(2026, 11, 4)).selected == 0

    result = run(session, clock, date(2026, 11, 5))
    # The Front's own deadline has no officer or head to remind: one rung, straight to the
    # supervising authority, one event.
    assert result.escalated == {"officer": 0, "head": 0, "supervisor": 1}
    assert case.escalation_level == 3
    assert escalations(session, case) == [("supervisor", "triage", "2026-11-04")]
    (message,) = messages(session, case)
    assert (message.payload["step"], message.payload["front_stage"]) == ("supervisor", True)
    assert recipients(app, session, message) == {staff.commune_supervisor.email,
                                                 staff.city_supervisor.email}
    assert chain_ok(session, case)
    assert run(session, clock, date(2026, 11, 30)).selected == 0


def test_a_city_case_late_at_the_front_goes_to_the_city_supervisors(app, factory, session, clock,
                                                                    staff):
    case = factory.case_in(S.SUBMITTED)
    session.commit()
    run(session, clock, date(2026, 11, 5))
    (message,) = messages(session, case)
    assert recipients(app, session, message) == {staff.city_supervisor.email}


def test_a_committee_without_supervisors_hears_through_its_moderators(app, factory, session,
                                                                      clock, staff):
    moderator = factory.moderator(OTHER_COMMUNE_COMMITTEE)
    case = factory.case_in(S.SUBMITTED, agency=OTHER_COMMUNE_AGENCY)
    session.commit()
    run(session, clock, date(2026, 11, 5))
    (message,) = messages(session, case)
    assert recipients(app, session, message) == {moderator.email, staff.city_supervisor.email}


# -- privacy --------------------------------------------------------------------------------------

SECRET_SENTENCE = "Tôi là Phạm Quang Huy, nhà số 12 ngõ 5."


def test_an_escalation_email_carries_no_trace_of_a_confidential_reporter(app, factory, session,
                                                                         clock, staff, mail_dir):
    name, phone, mail = "Phạm Quang Huy", "0904000404", "huy.pham@example.org"
    identity = dict(confidential=True, reporter_name=name, reporter_phone=phone,
                    reporter_email=mail)
    forwarded, _ = factory.report(description=SECRET_SENTENCE + " Cán bộ đòi 5 triệu đồng.",
                                  **identity)
    factory.redact(forwarded, "Tôi là [đã ẩn]. Cán bộ đòi 5 triệu đồng.")
    factory.step(forwarded, "forward")
    unreviewed, _ = factory.report(description=SECRET_SENTENCE + " Chưa được xem xét.",
                                   **identity)
    session.commit()
    with app.app_context():
        jobs.relay_outbox()  # the receipts and the forward: out of the way
    delivered_before = set(mail_dir.glob("*.eml"))
    run(session, clock, date(2026, 12, 1))
    assert forwarded.escalation_level == unreviewed.escalation_level == 3

    emails = [sent for case in (forwarded, unreviewed) for m in messages(session, case)
              for sent in rendered(app, session, m)]
    # The agency's lateness: two officers, the head, the city supervisor; the Front's own
    # lateness on the unreviewed report: the city supervisor only.
    assert len(emails) == 2 + 1 + 1 + 1
    for sent in emails:
        body = text_of(sent)
        for secret in (name, phone, mail, SECRET_SENTENCE):
            assert secret not in body, secret
    reviewed = [text_of(s) for s in emails if forwarded.reference in s["Subject"]]
    assert len(reviewed) == 4 and all("Cán bộ đòi 5 triệu đồng." in body for body in reviewed)
    assert all("Chưa được xem xét." not in text_of(s) for s in emails)

    # What leaves the portal is what was rendered, once per recipient.
    with app.app_context():
        assert jobs.relay_outbox() == 4
    files = set(mail_dir.glob("*.eml")) - delivered_before
    sent_files = [email.message_from_bytes(f.read_bytes(), policy=policy.default) for f in files]
    assert sorted(m["To"] for m in sent_files) == sorted(m["To"] for m in emails)
    for sent in sent_files:
        body = text_of(sent)
        for secret in (name, phone, mail, SECRET_SENTENCE):
            assert secret not in body, secret


# -- robustness -----------------------------------------------------------------------------------

def _overdue_cases(factory, session, n: int) -> list[Case]:
    cases = [factory.case_in(S.FORWARDED) for _ in range(n)]
    session.commit()
    return cases


def test_the_candidates_are_found_with_one_query_then_loaded_by_batches(app, factory, session,
                                                                        clock, staff):
    cases = _overdue_cases(factory, session, 5)
    clock.day = date(2026, 11, 9)
    factory.case_in(S.FORWARDED)  # not yet due on the day of the sweep
    factory.case_in(S.NEEDS_INFO)
    session.commit()

    touching_cases = re.compile(r"\bFROM cases\b")
    selects = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and touching_cases.search(statement):
            selects.append("due_on" in statement.split("FROM", 1)[1])

    engine = app.extensions["db_engine"]
    event.listen(engine, "before_cursor_execute", count)
    try:
        result = run(session, clock, date(2026, 11, 9), batch_size=2)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert (result.selected, result.batches, result.escalated["officer"]) == (5, 3, 5)
    # One SELECT compares the deadlines; then one loads each batch (2 + 2 + 1 cases) by id.
    assert selects == [True, False, False, False]
    assert all(c.escalation_level == 1 for c in cases)


def test_a_case_changed_meanwhile_is_skipped_and_picked_up_next_run(app, factory, session, clock,
                                                                   staff, monkeypatch):
    before_load, after_load = _overdue_cases(factory, session, 2)

    def assign_elsewhere(case_id: int):
        """Another person names the officer, from another connection, right now."""
        with app.app_context():
            other = new_session()
        try:
            case = other.get(Case, case_id)
            lifecycle.assign_officer(other, case, Actor.staff(other.get(User, staff.head.id)),
                                     officer_id=staff.officer2.id)
            other.commit()
        finally:
            other.close()

    original_candidates, original_escalate = sweep_module._candidates, lifecycle.escalate

    def candidates(*args, **kwargs):
        rows = original_candidates(*args, **kwargs)
        if rows:
            assign_elsewhere(before_load.id)  # changed after the query, before it is read
        return rows

    def escalate(session_, case, *args, **kwargs):
        if case.id == after_load.id and case.assigned_officer_id is None:
            assign_elsewhere(after_load.id)  # changed after it was read, before the commit
        return original_escalate(session_, case, *args, **kwargs)

    monkeypatch.setattr(sweep_module, "_candidates", candidates)
    monkeypatch.setattr(lifecycle, "escalate", escalate)
    result = run(session, clock, date(2026, 11, 9))
    assert (result.selected, result.skipped, result.failed) == (2, 2, 0)
    assert escalations(session, before_load) == escalations(session, after_load) == []
    assert messages(session, before_load) == messages(session, after_load) == []

    monkeypatch.setattr(sweep_module, "_candidates", original_candidates)
    monkeypatch.setattr(lifecycle, "escalate", original_escalate)
    result = run(session, clock, date(2026, 11, 9))
    assert (result.escalated["officer"], result.skipped) == (2, 0)
    for case in (before_load, after_load):
        (message,) = messages(session, case)
        assert recipients(app, session, message) == {staff.officer2.email}  # named meanwhile
        assert chain_ok(session, case)


def test_one_failing_case_does_not_stop_the_sweep(app, factory, session, clock, staff, monkeypatch):
    broken, fine = _overdue_cases(factory, session, 2)
    original = lifecycle.escalate

    def escalate(session_, case, *args, **kwargs):
        if case.id == broken.id:
            raise RuntimeError("the database went away")
        return original(session_, case, *args, **kwargs)

    monkeypatch.setattr(lifecycle, "escalate", escalate)
    result = run(session, clock, date(2026, 11, 9))
    assert (result.selected, result.failed, result.escalated["officer"]) == (2, 1, 1)
    assert escalations(session, broken) == [] and messages(session, broken) == []
    assert fine.escalation_level == 1

    monkeypatch.setattr(lifecycle, "escalate", original)
    assert run(session, clock, date(2026, 11, 9)).escalated["officer"] == 1
    assert chain_ok(session, broken)


# -- the command and the jobs ---------------------------------------------------------------------

def test_the_command_sweeps_and_prints_the_counts(runner, factory, session, clock, staff):
    _overdue_cases(factory, session, 1)
    clock.day = date(2026, 11, 9)
    result = runner.invoke(args=["deadlines", "sweep"])
    assert result.exit_code == 0, result.output
    assert ("deadline sweep for 2026-11-09: 1 selected; escalated: officer 1, head 0, "
            "supervisor 0; closed unrated: 0; skipped: 0; failed: 0;") in result.output
    result = runner.invoke(args=["deadlines", "sweep"])
    assert result.exit_code == 0 and "0 selected" in result.output


def test_the_job_opens_its_own_session(app, factory, session, clock, staff):
    (case,) = _overdue_cases(factory, session, 1)
    clock.day = date(2026, 11, 9)
    with app.app_context():
        counts = jobs.run_deadline_sweep()
    assert counts["selected"] == 1 and counts["escalated"]["officer"] == 1
    session.refresh(case)
    assert case.escalation_level == 1


def test_the_periodic_jobs_are_named_once_with_importable_functions():
    names = [job.name for job in jobs.PERIODIC_JOBS]
    assert len(names) == len(set(names))
    sweep_job = next(j for j in jobs.PERIODIC_JOBS if j.name == "deadline-sweep")
    assert sweep_job.interval == timedelta(minutes=15)
    assert all(callable(jobs.resolve(job.function)) for job in jobs.PERIODIC_JOBS)


RAN: list[str] = []


def record_run():
    RAN.append("ran")


def fail():
    raise RuntimeError("boom")


def test_the_embedded_runner_runs_each_job_on_its_interval(app):
    now = [100.0]
    every_minute = jobs.PeriodicJob("tick", f"{__name__}.record_run", timedelta(minutes=1))
    failing = jobs.PeriodicJob("fail", f"{__name__}.fail", timedelta(minutes=1))
    runner = jobs.EmbeddedRunner(app, (failing, every_minute), clock=lambda: now[0])
    RAN.clear()
    assert runner.run_due() == []  # a short delay after start
    now[0] += runner.FIRST_DELAY
    assert runner.run_due() == ["fail", "tick"]  # the failure is logged; the next job runs
    now[0] += 30
    assert runner.run_due() == []
    now[0] += 30
    assert runner.run_due() == ["fail", "tick"]
    assert RAN == ["ran", "ran"]


def test_one_process_of_a_host_runs_the_periodic_jobs(app):
    first, second = jobs.EmbeddedRunner(app), jobs.EmbeddedRunner(app)
    assert first._hold_lock() and first._hold_lock()
    assert not second._hold_lock()
    first._lock_file.close()  # that process ended
    assert second._hold_lock()
    second._lock_file.close()


def test_no_job_thread_in_tests_nor_in_commands_nor_in_the_reloaders_parent(app, monkeypatch):
    assert not jobs.embedded_jobs_wanted(app)
    assert app.extensions.get("periodic_jobs") is None

    monkeypatch.delenv("FLASK_RUN_FROM_CLI", raising=False)
    assert jobs.serves_requests()  # gunicorn imports the app

    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)
    with click.Context(click.Command("upgrade"), info_name="upgrade"):
        assert not jobs.serves_requests()
    with click.Context(click.Command("run"), info_name="run") as context:
        context.params["reload"] = False
        assert jobs.serves_requests()
        context.params["reload"] = True
        assert not jobs.serves_requests()  # the parent that only watches files
        monkeypatch.setenv("WERKZEUG_RUN_MAIN", "true")
        assert jobs.serves_requests()  # the child that serves
