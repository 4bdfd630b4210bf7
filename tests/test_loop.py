"""The loop closes: a report goes from the resident to the Front, to the agency and back, and the
reporter has the last word, a rating or a dispute.

Everything goes through HTTP, each person in a browser of their own: the resident holds only the
tracking code of their report, the staff sign in. The reporter reads the portal in English so
the assertions below can quote it; the staff's pages and emails are in Vietnamese.
"""

from __future__ import annotations

import email
import io
import re
from dataclasses import dataclass
from datetime import timedelta
from email import policy

from babel.dates import format_date
from flask.testing import FlaskClient
from flask_babel import force_locale
from sqlalchemy import func, select, update

from portal.audit import verify_all
from portal.deadlines import today
from portal.models import Answer, Attachment, Case, CaseEvent, OutboxMessage, Rating
from portal.vocab import EVENT_LABELS, CaseStatus
from tests.factories import PASSWORD
from tests.helpers import AuthActions, csrf_of
from tests.test_citizen import CODE, ReportPage

S = CaseStatus
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
VERSION = re.compile(r'name="version" type="hidden" value="(\d+)"')
DOCUMENT_LINK = re.compile(r'href="(/track/[^"]+/documents/\d+)"')
SCORES = {"access": "4", "procedure": "3", "attitude": "5", "result": "4", "handling": "4",
          "overall": "4"}
OFFICER_NAME = "Lê Thị Hoa"
HEAD_NAME = "Phạm Văn Minh"
FINDINGS = "Hồ sơ bị giữ ở bộ phận một cửa quá hạn 15 ngày làm việc."
ASSESSMENT = "Sở đã kiểm tra, cấp phép và kiểm điểm công chức; Mặt trận chấp nhận."


def version_of(html: str) -> str:
    match = VERSION.search(html)
    assert match, "the page offers no form with the case's version"
    return match.group(1)


def sent(response):
    """Read the response and close it, as a server does: then the queued notifications go out."""
    response.get_data()
    response.close()
    return response


def sign_in(app, user):
    """A staff member's own browser, signed in through the real form."""
    client = app.test_client()
    assert AuthActions(client).login(user.email, PASSWORD).status_code == 303
    return client


def act(client, area: str, case_id: int, action: str, data: dict | None = None,
        files: list | None = None, expect: int = 303):
    """A staff action sent from the case page, with that page's CSRF token and case version."""
    html = client.get(f"/{area}/cases/{case_id}").get_data(as_text=True)
    fields = {"csrf_token": csrf_of(html), "version": version_of(html), **(data or {})}
    if files:
        fields["evidence"] = files
    response = sent(client.post(f"/{area}/cases/{case_id}/act/{action}", data=fields,
                                content_type="multipart/form-data"))
    assert response.status_code == expect, response.get_data(as_text=True)[-3000:]
    return response


class Reporter:
    """The resident's browser: it filed the report and holds its tracking code, nothing more."""

    def __init__(self, app, factory, **changes):
        self.client = app.test_client()
        self.client.get("/lang/en")
        receipt = ReportPage(self.client, factory).send(**changes)
        html = self.client.get(receipt.headers["Location"]).get_data(as_text=True)
        self.code = CODE.search(html).group(1)
        # Coming back later, the code alone leads to the report.
        form = self.client.get("/track").get_data(as_text=True)
        found = self.client.post("/track", data={"csrf_token": csrf_of(form), "code": self.code})
        assert found.status_code == 303
        self.url = found.headers["Location"]
        self.reference = self.url.rsplit("/", 1)[1]

    def page(self) -> str:
        response = self.client.get(self.url)
        assert response.status_code == 200
        return response.get_data(as_text=True)

    def csrf_token(self) -> str:
        """This browser's CSRF token, from /track: a page without forms carries none."""
        return csrf_of(self.client.get("/track").get_data(as_text=True))

    def send(self, what: str, data: dict, version: str | None = None):
        """Send the rating or dispute form of the tracking page as the browser holds it."""
        html = self.page()
        fields = {"csrf_token": self.csrf_token(), **data}
        if version is not None or VERSION.search(html):
            fields["version"] = version or version_of(html)
        return sent(self.client.post(f"{self.url}/{what}", data=fields))

    def rate(self, version: str | None = None, **changes):
        data = {**SCORES, "comment": "Cảm ơn Sở đã xử lý.", **changes}
        return self.send("rate", {k: v for k, v in data.items() if v is not None}, version)

    def dispute(self, reason: str = "Giấy phép vẫn chưa được trả.", version: str | None = None):
        return self.send("dispute", {"reason": reason}, version)


