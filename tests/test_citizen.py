"""The citizen's path through HTTP: report with evidence, receipt, tracking; and every bad input."""

from __future__ import annotations

import email
import io
import re
from email import policy

import pytest
from PIL import Image
from sqlalchemy import func, select

from portal import lifecycle, receipts
from portal.lifecycle import Actor
from portal.models import Attachment, Case, CaseEvent, OutboxMessage
from portal.vocab import CaseStatus
from tests.helpers import csrf_of

TOKEN = re.compile(r'id="submission_token" name="submission_token" type="hidden" value="([^"]*)"')
CODE = re.compile(r'class="tracking-code"[^>]*>([A-Z0-9-]+)<')


def photo_with_location() -> bytes:
    """A JPEG carrying GPS coordinates in its EXIF data, as phones write them."""
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif.get_ifd(0x8825)[2] = (21.0, 1.0, 42.0)  # GPSLatitude: Hanoi
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    data = buffer.getvalue()
    assert b"PhoneMaker" in data
    return data


class ReportPage:
    """A report form as a browser holds it: fetched once, filled in, sent."""

    def __init__(self, client, factory):
        self.client = client
        html = client.get("/report").get_data(as_text=True)
        self.fields = {
            "csrf_token": csrf_of(html),
            "submission_token": TOKEN.search(html).group(1),
            "agency_id": str(factory.agency("SO-XD").id),
            "conduct": "slow_handling",
            "sector": "construction",
            "description": "Tôi nộp hồ sơ xin giấy phép xây dựng từ tháng 8, đến nay đã quá hạn "
                           "ba tuần mà Sở chưa trả lời.",
            "occurred_on": "2026-10-05",
            "ward_code": "70",
            "address": "12 Hàng Bài",
            "reporter_kind": "business",
            "business_name": "Công ty TNHH Xây dựng Ánh Dương",
            "tax_code": "0101234567",
            "reporter_name": "Trần Thị Bình",
            "reporter_email": "binh@example.org",
            "reporter_phone": "0912 345 678",
        }

    def send(self, files=None, **changes):
        data = {**self.fields, **changes}
        data = {k: v for k, v in data.items() if v is not None}
        if files:
            data["evidence"] = files
        response = self.client.post("/report", data=data, content_type="multipart/form-data")
        response.get_data()
        response.close()  # as a server does once the response is sent: notifications go out
        return response


def count(session, model) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


def stored_files(app) -> list:
    return list(app.config["PORTAL_SETTINGS"].upload_dir.iterdir())


def test_business_reports_with_a_photo_and_follows_the_case(app, client, factory, session, mail_dir):
    page = ReportPage(client, factory)
    response = page.send(files=[(io.BytesIO(photo_with_location()), "ảnh hiện trường.jpg")])
    assert response.status_code == 303
    receipt = client.get(response.headers["Location"])
    html = receipt.get_data(as_text=True)
    code = CODE.search(html).group(1)
    assert "Write this code down" in html or "Hãy ghi lại mã này" in html

    case = session.scalars(select(Case)).one()
    assert case.status == CaseStatus.SUBMITTED
    assert case.reporter_kind == "business" and case.tax_code == "0101234567"
    assert case.front_committee.code == "MTTQ-HN"  # a city department: the city's Front
    assert case.tracking_code_hash != code and code not in str(case.__dict__)
    assert case.due_on is not None and case.due_stage == "triage"

    # The receipt is shown once: a reload does not show the code again.
    assert code not in client.get("/report/received", follow_redirects=True).get_data(as_text=True)

    # The receipt email carries the code; once sent, the outbox keeps no copy of it.
    messages = [email.message_from_bytes(p.read_bytes(), policy=policy.default)
                for p in mail_dir.glob("*.eml")]
    assert len(messages) == 1 and messages[0]["To"] == "binh@example.org"
    assert code in messages[0].get_body(("plain",)).get_content()
    outbox = session.scalars(select(OutboxMessage)).one()
    assert outbox.status == "sent" and outbox.payload == {"case_id": case.id}

    # A fresh browser finds the case with the code alone.
    other = app.test_client()
    track = other.get("/track").get_data(as_text=True)
    found = other.post("/track", data={"csrf_token": csrf_of(track), "code": code.lower()})
    assert found.status_code == 303, found.get_data(as_text=True)[-3000:]
    page_html = other.get(found.headers["Location"]).get_data(as_text=True)
    assert case.reference in page_html
    assert "Sở Xây dựng" in page_html
    assert "3 rõ" in page_html

    # The photo is served only to the holder of the code, as an attachment, without its EXIF.
    attachment = session.scalars(select(Attachment)).one()
    url = f"/track/{case.reference}/files/{attachment.id}"
    served = other.get(url)
    assert served.status_code == 200
    assert served.headers["Content-Disposition"].startswith("attachment")
    assert b"PhoneMaker" not in served.data and served.data[:3] == b"\xff\xd8\xff"
    assert app.test_client().get(url).status_code == 404
    assert app.test_client().get(f"/track/{case.reference}").status_code == 404


