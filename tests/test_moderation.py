"""The Front's back office through HTTP: the queue, every triage, review and transfer action with
its refusals (wrong role, wrong state, stale version), concurrency, and accent-free search."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from moderation import queue as queue_module
from portal import lifecycle
from portal.lifecycle import Actor
from portal.models import Case, CaseEvent
from portal.vocab import CaseStatus, Outcome, RejectReason
from tests.factories import COMMUNE_AGENCY, PASSWORD
from tests.helpers import AuthActions, csrf_of

S = CaseStatus


@pytest.fixture
def front(factory, session, auth):
    """A city Front moderator, signed in."""
    user = factory.moderator()
    session.commit()
    auth.login(user.email, PASSWORD)
    return user


def case_page(client, case) -> str:
    response = client.get(f"/moderation/cases/{case.id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def act(client, case, action: str, data: dict | None = None, version: int | None = None):
    """Submit an action's form from the case page, as the browser would."""
    html = client.get(f"/moderation/cases/{case.id}").get_data(as_text=True)
    token = csrf_of(html)
    fields = {"csrf_token": token, "version": str(case.version if version is None else version),
              **(data or {})}
    return client.post(f"/moderation/cases/{case.id}/act/{action}", data=fields)


def reload(session, case) -> Case:
    session.expire_all()
    return session.get(Case, case.id)


def events(session, case) -> list[str]:
    return session.scalars(select(CaseEvent.action).where(CaseEvent.case_id == case.id)
                           .order_by(CaseEvent.seq)).all()


# -- the queue ---------------------------------------------------------------------------------------

def test_agency_staff_may_not_open_the_queue(factory, session, auth, client):
    officer = factory.officer()
    session.commit()
    auth.login(officer.email, PASSWORD)
    assert client.get("/moderation/").status_code == 403


def test_a_commune_committee_sees_its_own_cases_only(factory, session, auth, client):
    mine = factory.case_in(S.SUBMITTED, agency=COMMUNE_AGENCY)
    city = factory.case_in(S.SUBMITTED)
    commune_moderator = factory.moderator("MTTQ-00070")
    session.commit()
    auth.login(commune_moderator.email, PASSWORD)
    html = client.get("/moderation/").get_data(as_text=True)
    assert mine.reference in html and city.reference not in html
    assert client.get(f"/moderation/cases/{city.id}").status_code == 404
    assert client.get(f"/moderation/cases/{mine.id}").status_code == 200


def test_the_city_committee_sees_every_queue(factory, session, front, client):
    commune_case = factory.case_in(S.SUBMITTED, agency=COMMUNE_AGENCY)
    session.commit()
    assert commune_case.reference in client.get("/moderation/").get_data(as_text=True)


def test_search_ignores_vietnamese_accents(factory, session, front, client):
    slow = factory.case_in(S.SUBMITTED, description="Hồ sơ bị chậm trễ hai tháng ở bộ phận một cửa.")
    other = factory.case_in(S.SUBMITTED, description="Cán bộ có thái độ không đúng mực với dân.")
    session.commit()
    for query in ("cham tre", "CHẬM TRỄ", "chậm tre", "Cham   Tre"):
        html = client.get("/moderation/", query_string={"q": query, "status": ""}).get_data(
            as_text=True)
        assert slow.reference in html and other.reference not in html, query
    html = client.get("/moderation/", query_string={"q": "thai do dung muc"}).get_data(as_text=True)
    assert other.reference in html and slow.reference not in html
    # A case number finds its case; LIKE's wildcards are only text.
    assert slow.reference in client.get("/moderation/", query_string={"q": slow.reference}).get_data(
        as_text=True)
    wildcard = client.get("/moderation/", query_string={"q": "%_%"}).get_data(as_text=True)
    assert slow.reference not in wildcard and other.reference not in wildcard


