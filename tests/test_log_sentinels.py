"""No report text, receipt code, password, session, token or client address ever reaches a log.

A whole journey runs through HTTP with sentinel values in every field a person types, from a
sentinel client address, with every logger captured at DEBUG: a resident reports, tracks the
case and replies; a moderator signs in and works the case; an agency head invites an officer,
who chooses a password from the emailed link and answers; the resident disputes, then rates;
someone fails to sign in until throttled; forms without their CSRF token, pages of another
role, a case of nobody's, a wrong method; the background jobs run. Then every log record is
read. The same records must hold the sign-ins and the refusals, so the test fails both ways.

The servers' own request logs (werkzeug's development server, gunicorn's access log) are
checked with real servers: they would print the client's address, the query string and the
invitation token of `/account/activate/<token>`.
"""

from __future__ import annotations

import email
import http.client
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from email import policy
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.serving import make_server

from portal import deadlines, jobs, lifecycle
from portal.accounts import create_user
from portal.models import Case, User
from tests.test_citizen import CODE

CLIENT_IP = "203.0.113.77"
STRANGER_IP = "203.0.113.66"  # the one who guesses passwords: throttled, unlike the staff
FORWARDED_IP = "198.51.100.23"
TEXT = "Zzlogsentinel"  # in every free text, each time with the field's name after it
EMAIL = "zz.logsentinel@example.org"
PHONE = "0987 606 707"
TAX_CODE = "0109876543"
PASSWORDS = {"moderator": "Zzpw-moderator-q7Lk2", "head": "Zzpw-head-r8Mn3",
             "officer": "Zzpw-officer-s9Pw4", "wrong": "Zzpw-wrong-t1Qx5"}
UNKNOWN_EMAIL = "zz.logsentinel.nobody@example.org"
SCORES = {"access": "4", "procedure": "3", "attitude": "5", "result": "4", "handling": "4",
          "overall": "4"}
SESSION_COOKIE = "portal_session"
INPUT = re.compile(r"<input[^>]*>")
VERSION = re.compile(r'name="version" type="hidden" value="(\d+)"')


def text(field: str) -> str:
    return f"{TEXT} {field}: hồ sơ cấp phép xây dựng quá hạn ba tuần rồi."


class Secrets(set):
    """Every secret value the journey handed out, as it was handed out."""

    def harvest(self, app, client, html: str = "") -> None:
        for tag in INPUT.findall(html):
            if re.search(r'name="(csrf_token|submission_token)"', tag):
                value = re.search(r'value="([^"]+)"', tag)
                if value:
                    self.add(value.group(1))
        cookie = client.get_cookie(SESSION_COOKIE)
        if cookie is None or not cookie.value:
            return
        self.add(cookie.value)
        data = app.session_interface.get_signing_serializer(app).loads(cookie.value)
        # The raw CSRF token, Flask-Login's session identifier (a hash of the address), the
        # one-time tokens of report forms.
        for key in ("csrf_token", "_id"):
            if isinstance(data.get(key), str):
                self.add(data[key])
        self.update(t for t in data.get("report_tokens", []) if isinstance(t, str))


class Browser:
    """One person's browser, from the sentinel address, remembering every secret it was given."""

    def __init__(self, app, secrets: Secrets, address: str = CLIENT_IP):
        self.app, self.secrets = app, secrets
        self.client = app.test_client()
        self.client.environ_base.update({"REMOTE_ADDR": address,
                                         "HTTP_X_FORWARDED_FOR": FORWARDED_IP})

    def _read(self, response) -> tuple[int, str, str | None]:
        html = response.get_data(as_text=True)
        response.close()  # as a server does: the notifications queued go out now
        self.secrets.harvest(self.app, self.client, html)
        return response.status_code, html, response.headers.get("Location")

    def get(self, path: str, expect: int | None = 200) -> str:
        status, html, _ = self._read(self.client.get(path))
        assert expect is None or status == expect, (path, status)
        return html

    def post(self, path: str, data: dict, *, page: str | None = None, expect: int = 303) -> str:
        """POST as a browser does, with the token of the page it came from (none if page='')."""
        fields = dict(data)
        if page != "":
            fields["csrf_token"] = csrf_of(self.get(page or path))
        status, html, location = self._read(self.client.post(path, data=fields))
        assert status == expect, (path, status, html[-2000:])
        return location or html

    def sign_in(self, email: str, password: str, expect: int = 303) -> str:
        return self.post("/login", {"email": email, "password": password}, expect=expect)

    def act(self, area: str, case_id: int, action: str, data: dict | None = None) -> None:
        page = f"/{area}/cases/{case_id}"
        html = self.get(page)
        version = VERSION.search(html)
        assert version, f"{page} offers no form with the case's version"
        self.post(f"{page}/act/{action}", {"version": version.group(1), **(data or {})}, page=page)


