"""Abuse controls of the anonymous side, through HTTP: rate limits per session and per client,
the honeypot, the ban list and its administration, and tracking codes pasted into a report."""

from __future__ import annotations

import html
import logging
import re
from datetime import timedelta

import pytest
from flask import session as flask_session
from sqlalchemy import func, select

from portal import abuse, jobs, receipts
from portal.config import load_settings
from portal.db import new_session, utcnow
from portal.models import BannedContact, Case, RateLimitHit
from portal.open311 import keys
from tests.helpers import csrf_of
from tests.test_admin import Staff
from tests.test_citizen import CODE, ReportPage
from tests.test_totp import meet_after_first_commit, run_together

OTHER_ADDRESS = "203.0.113.9"


def count(session, model, *where) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model).where(*where))


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def file_report(client, factory, **changes):
    """One report from this browser, as a person fills the form (contacts of their own)."""
    page = ReportPage(client, factory)
    return page.send(**{"reporter_email": None, "reporter_phone": None, **changes})


def from_address(client, address: str):
    client.environ_base["REMOTE_ADDR"] = address
    return client


@pytest.fixture
def english(client):
    client.get("/lang/en")
    return client


# -- reports: per session and per client ------------------------------------------------------


def test_the_default_limits(tmp_path):
    settings = load_settings(tmp_path, {"PORTAL_ENV": "test", "SECRET_KEY": "x" * 40})
    assert (settings.report_limit_per_session, settings.report_limit_per_client) == (5, 20)
    assert (settings.track_limit_per_session, settings.track_limit_per_client) == (30, 100)
    assert abuse.REPORT.window == timedelta(hours=1)
    assert abuse.TRACK.window == timedelta(minutes=10)


@pytest.mark.parametrize("value", ["0", "-1", "many", "100001"])
def test_a_bad_limit_stops_start_up_naming_it(tmp_path, value):
    from portal.config import ConfigError

    with pytest.raises(ConfigError, match="TRACK_LIMIT_PER_CLIENT"):
        load_settings(tmp_path, {"PORTAL_ENV": "test", "SECRET_KEY": "x" * 40,
                                 "TRACK_LIMIT_PER_CLIENT": value})


def test_a_session_files_five_reports_an_hour_then_gets_429_and_nothing_is_stored(
        app, english, factory, session, caplog):
    assert app.config["REPORT_LIMIT_PER_SESSION"] == 5  # the real default
    for _ in range(5):
        assert file_report(english, factory).status_code == 303
    caplog.set_level(logging.INFO)
    page = ReportPage(english, factory)
    response = page.send(reporter_email=None, reporter_phone=None,
                         description="Một báo cáo thứ sáu trong một giờ, không được lưu lại.")
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= 3600
    body = text_of(response)
    assert "Too many reports were sent from this device or this network" in body
    # The form comes back with what was typed, next to the message.
    assert "Một báo cáo thứ sáu trong một giờ" in body and 'action="/report"' in body
    assert count(session, Case) == 5
    # Logged, without the address or the text.
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "rate limit per session" in logged
    assert "127.0.0.1" not in logged and "thứ sáu" not in logged


def test_the_client_limit_holds_across_new_sessions_and_spares_other_addresses(
        app, factory, session):
    app.config.update(REPORT_LIMIT_PER_SESSION=2, REPORT_LIMIT_PER_CLIENT=3)
    first = app.test_client()
    assert [file_report(first, factory).status_code for _ in range(3)] == [303, 303, 429]

    # A bot dropping its cookie is a new session from the same address: one more, then no more.
    second = app.test_client()
    assert file_report(second, factory).status_code == 303
    refused = file_report(second, factory)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert count(session, Case) == 3

    # Another address (another office) is not held back by this one.
    elsewhere = from_address(app.test_client(), OTHER_ADDRESS)
    assert file_report(elsewhere, factory).status_code == 303
    assert count(session, Case) == 4


def test_one_session_reaches_its_limit_long_before_a_shared_address_does(app, factory, session):
    # The defaults: an abuser in a commune office stops at 5; a colleague still reports.
    abuser = app.test_client()
    assert [file_report(abuser, factory).status_code for _ in range(6)][-1] == 429
    colleague = app.test_client()
    assert file_report(colleague, factory).status_code == 303
    assert count(session, Case) == 6