def test_filters_narrow_the_queue(factory, session, front, client):
    land = factory.case_in(S.SUBMITTED, sector="land", conduct="shirking")
    health = factory.case_in(S.FORWARDED, sector="health")
    secret = factory.case_in(S.SUBMITTED, confidential=True)
    session.commit()

    def shown(**query) -> set[str]:
        html = client.get("/moderation/", query_string=query).get_data(as_text=True)
        return {c.reference for c in (land, health, secret) if c.reference in html}

    assert shown(sector="land") == {land.reference}
    assert shown(conduct="shirking") == {land.reference}
    assert shown(status="forwarded") == {health.reference}
    assert shown(confidential="yes") == {secret.reference}
    assert shown(agency=str(factory.agency("SO-XD").id)) == {land.reference, health.reference,
                                                              secret.reference}
    assert shown(claimed="nobody") == {land.reference, health.reference, secret.reference}


def test_overdue_and_due_within(factory, session, front, client):
    from datetime import timedelta

    from portal.deadlines import today

    late = factory.case_in(S.SUBMITTED)
    late.due_on = today() - timedelta(days=3)
    soon = factory.case_in(S.SUBMITTED)
    far = factory.case_in(S.FORWARDED)
    far.due_on = today() + timedelta(days=60)
    session.commit()
    html = client.get("/moderation/", query_string={"overdue": "y"}).get_data(as_text=True)
    assert late.reference in html and soon.reference not in html and far.reference not in html
    html = client.get("/moderation/", query_string={"due_within": "5"}).get_data(as_text=True)
    assert late.reference in html and soon.reference in html and far.reference not in html


def test_pages_continue_by_key_without_gaps_or_repeats(factory, session, front, client):
    cases = [factory.report()[0] for _ in range(120)]
    session.commit()
    for sort in ("deadline", "newest", "oldest"):
        seen, after = [], None
        while True:
            query = {"sort": sort, **({"after": after} if after else {})}
            html = client.get("/moderation/", query_string=query).get_data(as_text=True)
            seen += re.findall(r'/moderation/cases/(\d+)">PA', html)
            match = re.search(r'after=([^"&]+)', html)
            if not match:
                break
            after = match.group(1).replace("%7E", "~")
        assert sorted(map(int, seen)) == sorted(c.id for c in cases), sort
        assert len(seen) == len(set(seen)) == 120


def test_counts_per_status(factory, session, front, client):
    for _ in range(3):
        factory.case_in(S.SUBMITTED)
    factory.case_in(S.NEEDS_INFO)
    session.commit()
    html = client.get("/moderation/").get_data(as_text=True)
    assert re.search(r"status=submitted[^>]*>[^<]*: <strong>3</strong>", html)
    assert re.search(r"status=needs_info[^>]*>[^<]*: <strong>1</strong>", html)


def test_counts_kept_from_an_earlier_page_say_when_they_were_made(factory, session, front,
                                                                  client, monkeypatch):
    for _ in range(3):
        factory.case_in(S.SUBMITTED)
    session.commit()
    monkeypatch.setattr(queue_module.OpenCounts, "SLOW", 0.0)
    assert "Số phản ánh đang mở được đếm lúc" not in client.get("/moderation/").get_data(
        as_text=True)
    html = client.get("/moderation/").get_data(as_text=True)
    assert re.search(r"Số phản ánh đang mở được đếm lúc \d\d:\d\d:\d\d", html)


def test_a_search_matching_more_open_cases_than_it_counts_says_so(factory, session, front, client,
                                                                  monkeypatch):
    for _ in range(3):
        factory.case_in(S.SUBMITTED, description="Cán bộ hẹn lại nhiều lần, chậm trễ.")
    session.commit()
    monkeypatch.setattr(queue_module, "SEARCH_COUNT_LIMIT", 2)
    html = client.get("/moderation/", query_string={"q": "cham tre"}).get_data(as_text=True)
    assert "Nhiều hơn 2 phản ánh đang mở khớp" in html
    assert "status=submitted" not in html  # no count shown for the open ones
    assert html.count('/moderation/cases/') == 3  # the page itself lists every one

    monkeypatch.setattr(queue_module, "SEARCH_COUNT_LIMIT", 3)
    html = client.get("/moderation/", query_string={"q": "cham tre"}).get_data(as_text=True)
    assert "Nhiều hơn" not in html
    assert re.search(r"status=submitted[^>]*>[^<]*: <strong>3</strong>", html)