def test_the_same_form_sent_twice_creates_one_case_and_shows_its_receipt_again(client, factory,
                                                                               session):
    page = ReportPage(client, factory)
    first = page.send()
    assert first.status_code == 303
    code = CODE.search(client.get(first.headers["Location"]).get_data(as_text=True)).group(1)
    second = page.send()
    assert count(session, Case) == 1
    assert second.status_code == 200
    assert code not in second.get_data(as_text=True)  # the receipt was already shown and taken


def _sent_again_with_the_old_cookie(client, factory):
    """The form sent, then sent again as if the first answer never arrived: the second request
    carries the cookie from before the first. The first receipt's code, and the second answer."""
    page = ReportPage(client, factory)
    cookie = client.get_cookie("portal_session").value
    first = page.send()
    code = CODE.search(client.get(first.headers["Location"]).get_data(as_text=True)).group(1)
    client.set_cookie("portal_session", cookie)
    return code, page.send()


def test_a_double_click_shows_the_same_receipt_to_the_second_request(client, factory, session):
    """Both requests leave the browser before the first answer: the second carries the old cookie."""
    code, second = _sent_again_with_the_old_cookie(client, factory)
    assert count(session, Case) == 1
    assert second.status_code == 200
    assert CODE.search(second.get_data(as_text=True)).group(1) == code


def test_a_form_sent_again_after_a_lost_answer_gets_its_receipt_even_at_the_limit(app, client,
                                                                                  factory,
                                                                                  session):
    """The first answer never arrived (the old cookie is sent again), and this session has
    now used up its reports: it is told its report was received, not that it was refused."""
    app.config.update(REPORT_LIMIT_PER_SESSION=1)
    code, second = _sent_again_with_the_old_cookie(client, factory)
    assert (second.status_code, count(session, Case)) == (200, 1)
    assert CODE.search(second.get_data(as_text=True)).group(1) == code


def test_another_browser_sending_a_used_token_learns_no_code(app, client, factory, session):
    page = ReportPage(client, factory)
    page.send()
    stranger = app.test_client()
    html = stranger.get("/report").get_data(as_text=True)
    response = stranger.post("/report", data={**page.fields, "csrf_token": csrf_of(html)})
    assert response.status_code == 200
    assert not CODE.search(response.get_data(as_text=True))
    assert count(session, Case) == 1


def test_a_reporter_answers_the_fronts_question_on_the_tracking_page(client, factory, session):
    page = ReportPage(client, factory)
    client.get(page.send().headers["Location"])
    case = session.scalars(select(Case)).one()
    lifecycle.ask_info(session, case, Actor.staff(factory.moderator()),
                       question="Số biên nhận hồ sơ của anh/chị là gì?")
    session.commit()
    html = client.get(f"/track/{case.reference}").get_data(as_text=True)
    assert "Số biên nhận hồ sơ của anh/chị là gì?" in html
    reply = client.post(f"/track/{case.reference}/reply",
                        data={"csrf_token": csrf_of(html), "reply": "Biên nhận số 123/BN",
                              "version": str(case.version)})
    assert reply.status_code == 303
    session.expire_all()
    assert session.get(Case, case.id).status == CaseStatus.SUBMITTED


