"""The agency workspace through HTTP: the inbox, each action, and a 404 for anything not theirs."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from portal import uploads
from portal.models import Attachment, Case, User
from portal.vocab import CaseStatus, Outcome
from tests.factories import PASSWORD
from tests.helpers import AuthActions, csrf_of

S = CaseStatus
AGENCY_A, AGENCY_B = "SO-XD", "SO-YT"


@pytest.fixture
def officer(factory, session, auth):
    """An officer of SO-XD, signed in."""
    user = factory.officer(AGENCY_A)
    user.name = "Phạm Văn Bình"
    session.commit()
    auth.login(user.email, PASSWORD)
    return user


def act(client, case, action: str, data: dict | None = None, version: int | None = None, **kw):
    html = client.get(f"/agency/cases/{case.id}").get_data(as_text=True)
    fields = {"csrf_token": csrf_of(html),
              "version": str(case.version if version is None else version), **(data or {})}
    return client.post(f"/agency/cases/{case.id}/act/{action}", data=fields, **kw)


def reload(session, case) -> Case:
    session.expire_all()
    return session.get(Case, case.id)


def test_the_inbox_lists_our_cases_by_deadline(factory, session, officer, client):
    from datetime import timedelta

    from portal.deadlines import today

    later = factory.case_in(S.IN_PROGRESS)
    sooner = factory.case_in(S.FORWARDED)
    sooner.due_on = today() - timedelta(days=1)
    theirs = factory.case_in(S.FORWARDED, agency=AGENCY_B)
    waiting = factory.case_in(S.SUBMITTED)  # not forwarded yet: not the agency's business
    session.commit()
    html = client.get("/agency/").get_data(as_text=True)
    assert html.index(sooner.reference) < html.index(later.reference)
    assert theirs.reference not in html and waiting.reference not in html
    assert "overdue" in html or "quá hạn" in html


def test_acknowledge_then_the_head_names_the_officer(factory, session, auth, client, app):
    case = factory.case_in(S.FORWARDED)
    head = factory.user("agency_head", AGENCY_A)
    named = factory.officer(AGENCY_A)
    named.name = "Trần Thị Thu"
    session.commit()
    auth.login(head.email, PASSWORD)
    assert act(client, case, "acknowledge").status_code == 303
    assert reload(session, case).status == S.IN_PROGRESS
    response = act(client, reload(session, case), "assign_officer",
                   {"officer_id": str(named.id)})
    assert response.status_code == 303
    assert reload(session, case).assigned_officer_id == named.id


def test_an_officer_may_not_name_the_officer(factory, session, officer, client):
    case = factory.case_in(S.IN_PROGRESS)
    session.commit()
    response = act(client, case, "assign_officer", {"officer_id": str(officer.id)})
    assert response.status_code == 409
    assert reload(session, case).assigned_officer_id is None


def test_an_officer_of_another_agency_cannot_be_named(factory, session, auth, client):
    case = factory.case_in(S.IN_PROGRESS)
    head = factory.user("agency_head", AGENCY_A)
    stranger = factory.officer(AGENCY_B)
    session.commit()
    auth.login(head.email, PASSWORD)
    assert act(client, case, "assign_officer", {"officer_id": str(stranger.id)}).status_code == 409
    assert reload(session, case).assigned_officer_id is None


def test_more_time_within_the_cap_and_shown_publicly(factory, session, officer, client):
    case = factory.case_in(S.IN_PROGRESS)
    session.commit()
    due = case.due_on
    too_many = act(client, case, "request_extension",
                   {"working_days": "40", "reason": "Cần xác minh."})
    assert too_many.status_code == 400
    assert act(client, case, "request_extension",
               {"working_days": "10", "reason": "Cần xác minh."}).status_code == 409  # cap 7
    ok = act(client, case, "request_extension",
             {"working_days": "5", "reason": "Cần xác minh thực địa tại công trình."})
    assert ok.status_code == 303
    stored = reload(session, case)
    assert stored.due_on > due
    from portal.tracking import case_view

    reasons = [entry.reason for entry in case_view(session, stored).timeline]
    assert "Cần xác minh thực địa tại công trình." in reasons  # what the reporter reads


def test_asking_for_a_transfer_names_the_agency_and_why(factory, session, officer, client):
    case = factory.case_in(S.IN_PROGRESS)
    session.commit()
    assert act(client, case, "request_transfer", {"reason": "x"}).status_code == 400
    response = act(client, case, "request_transfer", {
        "to_agency_id": str(factory.agency("SO-NNMT").id),
        "reason": "Theo Luật Đất đai 2024, việc này thuộc Sở Nông nghiệp và Môi trường."})
    assert response.status_code == 303
    assert reload(session, case).status == S.TRANSFER_REQUESTED
    # The agency still sees it while the Front decides.
    assert client.get(f"/agency/cases/{case.id}").status_code == 200


def _pdf() -> tuple[io.BytesIO, str]:
    return io.BytesIO(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"), "bien-ban.pdf"


def test_an_answer_with_documents_goes_to_the_front(factory, session, officer, client, app):
    case = factory.case_in(S.IN_PROGRESS)
    session.commit()
    missing = act(client, case, "answer", {"findings": ""})
    assert missing.status_code == 400
    response = act(client, case, "answer", {
        "findings": "Đã kiểm tra hồ sơ: chậm 10 ngày do thiếu ý kiến của phường.",
        "actions_taken": "Đã cấp phép ngày 20/11.", "outcome": Outcome.SUBSTANTIATED,
        "reply_to_recommendation": "Tiếp thu, đã chấn chỉnh bộ phận một cửa.",
        "evidence": [_pdf()]}, content_type="multipart/form-data")
    assert response.status_code == 303
    stored = reload(session, case)
    assert stored.status == S.ANSWERED
    document = session.scalars(select(Attachment).where(Attachment.case_id == case.id)).one()
    assert document.uploaded_by == "agency" and document.answer_id is not None
    served = client.get(f"/agency/cases/{case.id}/files/{document.id}")
    assert served.status_code == 200 and served.data.startswith(b"%PDF")


def test_a_bad_document_stores_nothing(factory, session, officer, client, app):
    case = factory.case_in(S.IN_PROGRESS)
    session.commit()
    response = act(client, case, "answer", {
        "findings": "Đã kiểm tra.", "outcome": Outcome.PARTLY,
        "evidence": [(io.BytesIO(b"MZ\x90\x00" * 40), "bao-cao.pdf")]},
        content_type="multipart/form-data")
    assert response.status_code == 400
    assert reload(session, case).status == S.IN_PROGRESS
    assert list(app.config["PORTAL_SETTINGS"].upload_dir.iterdir()) == []


def test_a_stale_page_changes_nothing(factory, session, officer, client):
    case = factory.case_in(S.FORWARDED)
    session.commit()
    response = act(client, case, "acknowledge", version=case.version - 1)
    assert response.status_code == 409
    assert reload(session, case).status == S.FORWARDED


def test_front_staff_and_anonymous_visitors_have_no_workspace(factory, session, auth, client, app):
    assert client.get("/agency/").status_code == 302
    moderator = factory.moderator()
    session.commit()
    auth.login(moderator.email, PASSWORD)
    assert client.get("/agency/").status_code == 403


# -- nothing of another agency -----------------------------------------------------------------


def _agency_case_routes(app) -> list[tuple[str, str]]:
    """Every agency-side route that names a case, from the URL map: a new one is covered too."""
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("agency.") and "case_id" in rule.arguments:
            method = "POST" if "POST" in rule.methods else "GET"
            routes.append((rule.rule, method))
    assert routes, "no agency route names a case"
    return routes


def _url(rule: str, case_id: int, attachment_id: int) -> str:
    return (rule.replace("<id:case_id>", str(case_id))
            .replace("<id:attachment_id>", str(attachment_id))
            .replace("<action>", "acknowledge"))


@pytest.mark.parametrize("intruder", ["officer of another agency", "head of another agency",
                                      "the agency before a transfer"])
def test_another_agencys_case_answers_404_everywhere(intruder, app, factory, session):
    case = factory.case_in(S.FORWARDED, agency=AGENCY_A)
    upload_dir = app.config["PORTAL_SETTINGS"].upload_dir
    checked = uploads.CheckedFile("a.pdf", "application/pdf", b"%PDF-1.4\n%%EOF\n", 15, "0" * 64)
    document = Attachment(case_id=case.id, stored_name=uploads.store(upload_dir, checked),
                          original_name="a.pdf", content_type="application/pdf", size=15,
                          sha256="0" * 64, uploaded_by="agency", status="clean")
    session.add(document)
    if intruder == "officer of another agency":
        user = factory.officer(AGENCY_B)
    elif intruder == "head of another agency":
        user = factory.user("agency_head", AGENCY_B)
    else:
        # SO-XD held it, then the Front moved it to SO-YT: SO-XD sees it no more.
        from portal import lifecycle
        from portal.lifecycle import Actor

        user = factory.officer(AGENCY_A)
        lifecycle.request_transfer(session, case, Actor.staff(user),
                                   to_agency_id=factory.agency(AGENCY_B).id, reason="Không thuộc.")
        lifecycle.approve_transfer(session, case, Actor.staff(factory.moderator()))
    session.commit()
    nobody = session.scalar(select(Case.id).order_by(Case.id.desc())) + 1000
    client = app.test_client()
    AuthActions(client).login(user.email, PASSWORD)
    token = csrf_of(client.get("/agency/").get_data(as_text=True))
    for rule, method in _agency_case_routes(app):
        for case_id in (case.id, nobody):
            url = _url(rule, case_id, document.id)
            if method == "GET":
                response = client.get(url)
            else:
                response = client.post(url, data={"csrf_token": token,
                                                  "version": str(case.version)})
            assert response.status_code == 404, (url, method, response.status_code)
    # The same answer for a case that exists and one that does not: nothing to learn.
    session.expire_all()
    assert session.get(Case, case.id).event_count == case.event_count


def test_the_export_has_our_cases_and_no_reporter(factory, session, officer, client):
    ours = factory.case_in(S.IN_PROGRESS, reporter_name="Sentinel Nguyễn Bí Mật",
                           reporter_email="sentinel.secret@example.org",
                           reporter_phone="0900 111 222", confidential=True)
    theirs = factory.case_in(S.IN_PROGRESS, agency=AGENCY_B)
    session.commit()
    response = client.get("/agency/export.csv")
    assert response.status_code == 200
    text = response.data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][0] == "reference"
    assert [r[0] for r in rows[1:]] == [ours.reference]
    assert theirs.reference not in text
    for secret in ("Sentinel", "sentinel.secret", "0900 111 222"):
        assert secret not in text


def test_users_of_the_agency_are_not_leaked_across(factory, session, officer, client):
    other = session.scalars(select(User).where(User.agency_id != officer.agency_id)).all()
    assert all(u.email not in client.get("/agency/").get_data(as_text=True) for u in other)


def test_after_a_transfer_the_new_agency_sees_none_of_the_old_ones_documents(app, factory,
                                                                              session):
    from portal import lifecycle
    from portal.lifecycle import Actor

    case = factory.case_in(S.IN_PROGRESS, agency=AGENCY_A)
    first = factory.officer(AGENCY_A)
    answer = lifecycle.answer(session, case, Actor.staff(first), findings="Bản nháp nội bộ.",
                              outcome=Outcome.PARTLY)
    upload_dir = app.config["PORTAL_SETTINGS"].upload_dir
    checked = uploads.CheckedFile("memo.pdf", "application/pdf", b"%PDF-1.4\n%%EOF\n", 15, "0" * 64)
    memo = Attachment(case_id=case.id, answer_id=answer.id, stored_name=uploads.store(
        upload_dir, checked), original_name="memo.pdf", content_type="application/pdf", size=15,
        sha256="0" * 64, uploaded_by="agency", status="clean")
    session.add(memo)
    front = Actor.staff(factory.moderator())
    lifecycle.return_answer(session, case, front, reason="Không thuộc thẩm quyền?")
    lifecycle.request_transfer(session, case, Actor.staff(first),
                               to_agency_id=factory.agency(AGENCY_B).id, reason="Thuộc Sở Y tế.")
    lifecycle.approve_transfer(session, case, front)
    newcomer = factory.officer(AGENCY_B)
    session.commit()
    client = app.test_client()
    AuthActions(client).login(newcomer.email, PASSWORD)
    page = client.get(f"/agency/cases/{case.id}").get_data(as_text=True)
    assert "memo.pdf" not in page and "Bản nháp nội bộ." not in page
    assert client.get(f"/agency/cases/{case.id}/files/{memo.id}").status_code == 404


def test_a_cell_that_would_be_a_spreadsheet_formula_is_defused(factory, session, officer, client):
    factory.case_in(S.IN_PROGRESS, description='=HYPERLINK("http://evil.example","bấm vào đây")'
                    " hồ sơ quá hạn")
    session.commit()
    text = client.get("/agency/export.csv").data.decode("utf-8-sig")
    (row,) = list(csv.reader(io.StringIO(text)))[1:]
    assert row[-1].startswith("'=HYPERLINK")


def test_an_overdue_case_cannot_buy_time(factory, session, officer, client):
    from datetime import timedelta

    from portal.deadlines import today

    case = factory.case_in(S.IN_PROGRESS)
    case.due_on = today() - timedelta(days=1)
    session.commit()
    response = act(client, case, "request_extension", {"working_days": "3", "reason": "Xin thêm."})
    assert response.status_code == 409
    assert reload(session, case).due_on == today() - timedelta(days=1)


def test_a_malformed_officer_or_version_is_refused_cleanly(factory, session, auth, client):
    case = factory.case_in(S.IN_PROGRESS)
    head = factory.user("agency_head", AGENCY_A)
    session.commit()
    auth.login(head.email, PASSWORD)
    assert act(client, case, "assign_officer", {"officer_id": "abc"}).status_code == 400
    assert act(client, case, "assign_officer", {"officer_id": str(2**40)}).status_code == 400
    assert act(client, case, "acknowledge", version=10**30).status_code in (404, 409)
    response = act(client, case, "assign_officer", {"officer_id": str(head.id)},
                   version=10**30)
    assert response.status_code == 409
    assert reload(session, case).assigned_officer_id is None