# -- triage through HTTP ---------------------------------------------------------------------------

def test_ask_info_then_the_reporter_answers(factory, session, front, client):
    case = factory.case_in(S.SUBMITTED)
    session.commit()
    response = act(client, case, "ask_info", {"question": "Số biên nhận của anh/chị là gì?"})
    assert response.status_code == 303
    assert reload(session, case).status == S.NEEDS_INFO
    assert reload(session, case).paused_on is not None


def test_reject_with_a_reason_from_the_list(factory, session, front, client):
    case = factory.case_in(S.SUBMITTED)
    session.commit()
    bad = act(client, case, "reject", {"reason": "because", "note": "x"})
    assert bad.status_code == 400 and 'id="reason-error"' in bad.get_data(as_text=True)
    ok = act(client, case, "reject", {"reason": RejectReason.ALREADY_IN_COURT,
                                      "note": "Vụ việc đang được Tòa án thụ lý."})
    assert ok.status_code == 303
    stored = reload(session, case)
    assert (stored.status, stored.reject_reason) == (S.REJECTED, RejectReason.ALREADY_IN_COURT)


def test_merge_into_a_suggested_duplicate(factory, session, front, client):
    text = "Phường không giải quyết hồ sơ cấp giấy chứng nhận quyền sử dụng đất đã ba tháng."
    main = factory.case_in(S.SUBMITTED, description=text)
    copy = factory.case_in(S.SUBMITTED, description=text + " Rất mong được giúp đỡ.")
    session.commit()
    html = case_page(client, copy)
    assert "Possible duplicates" in html or "trùng" in html.lower()
    assert main.reference in html
    response = act(client, copy, "merge", {"into": main.reference})
    assert response.status_code == 303
    assert reload(session, copy).merged_into_id == main.id
    assert "absorb" in events(session, main)


def test_forward_with_a_recommendation(factory, session, front, client):
    case = factory.case_in(S.SUBMITTED)
    session.commit()
    response = act(client, case, "forward", {"agency_id": str(factory.agency("SO-XD").id),
                                             "recommendation": "Đề nghị Sở trả lời trong hạn."})
    assert response.status_code == 303
    stored = reload(session, case)
    assert stored.status == S.FORWARDED and stored.assigned_agency.code == "SO-XD"
    assert stored.due_stage == "acknowledge"


def test_a_moderator_may_not_set_the_deadline_but_a_supervisor_may(factory, session, auth, client):
    from portal.deadlines import WorkingCalendar, today

    case = factory.case_in(S.SUBMITTED)
    supervisor = factory.user("supervisor", "MTTQ-HN")
    moderator = factory.moderator()
    session.commit()
    due = WorkingCalendar().add_working_days(today(), 5)
    data = {"agency_id": str(factory.agency("SO-XD").id), "recommendation": "Xem xét.",
            "due_on": due.isoformat()}
    auth.login(moderator.email, PASSWORD)
    assert act(client, case, "forward", data).status_code == 409
    assert reload(session, case).status == S.SUBMITTED
    auth.logout()
    auth.login(supervisor.email, PASSWORD)
    assert act(client, case, "forward", data).status_code == 303
    assert reload(session, case).due_on == due


def test_redact_then_the_agency_reads_the_redacted_text(factory, session, front, client):
    case = factory.case_in(S.SUBMITTED, confidential=True,
                           description="Tôi là Nguyễn Văn An, số nhà 12, bị cán bộ gây khó dễ.")
    session.commit()
    refused = act(client, case, "forward", {"agency_id": str(factory.agency("SO-XD").id),
                                            "recommendation": "Xem xét."})
    assert refused.status_code == 409  # a confidential report is reviewed for personal data first
    assert act(client, case, "redact", {
        "redacted_text": "Người phản ánh bị cán bộ gây khó dễ."}).status_code == 303
    stored = reload(session, case)
    assert stored.public_description == "Người phản ánh bị cán bộ gây khó dễ."
    assert "redact" in events(session, case)
    assert act(client, stored, "forward", {"agency_id": str(factory.agency("SO-XD").id),
                                           "recommendation": "Xem xét."}).status_code == 303