def test_behind_a_proxy_the_forwarded_address_is_the_client(app, database_url, tmp_path, factory,
                                                            session):
    from portal import create_app
    from tests.conftest import _environ

    proxied = create_app({**_environ(database_url, tmp_path), "TRUSTED_PROXIES": "1"},
                         instance_path=tmp_path / "proxied")
    proxied.config.update(REPORT_LIMIT_PER_SESSION=5, REPORT_LIMIT_PER_CLIENT=1)
    try:
        def browser(address: str):
            client = proxied.test_client()
            client.environ_base["HTTP_X_FORWARDED_FOR"] = address
            return client

        assert file_report(browser("198.51.100.20"), factory).status_code == 303
        assert file_report(browser("198.51.100.20"), factory).status_code == 429
        assert file_report(browser("198.51.100.21"), factory).status_code == 303
    finally:
        proxied.extensions["db_engine"].dispose()
    keys_stored = " ".join(session.scalars(select(RateLimitHit.key)))
    assert "198.51.100" not in keys_stored


def test_no_raw_address_or_session_id_is_stored(app, factory, session):
    client = from_address(app.test_client(), OTHER_ADDRESS)
    assert file_report(client, factory).status_code == 303
    session.expire_all()
    hits = session.scalars(select(RateLimitHit)).all()
    assert {h.bucket for h in hits} == {"report"} and len(hits) == 2  # client and session
    with client.session_transaction() as browser:
        session_id = browser[abuse.SESSION_ID]
    for hit in hits:
        assert re.fullmatch(r"[0-9a-f]{64}", hit.key)
        assert OTHER_ADDRESS not in hit.key and session_id not in hit.key
    every_value = " ".join(f"{h.bucket} {h.key} {h.created_at}" for h in hits)
    assert OTHER_ADDRESS not in every_value and "203.0.113" not in every_value


def test_a_form_with_mistakes_is_not_counted(app, factory, session):
    app.config.update(REPORT_LIMIT_PER_SESSION=1)
    client = app.test_client()
    for _ in range(3):
        assert file_report(client, factory, description="ngắn").status_code == 400
    assert file_report(client, factory).status_code == 303
    assert count(session, RateLimitHit) == 2


def test_old_hits_are_pruned(app, session):
    old = utcnow() - timedelta(hours=2)
    session.add_all([RateLimitHit(bucket="report", key="a" * 64, created_at=old),
                     RateLimitHit(bucket="track", key="b" * 64, created_at=old),
                     RateLimitHit(bucket="report", key="c" * 64)])
    session.commit()
    with app.app_context():
        assert jobs.prune_rate_limit_hits() == 2
        assert jobs.prune_rate_limit_hits() == 0
    assert [h.key for h in session.scalars(select(RateLimitHit))] == ["c" * 64]


def test_hits_older_than_the_window_no_longer_count(app, factory, session):
    app.config.update(REPORT_LIMIT_PER_SESSION=1)
    client = app.test_client()
    assert file_report(client, factory).status_code == 303
    assert file_report(client, factory).status_code == 429
    for hit in session.scalars(select(RateLimitHit)):
        hit.created_at = utcnow() - timedelta(minutes=61)
    session.commit()
    assert file_report(client, factory).status_code == 303


# -- tracking lookups ---------------------------------------------------------------------------


def look_up(client, code: str):
    page = client.get("/track").get_data(as_text=True)
    return client.post("/track", data={"csrf_token": csrf_of(page), "code": code})


WRONG = "ABCD-EFGH-JKMN-PQRS"


def test_only_failed_lookups_count_and_the_limit_answers_429(app, factory, session):
    app.config.update(TRACK_LIMIT_PER_SESSION=3, TRACK_LIMIT_PER_CLIENT=5)
    _case, code = factory.report()
    session.commit()
    client = app.test_client()
    client.get("/lang/en")
    # A resident opening their own case again and again is never held back.
    for _ in range(10):
        assert look_up(client, code).status_code == 303
    # A malformed code is refused by the form and costs no lookup.
    assert look_up(client, "not a code").status_code == 400
    for _ in range(3):
        assert look_up(client, WRONG).status_code == 400
    refused = look_up(client, code)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 600
    assert "Too many tracking codes that match no report" in text_of(refused)
    assert count(session, RateLimitHit, RateLimitHit.bucket == "track") == 6  # 3 misses x 2 keys

    # A new session from the same address has two misses left; another address has all.
    fresh = app.test_client()
    assert [look_up(fresh, WRONG).status_code for _ in range(3)] == [400, 400, 429]
    elsewhere = from_address(app.test_client(), OTHER_ADDRESS)
    assert look_up(elsewhere, code).status_code == 303