@dataclass
class Loop:
    """The people around one report, each signed in on their own browser."""

    reporter: Reporter
    front: FlaskClient
    head: FlaskClient
    officer: FlaskClient
    officer_id: int
    case_id: int
    agency_id: int

    def forward(self):
        act(self.front, "moderation", self.case_id, "forward", {
            "agency_id": str(self.agency_id), "recommendation": "Đề nghị Sở kiểm tra và trả lời."})

    def acknowledge_and_name_officer(self):
        act(self.head, "agency", self.case_id, "acknowledge")
        act(self.head, "agency", self.case_id, "assign_officer",
            {"officer_id": str(self.officer_id)})

    def answer(self, findings: str = FINDINGS, document: str = "ket-qua-kiem-tra.pdf"):
        act(self.officer, "agency", self.case_id, "answer", {
            "findings": findings, "outcome": "substantiated",
            "actions_taken": "Đã cấp giấy phép; công chức bị kiểm điểm.",
            "reply_to_recommendation": "Sở tiếp thu kiến nghị của Mặt trận."},
            files=[(io.BytesIO(PDF), document)])

    def accept(self, assessment: str = ASSESSMENT):
        act(self.front, "moderation", self.case_id, "accept_answer", {"assessment": assessment})


def start_loop(app, factory, session) -> Loop:
    """A resident files a report; a city Front moderator, an agency head and an officer stand by."""
    moderator = factory.moderator()
    head = factory.user("agency_head", "SO-XD")
    officer = factory.officer("SO-XD")
    head.name, officer.name = HEAD_NAME, OFFICER_NAME
    session.commit()
    reporter = Reporter(app, factory)
    case = session.scalars(select(Case)).one()
    return Loop(reporter=reporter, front=sign_in(app, moderator), head=sign_in(app, head),
                officer=sign_in(app, officer), officer_id=officer.id, case_id=case.id,
                agency_id=factory.agency("SO-XD").id)


def resolved_loop(app, factory, session) -> Loop:
    """Submitted, forwarded, acknowledged, answered with a document, and accepted by the Front."""
    loop = start_loop(app, factory, session)
    loop.forward()
    loop.acknowledge_and_name_officer()
    loop.answer()
    loop.accept()
    assert status(session, loop) == S.RESOLVED
    return loop


def reload(session, loop: Loop) -> Case:
    session.expire_all()
    return session.get(Case, loop.case_id)


def status(session, loop: Loop) -> str:
    return reload(session, loop).status


def count(session, model, *where) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model).where(*where))


def emails(mail_dir, to: str) -> list[email.message.EmailMessage]:
    messages = [email.message_from_bytes(p.read_bytes(), policy=policy.default)
                for p in sorted(mail_dir.glob("*.eml"))]
    return [m for m in messages if m["To"] == to]


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content()


# -- the loops ------------------------------------------------------------------------------


def test_a_report_goes_round_the_loop_and_closes_with_a_rating(app, factory, session, mail_dir):
    loop = start_loop(app, factory, session)
    loop.forward()
    assert status(session, loop) == S.FORWARDED
    loop.acknowledge_and_name_officer()
    assert status(session, loop) == S.IN_PROGRESS
    loop.answer()
    assert status(session, loop) == S.ANSWERED

    # Until the Front accepts it, the answer is not the reporter's: no text, no document.
    html = loop.reporter.page()
    assert FINDINGS not in html and not DOCUMENT_LINK.search(html)
    assert f"{loop.reporter.url}/rate" not in html

    loop.accept()
    case = reload(session, loop)
    assert case.status == S.RESOLVED and case.due_stage == "rating"

    # The reporter reads the answer and who answered for it in the "3 rõ" block, with the
    # Front's assessment, and is offered the rating and the dispute.
    html = loop.reporter.page()
    for shown in (FINDINGS, ASSESSMENT, OFFICER_NAME, HEAD_NAME, "Is your problem solved?",
                  f"by {format_date(case.due_on, locale='en')}"):
        assert shown in html
    for factor in SCORES:
        assert html.count(f'name="{factor}" type="radio"') == 5
    assert f"{loop.reporter.url}/dispute" in html

    # The agency's document comes as a download, only to the holder of the code.
    link = DOCUMENT_LINK.search(html).group(1)
    document = loop.reporter.client.get(link)
    assert document.status_code == 200
    assert document.headers["Content-Disposition"].startswith("attachment")
    assert "ket-qua-kiem-tra.pdf" in document.headers["Content-Disposition"]
    assert document.data == PDF
    assert app.test_client().get(link).status_code == 404

    # The email says the answer is ready and until when to rate or dispute it.
    (published,) = [m for m in emails(mail_dir, "binh@example.org") if "is ready" in text_of(m)]
    assert case.reference in published["Subject"]
    body = text_of(published)
    assert f"by {format_date(case.due_on, locale='en')}" in body
    assert "rate the result" in body and "not solved" in body
    assert "http://portal.test/track" in body
    assert loop.reporter.code not in body  # the code travels once, in the receipt

    rated = loop.reporter.rate(comment="Được cấp phép sau khi phản ánh. Cảm ơn.")
    assert rated.status_code == 303
    html = loop.reporter.page()
    assert "Thank you for your rating" in html and "Được cấp phép sau khi phản ánh." in html
    assert "Is your problem solved?" not in html

    case = reload(session, loop)
    assert case.status == S.CLOSED and case.closed_at is not None and case.due_on is None
    rating = session.scalars(select(Rating)).one()
    assert (rating.access, rating.procedure, rating.attitude, rating.result, rating.handling,
            rating.overall) == (4, 3, 5, 4, 4, 4)
    assert session.scalars(select(CaseEvent.action).where(CaseEvent.case_id == case.id)
                           .order_by(CaseEvent.seq.desc())).first() == "rate"
    assert list(verify_all(session)) == []