def test_viewing_a_confidential_identity_is_recorded(factory, session, front, client):
    case = factory.case_in(S.SUBMITTED, confidential=True, reporter_name="Lê Thị Hoa")
    session.commit()
    assert "Lê Thị Hoa" not in case_page(client, case)
    html = client.post(f"/moderation/cases/{case.id}/identity",
                       data={"csrf_token": csrf_of(case_page(client, case))}).get_data(as_text=True)
    assert "Lê Thị Hoa" in html
    assert events(session, case)[-1] == "view_identity"


def test_refer_up_from_a_commune_committee(factory, session, auth, client):
    case = factory.case_in(S.SUBMITTED, agency=COMMUNE_AGENCY)
    commune_moderator = factory.moderator("MTTQ-00070")
    session.commit()
    auth.login(commune_moderator.email, PASSWORD)
    response = act(client, case, "refer_up", {"reason": "Liên quan đến Sở Xây dựng."})
    assert response.status_code == 303
    assert reload(session, case).front_committee.code == "MTTQ-HN"
    # It has left this committee's queue.
    assert client.get(f"/moderation/cases/{case.id}").status_code == 404


def test_claiming_shows_who_handles_a_case(factory, session, front, client):
    case = factory.case_in(S.SUBMITTED)
    session.commit()
    assert act(client, case, "claim").status_code == 303
    assert reload(session, case).claimed_by_id == front.id
    html = client.get("/moderation/", query_string={"claimed": "me"}).get_data(as_text=True)
    assert case.reference in html
    assert act(client, reload(session, case), "release").status_code == 303
    assert reload(session, case).claimed_by_id is None


def test_an_internal_note_never_reaches_the_reporter(factory, session, front, client, app):
    case, code = factory.report()
    session.commit()
    assert act(client, case, "note", {"text": "Ghi chú nội bộ XYZ-123"}).status_code == 303
    reporter = app.test_client()
    html = reporter.get("/track").get_data(as_text=True)
    page = reporter.post("/track", data={"csrf_token": csrf_of(html), "code": code},
                         follow_redirects=True).get_data(as_text=True)
    assert "XYZ-123" not in page
    assert "XYZ-123" in case_page(client, case)


# -- review and transfers --------------------------------------------------------------------------

def test_accept_an_answer_and_the_reporter_is_invited_to_rate(factory, session, front, client):
    case = factory.case_in(S.ANSWERED)
    session.commit()
    assert act(client, case, "accept_answer", {"assessment": "Đã trả lời đầy đủ."}).status_code == 303
    stored = reload(session, case)
    assert stored.status == S.RESOLVED and stored.due_stage == "rating"


def test_return_an_answer_with_reasons(factory, session, front, client):
    case = factory.case_in(S.ANSWERED)
    session.commit()
    assert act(client, case, "return_answer", {"reason": ""}).status_code == 400
    assert act(client, case, "return_answer",
               {"reason": "Chưa trả lời kiến nghị của MTTQ."}).status_code == 303
    assert reload(session, case).status == S.IN_PROGRESS


def test_uphold_an_answer_after_a_dispute(factory, session, front, client):
    case = factory.case_in(S.DISPUTED)
    session.commit()
    assert act(client, case, "uphold_answer", {"assessment": "Trả lời đúng quy định."}).status_code == 303
    assert reload(session, case).status == S.CLOSED


