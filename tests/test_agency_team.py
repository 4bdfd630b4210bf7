"""The head of an agency through HTTP: inviting, deactivating and reactivating officers; the figures."""

from __future__ import annotations

import email
import re
from datetime import datetime, timedelta
from datetime import time as clock
from email import policy

import pytest
from itsdangerous import URLSafeTimedSerializer
from itsdangerous.timed import TimestampSigner
from sqlalchemy import event, select

from portal import deadlines, lifecycle
from portal.agency import figures
from portal.db import utcnow
from portal.lifecycle import Actor
from portal.models import Assignment, OutboxMessage, User
from tests.factories import PASSWORD, Factory
from tests.helpers import AuthActions, csrf_of

NEW_PASSWORD = "a sentence I will remember"
LINK = re.compile(r"http://portal\.test(/account/activate/[A-Za-z0-9_.\-]+)")


def sign_in(app, factory: Factory, session, role: str, org: str) -> tuple[object, User]:
    """A browser of its own, reading English, signed in as a new staff member."""
    user = factory.user(role, org)
    session.commit()
    client = app.test_client()
    client.get("/lang/en")
    response = AuthActions(client).login(user.email, PASSWORD)
    assert response.status_code == 303, response.get_data(as_text=True)
    return client, user


def post_form(client, path: str, data: dict | None = None, page: str = "/agency/team"):
    html = client.get(page).get_data(as_text=True)
    response = client.post(path, data={"csrf_token": csrf_of(html), **(data or {})})
    response.close()  # the notifications are delivered once the response is closed
    return response


def invitations(mail_dir) -> list[tuple[str, str]]:
    """(recipient, activation path) of each invitation email delivered so far."""
    found = []
    for path in sorted(mail_dir.glob("*.eml")) if mail_dir.exists() else []:
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        match = LINK.search(message.get_body(("plain",)).get_content())
        if match:
            found.append((message["To"], match.group(1)))
    return found


@pytest.fixture
def head(app, factory, session):
    return sign_in(app, factory, session, "agency_head", "SO-XD")


def new_invitation(mail_dir, before: list) -> tuple[str, str]:
    """The one invitation delivered since `before` (mail files are not named in order)."""
    new = [sent for sent in invitations(mail_dir) if sent not in before]
    assert len(new) == 1, new
    return new[0]


def invite(head_client, mail_dir, address: str = "new.officer@example.org") -> str:
    before = invitations(mail_dir)
    response = post_form(head_client, "/agency/team/invite",
                         {"email": address, "name": "Trần Thị Bình"})
    assert response.status_code == 303, response.get_data(as_text=True)
    to, link = new_invitation(mail_dir, before)
    assert to == address
    return link


# -- inviting ---------------------------------------------------------------------------------