def exe_named_jpg():
    return [(io.BytesIO(b"MZ\x90\x00" + b"\x00" * 200), "photo.jpg")]


def oversized_png():
    return [(io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"\x00" * (10 * 1024 * 1024 + 10)), "big.png")]


BAD_INPUTS = {
    "empty fields": (dict(agency_id="", conduct="", sector="", description="",
                          reporter_kind=""), None, "agency_id"),
    "10,000-character text": (dict(description="x" * 10_000), None, "description"),
    "10,000-character name": (dict(reporter_name="y" * 10_000), None, "reporter_name"),
    "script tag": (dict(description="<script>alert(1)</script> hồ sơ quá hạn đã lâu lắm rồi"),
                   None, "description"),
    "executable renamed .jpg": ({}, exe_named_jpg, "evidence"),
    "oversized file": ({}, oversized_png, "evidence"),
    "unknown agency id": (dict(agency_id="999999"), None, "agency_id"),
    "agency id that is not a number": (dict(agency_id="SO-XD'--"), None, "agency_id"),
    "unknown conduct": (dict(conduct="murder"), None, "conduct"),
    "bad tax code": (dict(tax_code="12345"), None, "tax_code"),
    "bad email": (dict(reporter_email="not-an-address"), None, "reporter_email"),
    "future date": (dict(occurred_on="2999-01-01"), None, "occurred_on"),
    "unknown commune": (dict(ward_code="99999"), None, "ward_code"),
    "agency id beyond any column": (dict(agency_id=str(2**31)), None, "agency_id"),
    "agency id beyond 64 bits": (dict(agency_id=str(2**70)), None, "agency_id"),
    "negative agency id": (dict(agency_id="-1"), None, "agency_id"),
    "malformed date": (dict(occurred_on="31/02/2026"), None, "occurred_on"),
    "tax code in other digits": (dict(tax_code="٠١٠١٢٣٤٥٦٧"), None, "tax_code"),
    "address with an accented domain": (dict(reporter_email="tëst@exämple.org"), None,
                                        "reporter_email"),
}


@pytest.mark.parametrize("label", list(BAD_INPUTS))
def test_bad_input_gets_a_message_next_to_its_field_and_stores_nothing(label, app, client,
                                                                       factory, session):
    changes, files, field_name = BAD_INPUTS[label]
    page = ReportPage(client, factory)
    response = page.send(files=files() if files else None, **changes)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    # The message sits in the field's own error list, which the field points to.
    assert f'id="{field_name}-error"' in html
    assert f'aria-describedby="{field_name}' in html or field_name in ("conduct",)
    assert "<script>alert(1)</script>" not in html  # echoed back escaped, never live
    if label == "script tag":
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # what was typed is kept
    assert count(session, Case) == 0 and count(session, CaseEvent) == 0
    assert count(session, Attachment) == 0 and stored_files(app) == []


def test_typed_text_survives_an_error_and_the_page_says_files_must_be_attached_again(client,
                                                                                    factory):
    page = ReportPage(client, factory)
    response = page.send(files=[(io.BytesIO(photo_with_location()), "a.jpg")], agency_id="")
    html = response.get_data(as_text=True)
    assert "Công ty TNHH Xây dựng Ánh Dương" in html and "12 Hàng Bài" in html
    assert "attach them again" in html or "đính kèm lại" in html


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_missing_or_stale_csrf_token_keeps_the_text_and_stores_nothing(token, client, factory,
                                                                       session):
    page = ReportPage(client, factory)
    response = page.send(csrf_token=token)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Công ty TNHH Xây dựng Ánh Dương" in html
    assert 'class="notice warning"' in html
    assert count(session, Case) == 0
    # The page that comes back can be sent as it is.
    resent = page.send(csrf_token=csrf_of(html), submission_token=TOKEN.search(html).group(1))
    assert resent.status_code == 303
    assert count(session, Case) == 1