def test_transfers_approved_refused_and_ping_pong(factory, session, front, client):
    case = factory.case_in(S.TRANSFER_REQUESTED)  # SO-XD asks to hand it to SO-NNMT
    session.commit()
    assert act(client, case, "refuse_transfer", {"note": ""}).status_code == 409
    assert act(client, case, "refuse_transfer",
               {"note": "Thuộc thẩm quyền của Sở Xây dựng."}).status_code == 303
    assert reload(session, case).status == S.IN_PROGRESS

    stored = reload(session, case)
    lifecycle.request_transfer(session, stored, Actor.staff(factory.officer()),
                               to_agency_id=factory.agency("SO-NNMT").id, reason="Không thuộc.")
    session.commit()
    assert act(client, reload(session, case), "approve_transfer", {"note": "Đồng ý."}).status_code == 303
    stored = reload(session, case)
    assert stored.assigned_agency.code == "SO-NNMT" and not stored.ping_pong

    other = Actor.staff(factory.officer("SO-NNMT"))
    lifecycle.acknowledge(session, stored, other)
    lifecycle.request_transfer(session, stored, other, to_agency_id=factory.agency("SO-XD").id,
                               reason="Thuộc Sở Xây dựng.")
    session.commit()
    assert act(client, reload(session, case), "approve_transfer").status_code == 303
    stored = reload(session, case)
    assert stored.ping_pong and stored.assigned_agency.code == "SO-XD"
    assert "ping-pong" in case_page(client, stored)


# -- refusals ----------------------------------------------------------------------------------------

ACTIONS = [
    ("ask_info", S.SUBMITTED, {"question": "Anh/chị nộp hồ sơ ở đâu?"}),
    ("reject", S.SUBMITTED, {"reason": RejectReason.INSUFFICIENT, "note": "Thiếu thông tin."}),
    ("forward", S.SUBMITTED, {"recommendation": "Xem xét."}),
    ("redact", S.SUBMITTED, {"redacted_text": "Văn bản đã ẩn."}),
    ("note", S.SUBMITTED, {"text": "Ghi chú."}),
    ("accept_answer", S.ANSWERED, {"assessment": "Đầy đủ."}),
    ("return_answer", S.ANSWERED, {"reason": "Chưa đủ."}),
    ("uphold_answer", S.DISPUTED, {"assessment": "Đúng."}),
    ("approve_transfer", S.TRANSFER_REQUESTED, {"note": "Đồng ý."}),
    ("refuse_transfer", S.TRANSFER_REQUESTED, {"note": "Không đồng ý."}),
]


def _data(factory, action, data):
    return {"agency_id": str(factory.agency("SO-XD").id), **data} if action == "forward" else data


@pytest.mark.parametrize(("action", "state", "data"), ACTIONS, ids=[a[0] for a in ACTIONS])
def test_agency_staff_are_refused_every_front_action(action, state, data, factory, session, auth,
                                                    client):
    case = factory.case_in(state)
    officer = factory.officer()
    session.commit()
    before = (case.status, case.version)
    auth.login(officer.email, PASSWORD)
    html = client.get("/report").get_data(as_text=True)
    response = client.post(f"/moderation/cases/{case.id}/act/{action}",
                           data={"csrf_token": csrf_of(html), "version": str(case.version),
                                 **_data(factory, action, data)})
    assert response.status_code == 403
    stored = reload(session, case)
    assert (stored.status, stored.version) == before


WRONG_STATE = {"ask_info": S.FORWARDED, "reject": S.IN_PROGRESS, "forward": S.ANSWERED,
               "redact": S.CLOSED, "accept_answer": S.SUBMITTED, "return_answer": S.SUBMITTED,
               "uphold_answer": S.ANSWERED, "approve_transfer": S.IN_PROGRESS,
               "refuse_transfer": S.FORWARDED}


@pytest.mark.parametrize(("action", "state", "data"),
                         [a for a in ACTIONS if a[0] in WRONG_STATE],
                         ids=[a[0] for a in ACTIONS if a[0] in WRONG_STATE])
def test_an_action_in_the_wrong_state_is_refused_and_changes_nothing(action, state, data, factory,
                                                                    session, front, client):
    case = factory.case_in(WRONG_STATE[action])
    session.commit()
    before = (case.status, case.version, case.event_count)
    response = act(client, case, action, _data(factory, action, data))
    assert response.status_code == 409
    stored = reload(session, case)
    assert (stored.status, stored.version, stored.event_count) == before


