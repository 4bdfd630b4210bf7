"""The outbox page of the back office: what waits, what failed and why, and replaying it."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal import outbox
from portal.db import utcnow
from portal.models import OutboxMessage
from tests.factories import PASSWORD

ORG = {"admin": None, "supervisor": "MTTQ-HN", "moderator": "MTTQ-HN",
       "agency_officer": "SO-XD", "agency_head": "SO-XD"}
ERROR = "SMTPRecipientsRefused: {'an@example.org': (550, b'5.1.1 mailbox unavailable')}"


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def sign_in(auth, factory, session, role: str):
    user = factory.user(role, ORG[role])
    session.commit()
    auth.client.get("/lang/en")
    assert auth.login(user.email, PASSWORD).status_code == 303
    return user


def failed_message(session, case_id: int, **values) -> OutboxMessage:
    message = OutboxMessage(kind="receipt", payload={"case_id": case_id}, status="failed",
                            attempts=outbox.MAX_ATTEMPTS, last_error=ERROR, **values)
    session.add(message)
    session.flush()
    return message


@pytest.fixture
def case(factory, session):
    case, _ = factory.report()
    # The receipt the report queued was sent long ago; the tests add the rows they need.
    for message in session.scalars(select(OutboxMessage)):
        message.status, message.sent_at = "sent", utcnow()
    session.commit()
    return case


def test_only_administrators_see_or_replay_failed_jobs(client, auth, factory, session, case):
    message = failed_message(session, case.id)
    session.commit()
    response = client.get("/admin/outbox")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert client.post(f"/admin/outbox/{message.id}/replay").status_code == 400  # no CSRF token

    sign_in(auth, factory, session, "supervisor")
    assert client.get("/admin/outbox").status_code == 403
    assert "/admin/outbox" not in page_text(client.get("/admin/"))
    assert auth.post(f"/admin/outbox/{message.id}/replay", page="/admin/").status_code == 403
    session.refresh(message)
    assert message.status == "failed" and message.attempts == outbox.MAX_ATTEMPTS


def test_the_page_shows_the_backlog_and_each_failed_job_with_its_error(client, auth, factory,
                                                                      session, case):
    sign_in(auth, factory, session, "admin")
    empty = page_text(client.get("/admin/outbox"))
    assert "No job has failed." in empty and "nothing is waiting" in empty

    failed = failed_message(session, case.id, created_at=utcnow() - timedelta(hours=3))
    now = utcnow()
    for status, count in (("pending", 3), ("queued", 2), ("sending", 1)):
        for i in range(count):
            session.add(OutboxMessage(kind="status_changed", payload={"case_id": case.id},
                                      status=status, created_at=now - timedelta(minutes=5 * i),
                                      next_attempt_at=now))
    session.commit()

    text = page_text(client.get("/admin/outbox"))
    counts = dict(re.findall(r"<dt>([^<]+)</dt><dd>(\d+)</dd>", text))
    assert counts == {"Waiting to be handed to a worker": "3",
                      "Handed to a worker, not started": "2",
                      "Being done by a worker": "1", "Failed": "1"}
    assert "10 minutes ago" in text  # the oldest pending row
    row = text[text.index(f'id="job-{failed.id}"'):]
    row = row[:row.index("</tr>")]
    assert "receipt" in row and f"case_id {case.id}" in row
    assert f"<td>{outbox.MAX_ATTEMPTS}</td>" in row
    assert ERROR in row
    assert f"/admin/outbox/{failed.id}/replay" in row and "Replay" in row
    assert 'name="csrf_token"' in row
    assert "/admin/outbox" in page_text(client.get("/admin/"))


def test_failed_jobs_are_listed_newest_first_by_key(client, auth, factory, session, case):
    sign_in(auth, factory, session, "admin")
    ids = [failed_message(session, case.id).id for _ in range(53)]
    session.commit()
    first = page_text(client.get("/admin/outbox"))
    shown = [int(i) for i in re.findall(r'id="job-(\d+)"', first)]
    assert shown == sorted(ids, reverse=True)[:50]
    assert "Next page" in first
    second = page_text(client.get(f"/admin/outbox?after={shown[-1]}"))
    assert [int(i) for i in re.findall(r'id="job-(\d+)"', second)] == sorted(ids, reverse=True)[50:]
    assert "Next page" not in second and "First page" in second
    assert client.get("/admin/outbox?after=abc").status_code == 200


def test_a_replayed_job_gets_fresh_attempts_and_is_delivered(client, auth, factory, session,
                                                             case, mail_dir):
    sign_in(auth, factory, session, "admin")
    message = failed_message(session, case.id)
    session.commit()

    response = auth.post(f"/admin/outbox/{message.id}/replay", page="/admin/outbox")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/admin/outbox")
    session.refresh(message)
    assert message.status == "pending" and message.attempts == 0
    assert message.next_attempt_at <= utcnow()
    assert "put back in the outbox" in page_text(client.get(response.headers["Location"]))

    response.close()  # as a server does once the response is sent: the row is handed out
    session.refresh(message)
    assert message.status == "sent"
    assert len(list(mail_dir.glob("*.eml"))) == 1

    again = auth.post(f"/admin/outbox/{message.id}/replay", page="/admin/outbox")
    assert again.status_code == 303
    assert "no longer failed" in page_text(client.get(again.headers["Location"]))
    session.refresh(message)
    assert message.status == "sent"
    assert auth.post("/admin/outbox/999999/replay", page="/admin/outbox").status_code == 404
    assert client.post(f"/admin/outbox/{message.id}/replay").status_code == 400  # no token