def test_an_invited_officer_chooses_a_password_with_the_link_once(app, head, session, mail_dir):
    head_client, head_user = head
    link = invite(head_client, mail_dir)

    officer = session.scalars(select(User).where(User.email == "new.officer@example.org")).one()
    assert officer.role == "agency_officer" and officer.agency_id == head_user.agency_id
    assert officer.name == "Trần Thị Bình" and officer.active
    # Until the person chooses one, no password opens the account.
    assert officer.password_hash.startswith("!")
    # The link is signed, not secret: it carries no session token, only a digest of it.
    _, payload = URLSafeTimedSerializer("any key").loads_unsafe(link.rsplit("/", 1)[1])
    assert payload["user"] == officer.id and officer.session_token not in str(payload)
    outbox = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "invitation")).one()
    assert outbox.status == "sent" and outbox.payload == {"user_id": officer.id,
                                                          "invited_by_id": head_user.id}
    assert "invited: no password chosen yet" in head_client.get("/agency/team").get_data(as_text=True)

    browser = app.test_client()
    browser.get("/lang/en")
    page = browser.get(link)
    assert page.status_code == 200 and "new.officer@example.org" in page.get_data(as_text=True)
    token = csrf_of(page.get_data(as_text=True))

    # Too short, then two different passwords: refused next to the field, nothing stored.
    short = browser.post(link, data={"csrf_token": token, "new": "short", "confirm": "short"})
    assert short.status_code == 400 and 'id="new-error"' in short.get_data(as_text=True)
    differ = browser.post(link, data={"csrf_token": token, "new": NEW_PASSWORD,
                                      "confirm": NEW_PASSWORD + "!"})
    assert differ.status_code == 400 and 'id="confirm-error"' in differ.get_data(as_text=True)
    session.refresh(officer)
    assert officer.password_hash.startswith("!")

    done = browser.post(link, data={"csrf_token": token, "new": NEW_PASSWORD,
                                    "confirm": NEW_PASSWORD})
    assert done.status_code == 303 and done.headers["Location"].endswith("/agency/")
    assert browser.get("/agency/").status_code == 200  # signed in at once
    session.refresh(officer)
    assert not officer.password_hash.startswith("!") and officer.last_sign_in_at is not None

    # The password works at the sign-in form.
    other = AuthActions(app.test_client())
    assert other.login("new.officer@example.org", NEW_PASSWORD).status_code == 303

    # The link worked once: neither the page nor the form works again, for anyone.
    again = app.test_client()
    assert again.get(link).status_code == 400
    reused = again.post(link, data={"csrf_token": csrf_of(again.get("/login").get_data(as_text=True)),
                                    "new": "another long password", "confirm": "another long password"})
    assert reused.status_code == 400
    assert other.login("new.officer@example.org", "another long password").status_code == 400
    assert "active" in head_client.get("/agency/team").get_data(as_text=True)


def test_an_invitation_link_expires_after_72_hours(app, head, monkeypatch, mail_dir):
    head_client, _ = head
    link = invite(head_client, mail_dir)
    real = TimestampSigner.get_timestamp

    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) + 71 * 3600)
    assert app.test_client().get(link).status_code == 200
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) + 73 * 3600)
    browser = app.test_client()
    browser.get("/lang/en")
    expired = browser.get(link)
    assert expired.status_code == 400
    assert "This link no longer works" in expired.get_data(as_text=True)


def test_a_forged_or_altered_link_is_refused(app, head, mail_dir):
    head_client, _ = head
    link = invite(head_client, mail_dir)
    assert app.test_client().get(link[:-2] + ("AA" if not link.endswith("AA") else "BB")).status_code == 400
    assert app.test_client().get("/account/activate/not-a-token").status_code == 400


def test_a_new_invitation_or_a_deactivation_kills_the_link(app, head, session, mail_dir):
    head_client, _ = head
    first = invite(head_client, mail_dir)
    officer = session.scalars(select(User).where(User.email == "new.officer@example.org")).one()
    before = invitations(mail_dir)
    response = post_form(head_client, f"/agency/team/{officer.id}/invite-again")
    assert response.status_code == 303
    _, second = new_invitation(mail_dir, before)
    assert second != first
    assert app.test_client().get(first).status_code == 400
    assert app.test_client().get(second).status_code == 200
    # Deactivating the account kills the link too.
    assert post_form(head_client, f"/agency/team/{officer.id}/deactivate").status_code == 303
    assert app.test_client().get(second).status_code == 400


def test_bad_input_is_refused_next_to_the_field_and_nothing_is_stored(head, factory, session,
                                                                       mail_dir):
    head_client, _ = head
    bad = post_form(head_client, "/agency/team/invite", {"email": "not an email", "name": ""})
    page = bad.get_data(as_text=True)
    assert bad.status_code == 400
    assert 'id="email-error"' in page and 'id="name-error"' in page

    taken = factory.officer("SO-YT")  # someone of another agency already has this address
    session.commit()
    duplicate = post_form(head_client, "/agency/team/invite",
                          {"email": taken.email.upper(), "name": "Lê Văn Cường"})
    assert duplicate.status_code == 400
    assert "A user with this email already exists." in duplicate.get_data(as_text=True)

    forged = head_client.post("/agency/team/invite",
                              data={"email": "x@example.org", "name": "No Token"})
    assert forged.status_code == 400

    session.expire_all()
    emails = set(session.scalars(select(User.email)))
    assert "x@example.org" not in emails and "not an email" not in emails
    assert session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "invitation")).all() == []
    assert invitations(mail_dir) == []