def test_a_disputed_answer_goes_back_to_the_front_and_the_agency(app, factory, session,
                                                                 mail_dir):
    loop = resolved_loop(app, factory, session)
    first_document = DOCUMENT_LINK.search(loop.reporter.page()).group(1)

    disputed = loop.reporter.dispute("Sở trả lời đã cấp phép nhưng tôi chưa nhận được giấy.")
    assert disputed.status_code == 303
    assert status(session, loop) == S.DISPUTED
    html = loop.reporter.page()
    assert "You said the problem is not solved" in html
    assert "tôi chưa nhận được giấy" in html  # the reason is on the reporter's timeline

    # The agency is told: a message to the agency in the outbox, then an email to its staff.
    told = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "case_disputed")).one()
    assert told.payload == {"case_id": loop.case_id, "agency_id": loop.agency_id}
    assert told.status == "sent"
    with app.test_request_context(), force_locale("vi"):
        dispute_label = str(EVENT_LABELS["dispute"])
    for staff_email in ("agency_head.so-xd@example.org", "agency_officer.so-xd@example.org"):
        assert any(dispute_label in text_of(m) for m in emails(mail_dir, staff_email))

    # The Front agrees: the answer goes back to the agency, and its documents leave the
    # reporter's page with it.
    act(loop.front, "moderation", loop.case_id, "return_answer",
        {"reason": "Đề nghị Sở trao giấy phép cho người dân và báo cáo lại."})
    assert status(session, loop) == S.IN_PROGRESS
    assert loop.reporter.client.get(first_document).status_code == 404

    loop.answer(findings="Sở đã trao giấy phép cho người dân ngày hôm nay.",
                document="bien-ban-giao-giay-phep.pdf")
    loop.accept("Sở đã khắc phục; Mặt trận chấp nhận trả lời lần hai.")
    assert status(session, loop) == S.RESOLVED
    html = loop.reporter.page()
    assert "Sở đã trao giấy phép cho người dân ngày hôm nay." in html
    assert "bien-ban-giao-giay-phep.pdf" in html and "ket-qua-kiem-tra.pdf" not in html

    assert loop.reporter.rate().status_code == 303
    assert status(session, loop) == S.CLOSED
    actions = session.scalars(select(CaseEvent.action).where(CaseEvent.case_id == loop.case_id)
                              .order_by(CaseEvent.seq)).all()
    assert actions[-5:] == ["dispute", "return_answer", "answer", "accept_answer", "rate"]
    assert list(verify_all(session)) == []


# -- what the reporter may not do -----------------------------------------------------------


def nothing_stored(session, loop: Loop, events_before: int, expected_status: str = S.RESOLVED):
    assert count(session, Rating) == 0
    case = reload(session, loop)
    assert case.status == expected_status
    assert case.event_count == events_before


def test_the_rating_window_ends(app, factory, session):
    loop = resolved_loop(app, factory, session)
    html = loop.reporter.page()  # loaded while the window is open
    events_before = reload(session, loop).event_count
    # Time passes: the window ends without anyone touching the case, so its version stands.
    session.execute(update(Case).where(Case.id == loop.case_id)
                    .values(due_on=today() - timedelta(days=1)))
    session.commit()

    for what, data in (("rate", SCORES), ("dispute", {"reason": "Chưa giải quyết."})):
        late = sent(loop.reporter.client.post(f"{loop.reporter.url}/{what}", data={
            "csrf_token": csrf_of(html), "version": version_of(html), **data}))
        assert late.status_code == 409
        assert "The time to rate or dispute this answer has ended." in late.get_data(as_text=True)
        nothing_stored(session, loop, events_before)

    # The page no longer offers either form.
    html = loop.reporter.page()
    assert "The time to rate or dispute this answer has ended." in html
    assert 'type="radio"' not in html and f"{loop.reporter.url}/dispute" not in html