def test_the_default_tracking_limit_is_thirty_misses_a_session(app, session):
    client = app.test_client()
    statuses = [look_up(client, WRONG).status_code for _ in range(31)]
    assert statuses == [400] * 30 + [429]


# -- the honeypot -------------------------------------------------------------------------------


def test_the_honeypot_is_hidden_from_people(english):
    body = english.get("/report").get_data(as_text=True)
    field = re.search(r'<input[^>]*name="homepage"[^>]*>', body).group(0)
    assert 'tabindex="-1"' in field and 'autocomplete="off"' in field
    assert re.search(r'<div class="visually-hidden">\s*<label for="homepage">Leave this field '
                     r'empty</label>', body)


def test_a_filled_honeypot_stores_nothing_and_gives_no_receipt(app, english, factory, session,
                                                              caplog):
    caplog.set_level(logging.INFO)
    page = ReportPage(english, factory)
    response = page.send(homepage="http://cheap-pills.example")
    assert response.status_code == 400
    body = text_of(response)
    assert "Your report could not be sent" in body
    assert "cheap-pills" not in body  # the field comes back empty
    assert not CODE.search(body)
    assert count(session, Case) == 0
    assert count(session, RateLimitHit) == 2  # counted: a bot soon meets the limit
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "honeypot" in logged and "cheap-pills" not in logged and "127.0.0.1" not in logged
    # A person whose browser filled it sends the same form again, and it goes through.
    assert page.send(homepage="").status_code == 303


# -- the ban list ---------------------------------------------------------------------------------


@pytest.fixture
def bans(app, session):
    def add(contact: str):
        with app.app_context():
            row = abuse.ban(session, contact, "gửi tin rác", None)
        session.commit()
        return row
    return add


@pytest.mark.parametrize(("banned", "sent"), [
    ("spammer@example.org", "  Spammer@Example.ORG "),
    ("SPAMMER@example.org", "spammer@example.org"),
])
def test_a_banned_email_is_refused_in_any_spelling(app, english, factory, session, bans,
                                                   caplog, banned, sent):
    bans(banned)
    caplog.set_level(logging.INFO)
    response = file_report(english, factory, reporter_email=sent)
    assert response.status_code == 400
    body = text_of(response)
    error = re.search(r'<ul class="field-errors" id="reporter_email-error">(.*?)</ul>', body, re.S)
    assert error and "This email address cannot be used for a report." in error.group(1)
    assert count(session, Case) == 0
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "on the ban list" in logged and "spammer" not in logged.lower()


@pytest.mark.parametrize(("banned", "sent"), [
    ("+84 912 345 678", "0912.345.678"),
    ("0912345678", "+84 912-345-678"),
    ("0084 912 345 678", "912 345 678"),
    ("84912345678", "+84912345678"),
])
def test_a_banned_phone_is_refused_in_any_spelling(app, english, factory, session, bans,
                                                   banned, sent):
    bans(banned)
    response = file_report(english, factory, reporter_phone=sent)
    assert response.status_code == 400, text_of(response)[-2000:]
    assert "This phone number cannot be used for a report." in text_of(response)
    assert count(session, Case) == 0


def test_other_contacts_and_anonymous_reports_still_go_through(app, english, factory, session,
                                                               bans):
    bans("spammer@example.org")
    bans("0912345678")
    assert file_report(english, factory, reporter_email="binh@example.org",
                       reporter_phone="0912 345 679").status_code == 303
    assert file_report(english, factory).status_code == 303
    assert count(session, Case) == 2


def test_ban_refusals_count_towards_the_limit(app, english, factory, session, bans):
    app.config.update(REPORT_LIMIT_PER_SESSION=2)
    bans("spammer@example.org")
    for _ in range(2):
        assert file_report(english, factory, reporter_email="spammer@example.org").status_code == 400
    assert file_report(english, factory).status_code == 429