# -- who may do what --------------------------------------------------------------------------


def test_an_officer_may_not_open_the_heads_pages(app, factory, session):
    officer_client, officer = sign_in(app, factory, session, "agency_officer", "SO-XD")
    assert officer_client.get("/agency/").status_code == 200
    assert officer_client.get("/agency/team").status_code == 403
    assert officer_client.get("/agency/figures").status_code == 403
    html = officer_client.get("/agency/").get_data(as_text=True)
    assert "/agency/team" not in html and "/agency/figures" not in html
    refused = officer_client.post("/agency/team/invite",
                                  data={"csrf_token": csrf_of(html), "email": "y@example.org",
                                        "name": "Y"})
    assert refused.status_code == 403
    assert app.test_client().get("/agency/team").status_code == 302  # anonymous: sign in first


def test_a_head_of_another_agency_gets_404_for_this_agencys_officer(app, factory, session):
    officer = factory.officer("SO-XD")
    session.commit()
    other_client, _ = sign_in(app, factory, session, "agency_head", "SO-YT")
    for action in ("deactivate", "reactivate", "invite-again"):
        response = post_form(other_client, f"/agency/team/{officer.id}/{action}")
        assert response.status_code == 404
    assert officer.email not in other_client.get("/agency/team").get_data(as_text=True)
    session.refresh(officer)
    assert officer.active


def test_deactivating_an_officer_ends_their_session_and_reactivating_lets_them_back(
        app, head, factory, session):
    head_client, head_user = head
    officer_client, officer = sign_in(app, factory, session, "agency_officer", "SO-XD")
    assert officer_client.get("/agency/").status_code == 200
    assert head_client.get("/agency/").get_data(as_text=True).count("/agency/team") >= 1

    response = post_form(head_client, f"/agency/team/{officer.id}/deactivate")
    assert response.status_code == 303
    assert f"The account {officer.email} was deactivated" in head_client.get(
        response.headers["Location"]).get_data(as_text=True)
    ended = officer_client.get("/agency/")
    assert ended.status_code == 302 and "/login" in ended.headers["Location"]
    assert AuthActions(app.test_client()).login(officer.email, PASSWORD).status_code == 400
    assert "deactivated" in head_client.get("/agency/team").get_data(as_text=True)

    assert post_form(head_client, f"/agency/team/{officer.id}/reactivate").status_code == 303
    assert AuthActions(app.test_client()).login(officer.email, PASSWORD).status_code == 303

    # A head cannot deactivate themselves, nor another head: only an administrator can.
    other_head = factory.user("agency_head", "SO-XD", email="second.head@example.org")
    session.commit()
    for target in (head_user, other_head):
        refused = post_form(head_client, f"/agency/team/{target.id}/deactivate")
        assert refused.status_code == 400
        session.refresh(target)
        assert target.active
    assert head_client.get("/agency/").status_code == 200


# -- the figures ------------------------------------------------------------------------------


def value(html: str, row: str) -> str:
    match = re.search(rf'<tr id="{row}">.*?data-value="([^"]*)"', html, re.S)
    assert match, row
    return match.group(1)