@pytest.mark.parametrize(("action", "state", "data"), ACTIONS, ids=[a[0] for a in ACTIONS])
def test_a_stale_version_is_refused_and_changes_nothing(action, state, data, factory, session,
                                                       front, client):
    case = factory.case_in(state)
    session.commit()
    before = (case.status, case.version, case.event_count)
    response = act(client, case, action, _data(factory, action, data), version=case.version - 1)
    assert response.status_code == 409
    assert "Someone else changed this case" in response.get_data(as_text=True) or \
        "Người khác" in response.get_data(as_text=True) or "người khác" in response.get_data(
            as_text=True)
    stored = reload(session, case)
    assert (stored.status, stored.version, stored.event_count) == before


def test_two_staff_acting_at_once_one_wins_and_nothing_is_overwritten(app, factory, session):
    case = factory.case_in(S.SUBMITTED)
    first, second = factory.moderator(), factory.user("supervisor", "MTTQ-HN")
    session.commit()
    a, b = AuthActions(app.test_client()), AuthActions(app.test_client())
    a.login(first.email, PASSWORD)
    b.login(second.email, PASSWORD)
    # Both open the case page and see the same version.
    page_a = a.client.get(f"/moderation/cases/{case.id}").get_data(as_text=True)
    page_b = b.client.get(f"/moderation/cases/{case.id}").get_data(as_text=True)
    version = str(case.version)
    forwarded = a.client.post(f"/moderation/cases/{case.id}/act/forward", data={
        "csrf_token": csrf_of(page_a), "version": version,
        "agency_id": str(factory.agency("SO-XD").id), "recommendation": "Đề nghị xem xét."})
    rejected = b.client.post(f"/moderation/cases/{case.id}/act/reject", data={
        "csrf_token": csrf_of(page_b), "version": version,
        "reason": RejectReason.INSUFFICIENT, "note": "Thiếu thông tin."})
    assert forwarded.status_code == 303
    assert rejected.status_code == 409
    stored = reload(session, case)
    assert stored.status == S.FORWARDED and stored.reject_reason is None
    assert session.scalar(select(func.count()).select_from(CaseEvent).where(
        CaseEvent.case_id == case.id, CaseEvent.action == "reject")) == 0


def test_an_unknown_action_is_not_found(factory, session, front, client):
    case = factory.case_in(S.SUBMITTED)
    session.commit()
    html = case_page(client, case)
    response = client.post(f"/moderation/cases/{case.id}/act/delete_everything",
                           data={"csrf_token": csrf_of(html)})
    assert response.status_code == 404


def test_answers_appear_on_the_staff_page(factory, session, front, client):
    case = factory.case_in(S.IN_PROGRESS)
    lifecycle.answer(session, case, Actor.staff(factory.officer()), findings="Đã xác minh tại chỗ.",
                     outcome=Outcome.PARTLY, reply_to_recommendation="Tiếp thu kiến nghị.")
    session.commit()
    html = case_page(client, case)
    assert "Đã xác minh tại chỗ." in html and "Tiếp thu kiến nghị." in html


def test_a_supervisors_deadline_stays_within_twice_the_rule(factory, session, auth, client):
    from portal.deadlines import WorkingCalendar, today

    case = factory.case_in(S.SUBMITTED)
    supervisor = factory.user("supervisor", "MTTQ-HN")
    session.commit()
    auth.login(supervisor.email, PASSWORD)
    too_far = WorkingCalendar().add_working_days(today(), 7)  # the rule is 3 working days
    response = act(client, case, "forward", {"agency_id": str(factory.agency("SO-XD").id),
                                             "recommendation": "Xem xét.",
                                             "due_on": too_far.isoformat()})
    assert response.status_code == 409
    assert reload(session, case).status == S.SUBMITTED
    latest = WorkingCalendar().add_working_days(today(), 6)
    assert act(client, case, "forward", {"agency_id": str(factory.agency("SO-XD").id),
                                         "recommendation": "Xem xét.",
                                         "due_on": latest.isoformat()}).status_code == 303


def test_the_main_case_shows_how_many_people_reported_it(factory, session, front, client):
    text = "Phường không giải quyết hồ sơ cấp giấy chứng nhận quyền sử dụng đất đã ba tháng."
    main = factory.case_in(S.SUBMITTED, description=text)
    for _ in range(2):
        copy = factory.case_in(S.SUBMITTED, description=text)
        lifecycle.merge(session, copy, Actor.staff(front), into_case_id=main.id)
    session.commit()
    html = case_page(client, main)
    assert "Reported by 3 people" in html or "3 người" in html