def test_the_ban_applies_to_open311(client, session, bans):
    _row, key = keys.issue(session, "Ứng dụng", None)
    session.commit()
    bans("spammer@example.org")
    bans("+84 912 345 678")
    data = {"jurisdiction_id": "hanoi", "service_code": "slow_handling", "api_key": key,
            "attribute[agency]": "SO-XD", "attribute[sector]": "construction",
            "description": "Sở chưa trả lời hồ sơ xin cấp phép xây dựng đã quá hạn ba tuần."}
    for contact in ({"email": "Spammer@example.org"}, {"phone": "0912 345 678"}):
        response = client.post("/open311/v2/requests.json", data={**data, **contact})
        assert response.status_code == 400
        assert "cannot be used for a report" in response.get_data(as_text=True)
    assert count(session, Case) == 0
    assert client.post("/open311/v2/requests.json",
                       data={**data, "email": "binh@example.org"}).status_code == 200


def test_contacts_are_normalised_and_masked():
    assert abuse.normalise_phone("+84 (24) 3825 6789") == "02438256789"
    assert abuse.normalise_phone("+1 202 555 0100") == "+12025550100"
    assert abuse.kind_of("not a contact") is None
    assert abuse.hint("email", " Nguyen.Van.A@Gmail.com") == "n***@gmail.com"
    assert abuse.hint("phone", "+84 912 345 678") == "*******678"


# -- administering the ban list ------------------------------------------------------------------


def test_administrators_ban_and_lift_contacts(app, auth, factory, session):
    admin = Staff(auth, factory, session, "admin")
    assert "/admin/banned-contacts" in admin.get("/admin/").get_data(as_text=True)
    assert admin.get("/admin/banned-contacts").status_code == 200

    response = admin.auth.post("/admin/banned-contacts",
                               {"contact": " Spammer@Example.org", "reason": "Gửi tin rác"},
                               page="/admin/banned-contacts")
    assert response.status_code == 303
    row = session.scalars(select(BannedContact)).one()
    assert (row.kind, row.hint, row.reason) == ("email", "s***@example.org", "Gửi tin rác")
    assert row.created_by_id == admin.user.id
    assert "spammer" not in row.contact_key.lower() and len(row.contact_key) == 64
    listing = text_of(admin.get("/admin/banned-contacts"))
    assert "s***@example.org" in listing and "Gửi tin rác" in listing
    assert "spammer@example.org" not in listing.lower()

    # The same contact in another spelling is already on the list.
    again = admin.auth.post("/admin/banned-contacts",
                            {"contact": "SPAMMER@example.org", "reason": "lần nữa"},
                            page="/admin/banned-contacts")
    assert again.status_code == 400 and "already on the list" in text_of(again)
    bad = admin.auth.post("/admin/banned-contacts", {"contact": "hello", "reason": "x"},
                          page="/admin/banned-contacts")
    assert bad.status_code == 400 and "Enter an email address or a phone number" in text_of(bad)
    assert count(session, BannedContact) == 1

    # Without the CSRF token nothing changes.
    assert admin.client.post("/admin/banned-contacts",
                             data={"contact": "0912345678", "reason": "x"}).status_code == 400
    assert admin.client.post(f"/admin/banned-contacts/{row.id}/delete").status_code == 400
    assert count(session, BannedContact) == 1

    lifted = admin.auth.post(f"/admin/banned-contacts/{row.id}/delete",
                             page="/admin/banned-contacts")
    assert lifted.status_code == 303
    assert count(session, BannedContact) == 0


@pytest.mark.parametrize("role", ["supervisor", "moderator", "agency_officer"])
def test_only_administrators_see_the_ban_list(app, auth, factory, session, role):
    staff = Staff(auth, factory, session, role)
    assert staff.get("/admin/banned-contacts").status_code == 403
    response = staff.post("/admin/banned-contacts", contact="0912345678", reason="x")
    assert response.status_code == 403
    assert count(session, BannedContact) == 0


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get("/admin/banned-contacts")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# -- tracking codes pasted into a report -----------------------------------------------------------