def test_missing_scores_and_reason_are_pointed_out_next_to_their_fields(app, factory, session):
    loop = resolved_loop(app, factory, session)
    events_before = reload(session, loop).event_count

    response = loop.reporter.rate(access=None, overall=None, result="9", comment="ok")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    for factor in ("access", "overall", "result"):
        assert re.search(rf'id="{factor}-error"><li>Choose a score from 1 to 5.</li>', html)
    assert 'id="procedure-error"' not in html
    # What was chosen stays chosen.
    assert 'checked id="procedure-2" name="procedure" type="radio" value="3"' in html
    nothing_stored(session, loop, events_before)

    too_long = loop.reporter.rate(comment="x" * 2001)
    assert too_long.status_code == 400 and 'id="comment-error"' in too_long.get_data(as_text=True)

    empty = loop.reporter.dispute(reason="   ")
    assert empty.status_code == 400
    assert 'id="reason-error"' in empty.get_data(as_text=True)
    nothing_stored(session, loop, events_before)


def test_a_rating_from_an_outdated_page_is_refused_and_can_be_sent_again(app, factory, session):
    loop = resolved_loop(app, factory, session)
    old_page = loop.reporter.page()
    # Meanwhile the Front writes an internal note: the case changed since the page was loaded.
    act(loop.front, "moderation", loop.case_id, "note", {"text": "Chờ người dân đánh giá."})
    events_before = reload(session, loop).event_count

    stale = loop.reporter.rate(version=version_of(old_page))
    assert stale.status_code == 409
    html = stale.get_data(as_text=True)
    assert "Your report changed while you were writing. Nothing was saved" in html
    nothing_stored(session, loop, events_before)

    # The page that says so keeps the scores and carries the case's version now.
    assert version_of(html) == str(reload(session, loop).version)
    resent = sent(loop.reporter.client.post(f"{loop.reporter.url}/rate", data={
        "csrf_token": csrf_of(html), "version": version_of(html), **SCORES}))
    assert resent.status_code == 303
    assert status(session, loop) == S.CLOSED


def test_no_rating_or_dispute_before_the_front_accepts_the_answer_nor_after_closing(
        app, factory, session):
    loop = start_loop(app, factory, session)
    loop.forward()
    loop.acknowledge_and_name_officer()
    loop.answer()
    events_before = reload(session, loop).event_count

    html = loop.reporter.page()
    assert f"{loop.reporter.url}/rate" not in html and f"{loop.reporter.url}/dispute" not in html
    # Forged posts, with the case's current version, are refused all the same.
    for what, data in (("rate", SCORES), ("dispute", {"reason": "Chưa giải quyết."})):
        forged = loop.reporter.send(what, data, version=str(reload(session, loop).version))
        assert forged.status_code == 409
        nothing_stored(session, loop, events_before, S.ANSWERED)

    # The agency's document is not the reporter's before the Front accepts the answer.
    document = session.scalars(select(Attachment).where(Attachment.uploaded_by == "agency")).one()
    assert loop.reporter.client.get(
        f"{loop.reporter.url}/documents/{document.id}").status_code == 404

    loop.accept()
    assert loop.reporter.rate().status_code == 303
    # A second rating (a double click, the back button) changes nothing.
    again = loop.reporter.rate(version=str(reload(session, loop).version), overall="1")
    assert again.status_code == 409
    assert loop.reporter.dispute(version=str(reload(session, loop).version)).status_code == 409
    assert count(session, Rating) == 1 and session.scalars(select(Rating)).one().overall == 4
    assert status(session, loop) == S.CLOSED


def test_another_reporter_finds_nothing_of_this_case(app, factory, session):
    loop = resolved_loop(app, factory, session)
    document = session.scalars(select(Attachment).where(Attachment.uploaded_by == "agency")).one()
    assert session.get(Answer, document.answer_id).review == "accepted"
    other = Reporter(app, factory, reporter_email="khac@example.org")
    assert other.reference != loop.reporter.reference
    token = other.csrf_token()
    version = str(reload(session, loop).version)
    events_before = reload(session, loop).event_count

    base = loop.reporter.url
    assert other.client.get(base).status_code == 404
    assert other.client.get(f"{base}/documents/{document.id}").status_code == 404
    # Its own case's route does not serve another case's document either.
    assert other.client.get(f"{other.url}/documents/{document.id}").status_code == 404
    for what, data in (("rate", SCORES), ("dispute", {"reason": "Không phải của tôi."})):
        response = sent(other.client.post(f"{base}/{what}",
                                          data={"csrf_token": token, "version": version, **data}))
        assert response.status_code == 404
    nothing_stored(session, loop, events_before)