@pytest.mark.parametrize("query", [
    {"claimed": "²"}, {"claimed": str(2**70)}, {"q": "PA26-²"}, {"q": f"PA26-{2**70}"},
    {"after": f"2026-01-01~{2**70}"}, {"after": "not-a-date~12"}, {"sort": "newest",
                                                                   "after": str(2**70)},
    {"status": "\x00"}, {"conduct": "\x00"}, {"sector": "\x00"}, {"sort": "\x00"},
    {"q": "\x00"}, {"agency": str(2**70)}, {"commune": "-5"}, {"due_within": "999999"},
    {"status": "no_such_status"},
])
def test_hostile_queue_parameters_never_break_the_queue(query, factory, session, front, client):
    factory.case_in(S.SUBMITTED)
    session.commit()
    assert client.get("/moderation/", query_string=query).status_code in (200, 400)


def test_a_page_without_its_version_changes_nothing(factory, session, front, client):
    case = factory.case_in(S.SUBMITTED)
    session.commit()
    html = case_page(client, case)
    response = client.post(f"/moderation/cases/{case.id}/act/reject", data={
        "csrf_token": csrf_of(html), "reason": RejectReason.INSUFFICIENT, "note": "x"})
    assert response.status_code == 400
    assert reload(session, case).status == S.SUBMITTED


def test_a_form_sent_back_with_a_mistake_keeps_the_version_it_was_built_on(factory, session,
                                                                         front, client):
    case = factory.case_in(S.SUBMITTED)
    session.commit()
    old = case.version
    bad = act(client, case, "reject", {"reason": "because"}, version=old)
    assert bad.status_code == 400
    assert f'name="version" type="hidden" value="{old}"' in bad.get_data(as_text=True)


def test_a_commune_committee_refers_up_a_transfer_it_may_not_approve(factory, session, auth,
                                                                    client):
    case = factory.case_in(S.TRANSFER_REQUESTED, agency=COMMUNE_AGENCY)
    moderator = factory.moderator("MTTQ-00070")
    session.commit()
    auth.login(moderator.email, PASSWORD)
    assert act(client, case, "approve_transfer").status_code == 409  # a city department
    assert act(client, reload(session, case), "refer_up",
               {"reason": "Đề nghị chuyển đến Sở: thuộc thẩm quyền MTTQ thành phố."}
               ).status_code == 303
    assert reload(session, case).front_committee.code == "MTTQ-HN"


def test_staff_open_evidence_only_of_cases_in_their_queue(app, factory, session, auth, client):
    from portal import uploads
    from portal.models import Attachment

    city_case = factory.case_in(S.SUBMITTED)
    commune_case = factory.case_in(S.SUBMITTED, agency=COMMUNE_AGENCY)
    upload_dir = app.config["PORTAL_SETTINGS"].upload_dir
    checked = uploads.CheckedFile("bien-nhan.pdf", "application/pdf", b"%PDF-1.4\n%%EOF\n", 15,
                                  "0" * 64)
    attachment = Attachment(case_id=city_case.id, stored_name=uploads.store(upload_dir, checked),
                            original_name="bien-nhan.pdf", content_type="application/pdf",
                            size=15, sha256="0" * 64, uploaded_by="reporter", status="clean")
    session.add(attachment)
    commune_moderator = factory.moderator("MTTQ-00070")
    city_moderator = factory.moderator()
    session.commit()

    auth.login(city_moderator.email, PASSWORD)
    url = f"/moderation/cases/{city_case.id}/files/{attachment.id}"
    served = client.get(url)
    assert served.status_code == 200 and served.headers["Content-Disposition"].startswith(
        "attachment")
    # The same file through another case's address is not found.
    assert client.get(f"/moderation/cases/{commune_case.id}/files/{attachment.id}").status_code == 404
    auth.logout()
    auth.login(commune_moderator.email, PASSWORD)
    assert client.get(url).status_code == 404