def test_a_tracking_code_in_the_text_is_refused(app, english, factory, session):
    assert file_report(english, factory).status_code == 303
    code = CODE.search(english.get("/report/received").get_data(as_text=True)).group(1)
    for field, text in [
        ("description", f"Tôi đã gửi phản ánh trước, mã của tôi là {code}, mà chưa ai trả lời."),
        ("description", f"Mã {code.lower()} vẫn chưa được xử lý, đã quá hạn nhiều tuần."),
        ("address", f"12 Hàng Bài ({code.replace('-', ' ')})"),
    ]:
        response = file_report(english, factory, **{field: text})
        assert response.status_code == 400, (field, text)
        error = re.search(rf'id="{field}-error">(.*?)</ul>', text_of(response), re.S)
        assert error and "Never share your tracking code" in error.group(1)
    assert count(session, Case) == 1
    assert count(session, RateLimitHit) == 2  # a person's mistake is not counted as abuse


def test_any_code_shaped_string_is_refused_but_ordinary_words_are_not(app, english, factory,
                                                                      session):
    response = file_report(english, factory, description=f"Có mã {WRONG} trong thư của Sở gửi.")
    assert response.status_code == 400 and "Never share your tracking code" in text_of(response)
    ordinary = "Toi da den dang ngay nhan phat ma chua co ket qua, ho so nop tu thang tam."
    assert file_report(english, factory, description=ordinary).status_code == 303


def test_a_tracking_code_in_a_reply_is_refused(app, english, factory, session):
    case, code = factory.report()
    factory.step(case, "ask_info")
    session.commit()
    assert look_up(english, code).status_code == 303
    page = english.get(f"/track/{case.reference}").get_data(as_text=True)
    response = english.post(f"/track/{case.reference}/reply", data={
        "csrf_token": csrf_of(page), "version": str(case.version),
        "reply": f"Văn phòng một cửa phường, mã {code} của tôi."})
    assert response.status_code == 400
    assert "Never share your tracking code" in text_of(response)
    session.expire_all()
    assert session.get(Case, case.id).status == "needs_info"


def test_tracking_code_spellings_that_track_takes_are_refused_in_a_report(app, english, factory,
                                                                          session):
    # /track keeps only letters and digits, so each of these finds the case...
    case, code = factory.report()
    session.commit()
    for written in spellings(code).values():
        assert look_up(app.test_client(), written).status_code == 303, written
    # ...and so none may stand in a report's text. (A code of its own, with digits in it.)
    for how, written in spellings(MIXED).items():
        response = file_report(english, factory,
                               description=f"Tôi đã gửi rồi, mã là {written} mà chưa ai trả lời.")
        assert response.status_code == 400, how
        assert f"Remove “{written}”" in text_of(response), how
    assert count(session, Case) == 1


MIXED = "K7XQ-M2PA-9RTZ-H3VD"


def spellings(code: str) -> dict[str, str]:
    raw = code.replace("-", "")
    groups = [raw[i:i + 4] for i in range(0, len(raw), 4)]
    return {"dots": ".".join(groups), "underscores": "_".join(groups),
            "slashes": "/".join(groups), "lower case, spaced": " ".join(groups).lower(),
            "en dashes": "\u2013".join(groups), "spaced dashes": " - ".join(groups).lower(),
            "lower case, dots": ".".join(groups).lower()}


@pytest.mark.parametrize(("text", "found"), [
    ("Toi da den dang ngay nhan phat ma chua co ket qua.", None),  # four short words
    ("Bien nhan so 2345 6789 2345 6789 cua ngan hang.", None),  # digits alone: a bank card
    ("Den ngay nhan phat 2345 van chua xong.", None),  # words and a number
    ("ban dang ngay nhan k7xq m2pa 9rtz h3vd", "k7xq m2pa 9rtz h3vd"),  # the code, not a word
    ("DANG NGAY NHAN PHAT", "DANG NGAY NHAN PHAT"),  # in capitals, as codes are printed
    ("mã abcd-efgh-jkmn-pqrs.", "abcd-efgh-jkmn-pqrs"),
    ("xabcd-efgh-jkmn-pqrs", None),  # seventeen symbols: /track would not take it either
])
def test_what_counts_as_a_tracking_code_in_a_text(text, found):
    assert receipts.tracking_code_in(text) == found


# -- counting before looking --------------------------------------------------------------------


def browser_request(app, address: str = "198.51.100.30", session_id: str = "one-browser"):
    """A request from one browser (one session id) at one address, as a context to run in."""
    context = app.test_request_context(environ_base={"REMOTE_ADDR": address})

    class Request:
        def __enter__(self):
            context.__enter__()
            flask_session[abuse.SESSION_ID] = session_id
            return self

        def __exit__(self, *exc):
            return context.__exit__(*exc)

    return Request()