def test_the_figures_match_a_count_by_hand(app, head, factory, session, monkeypatch):
    head_client, _ = head
    real_today = deadlines.today()
    past = real_today - timedelta(days=60)

    def on(day):
        monkeypatch.setattr(deadlines, "today", lambda: day)
        monkeypatch.setattr(lifecycle, "today", lambda: day)

    s = session
    front = Actor.staff(factory.moderator())
    xd_officer = Actor.staff(factory.officer("SO-XD"))
    yt_officer = Actor.staff(factory.officer("SO-YT"))
    xd, yt = factory.agency("SO-XD"), factory.agency("SO-YT")

    def assignment(case) -> Assignment:
        return s.scalars(select(Assignment).where(Assignment.case_id == case.id)
                         .order_by(Assignment.id.desc())).first()

    def rated(overall: int, agency: str = "SO-XD"):
        case = factory.case_in("resolved", agency)
        lifecycle.rate(s, case, Actor.reporter(case.id),
                       scores={**dict.fromkeys(lifecycle.RATING_FACTORS, 3), "overall": overall})
        s.flush()
        return case

    # A: received 400 days ago (outside 12 months), answered now on time, rated 5.
    old = rated(5)
    assignment(old).assigned_at = utcnow() - timedelta(days=400)

    # B and C: given to the agency 60 days ago. B answered at 05:00 in Hanoi the day after its
    # deadline (22:00 UTC on the day itself): late. C at 23:30 in Hanoi on the day: on time.
    on(past)
    late = factory.case_in("in_progress")
    edge = factory.case_in("in_progress")
    overdue = factory.case_in("forwarded")  # F: its acknowledgement deadline passed long ago
    on(real_today)
    assert overdue.due_on < real_today
    for case, moment in ((late, clock(22, 0)), (edge, clock(16, 30))):
        answer = lifecycle.answer(s, case, xd_officer, findings="Đã kiểm tra.",
                                  outcome="substantiated")
        s.flush()
        row = assignment(case)
        assert row.answer_due_on < real_today and answer.due_on == row.answer_due_on
        row.answered_at = answer.created_at = datetime.combine(answer.due_on, moment)
    factory.step(edge, "accept_answer")
    lifecycle.rate(s, edge, Actor.reporter(edge.id),
                   scores={**dict.fromkeys(lifecycle.RATING_FACTORS, 2)})

    # D: a transfer request the Front refused; the case stays, in progress.
    refused = factory.case_in("transfer_requested")
    lifecycle.refuse_transfer(s, refused, front, note="Thuộc thẩm quyền của Sở.")
    # E: an answer the Front returned.
    returned = factory.case_in("answered")
    lifecycle.return_answer(s, returned, front, reason="Trả lời chưa đủ.")
    # G: a dispute.
    factory.case_in("disputed")
    # H: a transfer request approved: the case left the agency.
    away = factory.case_in("forwarded")
    lifecycle.request_transfer(s, away, xd_officer, to_agency_id=factory.agency("SO-NNMT").id,
                               reason="Không thuộc thẩm quyền.")
    lifecycle.approve_transfer(s, away, front)
    # K: transferred in from another agency.
    incoming = factory.case_in("in_progress", "SO-YT")
    lifecycle.request_transfer(s, incoming, yt_officer, to_agency_id=xd.id,
                               reason="Thuộc thẩm quyền Sở Xây dựng.")
    lifecycle.approve_transfer(s, incoming, front)
    # Another agency's own figures, which must not count here.
    other = factory.case_in("transfer_requested", "SO-YT")
    lifecycle.refuse_transfer(s, other, front, note="Không chấp nhận.")
    rated(1, "SO-YT")
    # Seven more rated cases of the agency: with A and C, nine ratings.
    for overall in (4, 4, 5, 5, 3, 4, 1):
        rated(overall)
    s.commit()

    by_hand = {
        # B C D E F G H K + the 7 rated cases above (A was received 400 days ago)
        "received": 8 + 7,
        "open": 6,  # B (answered) D E (in progress) F K (forwarded) G (disputed)
        "overdue": 1,  # F
        "on-time": round(100 * 11 / 12),  # answered: A B C E G + the 7 rated; B late
        "transfers": 2,  # D and H; the Front refused D
        "returned": 1,
        "disputes": 1,
        "satisfaction": "",  # 9 ratings: too few to show
    }
    html = head_client.get("/agency/figures").get_data(as_text=True)
    assert {row: value(html, row) for row in by_hand} == {k: str(v) for k, v in by_hand.items()}
    assert "the Front refused 1 of them" in html
    assert "11 of 12 answers" in html
    assert "from 9 ratings" in html and "—" in html

    rated(5)
    s.commit()
    html = head_client.get("/agency/figures").get_data(as_text=True)
    assert value(html, "received") == "16"
    assert value(html, "on-time") == str(round(100 * 12 / 13))
    # A 5, C 2, then 4 4 5 5 3 4 1 5: seven of ten rated 4 or 5.
    assert value(html, "satisfaction") == "70" and "from 10 ratings" in html
    # Over 24 months, the case received 400 days ago counts as well.
    assert value(head_client.get("/agency/figures?months=24").get_data(as_text=True),
                 "received") == "17"

    # The computation: a fixed number of aggregate queries, however many cases there are.
    statements = []
    engine = app.extensions["db_engine"]

    def count(*_args):
        statements.append(1)

    event.listen(engine, "before_cursor_execute", count)
    try:
        with app.app_context():
            from portal.db import new_session

            fresh = new_session()
            result = figures.agency_figures(fresh, xd.id)
            fresh.close()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 7
    assert (result.transfers_requested, result.transfers_refused) == (2, 1)
    assert result.satisfaction_percent == 70 and result.ratings == 10
    assert figures.agency_figures(session, yt.id).transfers_refused == 1


