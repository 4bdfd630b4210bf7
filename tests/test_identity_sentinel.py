"""A confidential reporter's name, phone and email reach no page, email or export of an agency.

The case goes through the whole lifecycle with sentinel values in the reporter's fields
and in the text the Front then redacts; every agency page (every GET route of the agency
workspace, found in the URL map), the CSV export and every email to agency staff is read.
"""

from __future__ import annotations

import email
from datetime import date, timedelta
from email import policy

from sqlalchemy import select

from moderation.sweep import sweep
from portal import deadlines, lifecycle, notifications, outbox
from portal.lifecycle import Actor
from portal.models import Case, OutboxMessage, User
from portal.vocab import AGENCY_ROLES, Outcome
from tests.factories import PASSWORD
from tests.helpers import AuthActions

NAME = "Zzsentinel Hoàng Bí Mật"
PHONE = "0987 654 321"
EMAIL = "zz.sentinel.secret@example.org"
SENTINELS = (NAME, "Zzsentinel", PHONE, "0987654321", EMAIL, "zz.sentinel")


def assert_clean(where: str, text: str) -> None:
    for sentinel in SENTINELS:
        assert sentinel.lower() not in text.lower(), f"{sentinel!r} leaked in {where}"


def test_a_confidential_reporter_reaches_nothing_an_agency_receives(app, factory, session,
                                                                    mail_dir, monkeypatch):
    head = factory.user("agency_head", "SO-XD")
    officer = factory.officer("SO-XD")
    front = Actor.staff(factory.moderator())
    case, _code = factory.report(
        reporter_name=NAME, reporter_phone=PHONE, reporter_email=EMAIL, confidential=True,
        description=f"Tôi là {NAME}, điện thoại {PHONE}. Hồ sơ cấp phép xây dựng quá hạn.",
        address="Số 5 ngõ Bí Mật")
    lifecycle.redact(session, case, front,
                     redacted_text="Người phản ánh cho biết hồ sơ cấp phép xây dựng quá hạn.")
    lifecycle.forward(session, case, front, agency_id=factory.agency("SO-XD").id,
                      recommendation="Đề nghị Sở trả lời người phản ánh.")
    lifecycle.acknowledge(session, case, Actor.staff(head))
    lifecycle.assign_officer(session, case, Actor.staff(head), officer_id=officer.id)
    lifecycle.request_extension(session, case, Actor.staff(officer), working_days=3,
                                reason="Cần thêm thời gian.")
    session.commit()

    # Late: the sweep escalates to the officer, the head and the Front.
    later = case.due_on + timedelta(days=30)
    monkeypatch.setattr(deadlines, "today", lambda: later)
    monkeypatch.setattr(lifecycle, "today", lambda: later)
    with app.app_context():
        sweep(session, today=later)
    case = session.get(Case, case.id)
    lifecycle.answer(session, case, Actor.staff(officer), findings="Đã kiểm tra.",
                     outcome=Outcome.SUBSTANTIATED)
    lifecycle.return_answer(session, case, front, reason="Chưa đủ.")
    lifecycle.answer(session, case, Actor.staff(officer), findings="Đã cấp phép.",
                     outcome=Outcome.SUBSTANTIATED)
    lifecycle.accept_answer(session, case, front, assessment="Đầy đủ.")
    lifecycle.dispute(session, case, Actor.reporter(case.id),
                      reason=f"{NAME} vẫn chưa nhận được giấy phép.")
    session.commit()
    monkeypatch.setattr(deadlines, "today", date.today)
    monkeypatch.setattr(lifecycle, "today", date.today)

    # Every email to the agency's staff.
    agency_addresses = set(session.scalars(select(User.email).where(
        User.agency_id == factory.agency("SO-XD").id, User.role.in_(sorted(AGENCY_ROLES)))))
    with app.app_context():
        outbox.relay()
        messages = session.scalars(select(OutboxMessage)).all()
        rendered = [m for message in messages for m in notifications.render(session, message)]
    to_agency = [m for m in rendered if m["To"] in agency_addresses]
    assert {m["To"] for m in to_agency} == agency_addresses  # they were told, and read
    for message in to_agency:
        assert_clean(f"email {message['Subject']}", message.as_string())
        for part in message.walk():
            if part.get_content_maintype() == "text":
                assert_clean(f"email {message['Subject']}", part.get_content())
    for path in mail_dir.glob("*.eml"):
        sent = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        if sent["To"] in agency_addresses:
            assert_clean(f"sent email {sent['Subject']}", sent.get_body(("plain",)).get_content())

    # Every page of the workspace, for the head and the officer.
    case_id = case.id
    attachment_ids = [a.id for a in case.attachments] or [1]
    for user in (head, officer):
        client = app.test_client()
        assert AuthActions(client).login(user.email, PASSWORD).status_code == 303
        for rule in app.url_map.iter_rules():
            if not rule.endpoint.startswith("agency.") or "GET" not in rule.methods:
                continue
            values = {"case_id": case_id, "attachment_id": attachment_ids[0]}
            if not set(rule.arguments) <= set(values):
                continue
            url = rule.rule
            for name, value in values.items():
                url = url.replace(f"<id:{name}>", str(value))
            for query in ("", "?view=done", "?months=36"):
                response = client.get(url + query)
                if response.status_code == 200:
                    assert_clean(f"{url}{query}", response.get_data(as_text=True))
        # The case itself, explicitly: it must be readable and clean.
        page = client.get(f"/agency/cases/{case_id}")
        assert page.status_code == 200
        assert "Người phản ánh cho biết" in page.get_data(as_text=True)
        assert_clean("the case page", page.get_data(as_text=True))
        assert "Số 5 ngõ Bí Mật" not in page.get_data(as_text=True)