def emails(mail_dir: Path) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(p.read_bytes(), policy=policy.default)
            for p in sorted(mail_dir.glob("*.eml"))]


def csrf_of(html: str) -> str:
    for tag in INPUT.findall(html):
        if 'name="csrf_token"' in tag:
            return re.search(r'value="([^"]+)"', tag).group(1)
    raise AssertionError("the page has no CSRF token")


def fetch(port: int, path: str, headers: dict[str, str]) -> int:
    """A GET to a real server on loopback, as a browser behind a proxy sends it."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def record_text(record: logging.LogRecord) -> str:
    formatted = logging.Formatter("%(name)s %(levelname)s %(message)s").format(record)
    return f"{formatted}\n{record.msg!r}\n{record.args!r}\n{vars(record)!r}"


def assert_no_secret(records: list[logging.LogRecord], secrets: set[str]) -> None:
    assert records, "nothing was logged at all: the capture does not work"
    lowered = {s.lower() for s in secrets if s}
    for record in records:
        seen = record_text(record).lower()
        for secret in lowered:
            assert secret not in seen, f"{secret!r} reached the log: {record_text(record)[:600]}"


def between(caplog, start: int) -> list[logging.LogRecord]:
    return caplog.records[start:]


def refusals(records) -> list[str]:
    return [r.getMessage() for r in records
            if r.name == "portal.errors" and r.levelno == logging.WARNING]


def test_no_secret_of_a_whole_journey_reaches_any_log(app, factory, session, mail_dir, caplog,
                                                      monkeypatch):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="werkzeug")
    secrets = Secrets({CLIENT_IP, STRANGER_IP, FORWARDED_IP, TEXT, EMAIL, PHONE, PHONE.replace(" ", ""),
                       TAX_CODE, UNKNOWN_EMAIL, *PASSWORDS.values()})
    moderator = create_user(session, "moderator.logs@example.org", "moderator",
                            PASSWORDS["moderator"], "MTTQ-HN", name="Kiểm soát viên")
    head = create_user(session, "head.logs@example.org", "agency_head", PASSWORDS["head"],
                       "SO-XD", name="Trưởng phòng")
    session.commit()
    agency_id = factory.agency("SO-XD").id

    # A business reports, with a sentinel in every field it can type, and gets its code.
    resident = Browser(app, secrets)
    html = resident.get("/report")
    token = re.search(r'id="submission_token"[^>]*value="([^"]+)"', html).group(1)
    location = resident.post("/report", {
        "submission_token": token, "agency_id": str(agency_id), "conduct": "slow_handling",
        "sector": "construction", "description": text("description"), "occurred_on": "2026-10-05",
        "ward_code": "70", "address": text("address"), "reporter_kind": "business",
        "business_name": text("business"), "tax_code": TAX_CODE, "reporter_name": text("name"),
        "reporter_email": EMAIL, "reporter_phone": PHONE, "confidential": "y",
        "publish_consent": "y"}, page="/report")
    code = CODE.search(resident.get(location)).group(1)
    secrets.update({code, code.replace("-", "")})
    case_id = session.scalars(select(Case.id)).one()

    # It comes back with the code alone.
    tracked = resident.post("/track", {"code": code})
    reference = tracked.rsplit("/", 1)[1]
    resident.get(tracked)

    # Someone tries the moderator's account with a wrong password until throttled, and an
    # account that does not exist.
    start = len(caplog.records)
    stranger = Browser(app, secrets, STRANGER_IP)
    stranger.sign_in(UNKNOWN_EMAIL, PASSWORDS["wrong"], expect=400)
    for _ in range(5):
        stranger.sign_in(moderator.email, PASSWORDS["wrong"], expect=400)
    stranger.sign_in(moderator.email, PASSWORDS["wrong"], expect=429)
    failures = [r for r in between(caplog, start)
                if r.name.startswith("portal.auth") and r.levelno >= logging.WARNING]
    assert len(failures) >= 6, "failed sign-ins were not logged"
    assert any("429" in m and "auth.sign_in" in m for m in refusals(between(caplog, start)))

    # The moderator signs in and works the case.
    start = len(caplog.records)
    front = Browser(app, secrets)
    front.sign_in(moderator.email, PASSWORDS["moderator"])
    assert any(r.name.startswith("portal.auth") and r.levelno >= logging.INFO
               and str(moderator.id) in r.getMessage() for r in between(caplog, start)), \
        "the sign-in was not logged"
    front.act("moderation", case_id, "note", {"text": text("note")})
    front.act("moderation", case_id, "ask_info", {"question": text("question")})

    # The resident answers the question on the tracking page.
    page = resident.get(tracked)
    resident.post(f"{tracked}/reply", {"reply": text("reply"),
                                       "version": VERSION.search(page).group(1)}, page="/track")

    front.act("moderation", case_id, "redact", {"redacted_text": text("redacted")})
    front.act("moderation", case_id, "forward", {"agency_id": str(agency_id),
                                                 "recommendation": text("recommendation")})

    # The head invites an officer, who chooses a password from the emailed link.
    boss = Browser(app, secrets)
    boss.sign_in(head.email, PASSWORDS["head"])
    officer_email = "zz.logsentinel.officer@example.org"
    boss.post("/agency/team/invite", {"email": officer_email, "name": text("officer")},
              page="/agency/team")
    invitation = next(m.get_body(("plain",)).get_content() for m in emails(mail_dir)
                      if m["To"] == officer_email)
    link = re.search(r"/account/activate/([A-Za-z0-9_.\-]+)", invitation).group(1)
    secrets.update({link, link.rsplit(".", 1)[-1]})
    officer = Browser(app, secrets)
    officer.get(f"/account/activate/{link}")
    officer.post(f"/account/activate/{link}", {"new": PASSWORDS["officer"],
                                               "confirm": PASSWORDS["officer"]})
    officer_id = session.scalar(select(User.id).where(User.email == officer_email))

    boss.act("agency", case_id, "acknowledge")
    boss.act("agency", case_id, "assign_officer", {"officer_id": str(officer_id)})
    answer = {"findings": text("findings"), "outcome": "substantiated",
              "actions_taken": text("actions"), "reply_to_recommendation": text("reply to")}
    officer.act("agency", case_id, "answer", answer)
    front.act("moderation", case_id, "accept_answer", {"assessment": text("assessment")})

    # The resident disputes; the Front returns the answer; the agency answers again; the
    # resident rates.
    page = resident.get(tracked)
    resident.post(f"{tracked}/dispute", {"reason": text("dispute"),
                                         "version": VERSION.search(page).group(1)}, page="/track")
    front.act("moderation", case_id, "return_answer", {"reason": text("return")})
    officer.act("agency", case_id, "answer", {**answer, "findings": text("findings again")})
    front.act("moderation", case_id, "accept_answer", {"assessment": text("assessment again")})
    page = resident.get(tracked)
    resident.post(f"{tracked}/rate", {**SCORES, "comment": text("comment"),
                                      "version": VERSION.search(page).group(1)}, page="/track")
    session.expire_all()
    assert session.get(Case, case_id).status == "closed"

    # Refusals: forms without their token, another role's page, a case of nobody's, a method
    # a page does not take.
    start = len(caplog.records)
    resident.post("/track", {"code": code}, page="", expect=400)
    front.post(f"/moderation/cases/{case_id}/act/note", {"text": text("no token")}, page="",
               expect=400)
    officer.get("/moderation/", expect=403)
    front.get("/moderation/cases/999999", expect=404)
    front.get("/logout", expect=405)
    resident.get(f"/track/{reference}-x", expect=404)  # a resident's 404: not worth a line
    lines = refusals(between(caplog, start))
    assert any("citizen.track -> 400 (CSRF" in m and "user -" in m for m in lines), lines
    assert any("moderation.act -> 400 (CSRF" in m and f"user {moderator.id}" in m
               for m in lines), lines
    assert any("moderation.queue -> 403" in m and f"user {officer_id}" in m for m in lines), lines
    assert any("moderation.case_page -> 404" in m and f"user {moderator.id}" in m
               for m in lines), lines
    assert any("GET auth.sign_out -> 405" in m for m in lines), lines
    assert len(lines) == 5, lines

    # The background jobs, on a day when a second, forwarded case is long overdue.
    overdue = factory.case_in("forwarded", description=text("overdue"), reporter_email=EMAIL,
                              reporter_name=text("overdue name"), reporter_phone=PHONE)
    session.commit()
    later = overdue.due_on + timedelta(days=30)
    monkeypatch.setattr(deadlines, "today", lambda: later)
    monkeypatch.setattr(lifecycle, "today", lambda: later)
    start = len(caplog.records)
    with app.app_context():
        jobs.run_deadline_sweep()
        jobs.relay_outbox()
        jobs.refresh_stats()
        jobs.prune_sign_in_failures()
    assert any(r.name == "moderation.sweep" for r in between(caplog, start)), "the sweep is silent"
    assert len(list(mail_dir.glob("*.eml"))) > 5  # the jobs did deliver

    secrets.update(session.scalars(select(User.session_token)))
    assert_no_secret(caplog.records, secrets)


def test_a_logged_database_error_names_the_statement_never_its_values(app, session, caplog):
    """PostgreSQL quotes the failing row in its message, SQLAlchemy the statement's values."""
    caplog.set_level(logging.DEBUG)
    token = "ZzSessionTokenSentinel"
    try:
        session.execute(User.__table__.insert().values(
            email=EMAIL, name=text("name"), role=None, session_token=token))
    except IntegrityError:
        logging.getLogger("portal.test").exception("could not add the user")
    session.rollback()
    (record,) = [r for r in caplog.records if r.name == "portal.test"]
    logged = logging.Formatter().format(record)
    assert "could not add the user" in logged and "IntegrityError" in logged
    assert "INSERT INTO users" in logged and "test_log_sentinels.py" in logged  # the traceback
    assert_no_secret([record], {EMAIL, TEXT, token})