def test_the_period_is_checked(head):
    head_client, _ = head
    for bad in ("0", "37", "twelve"):
        response = head_client.get(f"/agency/figures?months={bad}")
        assert response.status_code == 400
        assert 'id="months-error"' in response.get_data(as_text=True)
    assert head_client.get("/agency/figures?months=1").status_code == 200


def test_months_before_keeps_to_the_calendar():
    from datetime import date

    assert figures.months_before(date(2026, 3, 31), 1) == date(2026, 2, 28)
    assert figures.months_before(date(2026, 1, 15), 12) == date(2025, 1, 15)
    assert figures.months_before(date(2026, 1, 15), 36) == date(2023, 1, 15)



def test_a_head_may_not_undo_an_administrators_deactivation(app, head, factory, session):
    from portal.admin.services import deactivate_user

    head_client, _ = head
    officer = factory.officer("SO-XD")
    deactivate_user(session, officer, factory.user("admin"))
    session.commit()
    assert post_form(head_client, f"/agency/team/{officer.id}/reactivate").status_code == 400
    session.refresh(officer)
    assert not officer.active


def test_an_invited_account_receives_no_case_until_its_owner_signs_up(app, head, factory,
                                                                      session):
    from portal import lifecycle, notifications
    from portal.lifecycle import Actor, TransitionRefused
    from portal.models import OutboxMessage, User

    head_client, head_user = head
    post_form(head_client, "/agency/team/invite",
              {"email": "typo.stranger@example.org", "name": "Người Lạ"})
    invited = session.scalars(select(User).where(User.email == "typo.stranger@example.org")).one()
    assert invited.invited
    case = factory.case_in("in_progress")
    session.commit()
    with pytest.raises(TransitionRefused):
        lifecycle.assign_officer(session, case, Actor.staff(head_user), officer_id=invited.id)
    session.rollback()
    lifecycle.request_extension(session, case, Actor.staff(head_user), working_days=1,
                                reason="Cần thêm thời gian.")
    lifecycle.answer(session, case, Actor.staff(head_user), findings="Đã xử lý.",
                     outcome="partly")
    lifecycle.return_answer(session, case, Actor.staff(factory.moderator()), reason="Chưa đủ.")
    session.commit()
    returned = session.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == "answer_returned")).one()
    with app.app_context():
        recipients = {m["To"] for m in notifications.render(session, returned)}
    assert head_user.email in recipients and invited.email not in recipients