@pytest.mark.parametrize("token", ["abc\x00def", "x" * 5000, "'; DROP TABLE cases; --"])
def test_a_malformed_one_time_token_is_refused_without_a_crash(token, client, factory, session):
    response = ReportPage(client, factory).send(submission_token=token)
    assert response.status_code == 400
    assert count(session, Case) == 0


def test_huge_ids_in_addresses_are_not_found(client):
    assert client.get(f"/track/PA26-{2**70}").status_code == 404
    assert client.get(f"/track/PA26-0000001/files/{2**40}").status_code == 404


def test_tracking_pages_are_not_cached(client):
    assert client.get("/track").headers["Cache-Control"] == "no-store"


def test_a_tampered_one_time_token_is_refused(client, factory, session):
    page = ReportPage(client, factory)
    response = page.send(submission_token=page.fields["submission_token"] + "x")
    assert response.status_code == 400
    assert count(session, Case) == 0
    # The form comes back with a fresh token that works.
    fresh = TOKEN.search(response.get_data(as_text=True)).group(1)
    assert page.send(submission_token=fresh).status_code == 303


def test_control_characters_are_removed_before_storing(client, factory, session):
    page = ReportPage(client, factory)
    text = "Hồ sơ\x00 của tôi bị trả lại\x07 nhiều lần không có lý do rõ ràng."
    assert page.send(description=text).status_code == 303
    assert session.scalars(select(Case)).one().description == (
        "Hồ sơ của tôi bị trả lại nhiều lần không có lý do rõ ràng.")


def test_a_wrong_tracking_code_finds_nothing(client):
    html = client.get("/track").get_data(as_text=True)
    response = client.post("/track", data={"csrf_token": csrf_of(html),
                                           "code": "ABCD-EFGH-JKMN-PQRS"})
    assert response.status_code == 400
    assert 'id="code-error"' in response.get_data(as_text=True)


def test_tracking_codes_are_long_and_unpredictable():
    codes = {receipts.new_tracking_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(receipts.looks_like_tracking_code(c) for c in codes)
    tokens = [receipts.new_submission_token() for _ in range(200)]
    derived = {receipts.tracking_code_for("secret-key-one", t) for t in tokens}
    assert len(derived) == 200 and all(receipts.looks_like_tracking_code(c) for c in derived)
    # Another key gives other codes: the token alone reveals nothing.
    assert receipts.tracking_code_for("secret-key-two", tokens[0]) != receipts.tracking_code_for(
        "secret-key-one", tokens[0])


@pytest.mark.parametrize("path", ["/", "/report", "/track", "/no-such-page"])
def test_security_headers_on_every_response(client, path):
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_an_unexpected_error_is_a_page_with_headers_not_a_trace(app, client):
    @app.get("/boom")
    def boom():
        raise RuntimeError("database exploded")

    response = client.get("/boom")
    assert response.status_code == 500
    assert "database exploded" not in response.get_data(as_text=True)
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_session_cookie_is_httponly_and_samesite(client):
    response = client.get("/report")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_vietnamese_by_default_and_english_on_request(client):
    assert 'lang="vi"' in client.get("/").get_data(as_text=True)
    client.get("/lang/en?next=/report")
    assert 'lang="en"' in client.get("/").get_data(as_text=True)
    assert client.get("/lang/en?next=https://evil.example/").headers["Location"] == "/"


def test_no_asset_from_another_host(client):
    for path in ("/", "/report", "/track"):
        html = client.get(path).get_data(as_text=True)
        assert not re.search(r'(src|href)="(https?:)?//', html), path