# -- the servers' request logs ----------------------------------------------------------------

SECRET_QUERY = "ZZQUERYSENTINEL"
SECRET_TOKEN = "ZZTOKENSENTINEL.abc.def"


def test_the_development_servers_request_log_keeps_no_address_query_or_token(app, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="werkzeug")
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        for path in (f"/track?code={SECRET_QUERY}", f"/account/activate/{SECRET_TOKEN}",
                     f"/open-data?x={SECRET_QUERY}%20y%20{SECRET_QUERY}"):
            fetch(server.server_port, path, {"X-Forwarded-For": FORWARDED_IP})
    finally:
        server.shutdown()
        thread.join(5)
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", r.getMessage())  # without the terminal's colours
             for r in caplog.records if r.name == "werkzeug"]
    assert any('"GET /track?- HTTP/1.1" 200' in line for line in lines), lines
    assert any('"GET /account/activate/- HTTP/1.1" 400' in line for line in lines), lines
    assert any('"GET /open-data?- HTTP/1.1" 200' in line for line in lines), lines
    assert_no_secret([r for r in caplog.records if r.name == "werkzeug"],
                     {"127.0.0.1", FORWARDED_IP, SECRET_QUERY, "ZZTOKENSENTINEL"})


def test_gunicorns_access_log_keeps_no_address_query_cookie_or_token(database_url, tmp_path):
    access = tmp_path / "access.log"
    errors = tmp_path / "error.log"
    # Every atom that could carry the client's address, a URL's secrets or a cookie.
    fmt = ('%(h)s "%(r)s" %(s)s U=%(U)s q=%(q)s f=%(f)s xff=%({x-forwarded-for}i)s '
           'cookie=%({cookie}i)s set=%({set-cookie}o)s addr=%({remote_addr}e)s a=%(a)s')
    env = {**{k: v for k, v in os.environ.items() if k != "REDIS_URL"},
           "PORTAL_ENV": "test", "DATABASE_URL": database_url,
           "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
           "UPLOAD_DIR": str(tmp_path / "uploads"), "MAIL_URL": f"file://{tmp_path / 'mail'}",
           "BASE_URL": "http://portal.test"}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    process = subprocess.Popen(
        [str(gunicorn), "--bind", "127.0.0.1:0", "--workers", "1", "--access-logfile", str(access),
         "--error-logfile", str(errors), "--access-logformat", fmt,
         "--chdir", str(Path(__file__).resolve().parent.parent), "app:app"], env=env)
    try:
        port = None
        for _ in range(200):
            found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)",
                              errors.read_text() if errors.exists() else "")
            if found and "Booting worker" in errors.read_text():
                port = found.group(1)
                break
            time.sleep(0.1)
        assert port, errors.read_text() if errors.exists() else "gunicorn did not start"
        headers = {"X-Forwarded-For": FORWARDED_IP, "Cookie": f"{SESSION_COOKIE}=ZZCOOKIESENTINEL",
                   "Referer": f"http://127.0.0.1:{port}/account/activate/{SECRET_TOKEN}"
                              f"?code={SECRET_QUERY}"}
        for path in (f"/track?code={SECRET_QUERY}", f"/account/activate/{SECRET_TOKEN}", "/report"):
            for _ in range(100):
                try:
                    fetch(int(port), path, headers)
                    break
                except ConnectionError:  # the worker is still loading the portal
                    time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(20)
    log = access.read_text()
    assert '"GET /track?- HTTP/1.1" 200 U=/track q=-' in log, log
    assert '"GET /account/activate/- HTTP/1.1" 400 U=/account/activate/-' in log, log
    assert '"GET /report HTTP/1.1" 200' in log, log  # its Set-Cookie would hold a session
    for secret in ("127.0.0.1", FORWARDED_IP, SECRET_QUERY, "ZZTOKENSENTINEL", "ZZCOOKIESENTINEL",
                   f"{SESSION_COOKIE}="):
        assert secret not in log, f"{secret} in gunicorn's access log:\n{log}"