def test_a_hit_is_counted_before_the_limit_is_looked_at(app, session):
    app.config.update(REPORT_LIMIT_PER_SESSION=1, REPORT_LIMIT_PER_CLIENT=100)
    with app.app_context():
        first, second = new_session(), new_session()
    try:
        with browser_request(app):
            a = abuse.hit(first, abuse.REPORT)
        with browser_request(app):
            b = abuse.hit(second, abuse.REPORT)
        assert a.limited is None
        assert b.limited is not None and b.limited.by == "session"
        assert 3590 <= b.limited.retry_after <= 3600
        assert count(session, RateLimitHit) == 2  # A's, under both keys; B's taken back
        with browser_request(app):
            abuse.forgive(first, a)  # A stored nothing after all
            assert abuse.hit(second, abuse.REPORT).limited is None
    finally:
        first.close()
        second.close()


def test_two_requests_interleaved_cannot_both_pass_the_limit(app, session):
    """The race of count-then-record: A and B both look, both see room, both go on. Here each
    one's hit is committed before it looks; forced into the worst order (A counted, B counted,
    A looks, B looks), the first to look sees the other and is refused. (It then takes its hit
    back, so the second may find room: never both.)"""
    app.config.update(REPORT_LIMIT_PER_SESSION=1, REPORT_LIMIT_PER_CLIENT=100)
    with app.app_context():
        first, second = new_session(), new_session()
    meet_after_first_commit(first, second)

    def request(db):
        def run():
            with browser_request(app):
                return abuse.hit(db, abuse.REPORT)
        return run

    try:
        results = run_together(request(first), request(second))
    finally:
        first.close()
        second.close()
    passed = [r for r in results if r.limited is None]
    assert len(passed) <= 1
    # What stays counted is what passed: a refused request's hit is taken back.
    assert count(session, RateLimitHit) == 2 * len(passed)


def test_a_stored_report_is_counted_once(app, english, factory, session):
    page = ReportPage(english, factory)
    assert page.send(reporter_email=None, reporter_phone=None).status_code == 303
    again = page.send(reporter_email=None, reporter_phone=None)  # the same form, sent twice
    assert again.status_code == 200 and CODE.search(again.get_data(as_text=True))
    assert count(session, Case) == 1
    assert count(session, RateLimitHit) == 2  # one hit, under the session's and client's keys


def test_addresses_of_one_ipv6_64_are_one_client(app, factory, session):
    app.config.update(REPORT_LIMIT_PER_SESSION=5, REPORT_LIMIT_PER_CLIENT=1)
    assert file_report(from_address(app.test_client(), "2001:db8:5:6::1"), factory).status_code == 303
    assert file_report(from_address(app.test_client(), "2001:db8:5:6:9::2"),
                       factory).status_code == 429
    assert file_report(from_address(app.test_client(), "2001:db8:5:7::1"), factory).status_code == 303


# -- the ban list is not asked when nothing is counted ------------------------------------------


@pytest.mark.parametrize("broken", ["submission_token", "csrf_token"])
def test_a_form_that_is_not_counted_does_not_tell_whether_a_contact_is_banned(
        app, english, factory, session, bans, caplog, broken):
    """A report whose form token has expired (or whose CSRF token fails) is not counted toward
    the limit: if it still said "this email cannot be used", contacts could be tried for free."""
    bans("spammer@example.org")
    caplog.set_level(logging.INFO)
    for _ in range(3):
        page = ReportPage(english, factory)
        response = page.send(reporter_email="spammer@example.org", **{broken: "x" * 32})
        assert response.status_code == 400
        body = text_of(response)
        assert "This form has expired" in body and "spammer@example.org" in body  # kept
        assert "cannot be used for a report" not in body
    assert "on the ban list" not in "\n".join(r.getMessage() for r in caplog.records)
    assert count(session, RateLimitHit) == 0
    # Sent properly, the ban answers, and the attempt counts.
    response = file_report(english, factory, reporter_email="spammer@example.org")
    assert "This email address cannot be used for a report." in text_of(response)
    assert count(session, RateLimitHit) == 2
