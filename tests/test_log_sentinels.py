"""No report text, receipt code, password, session, token or client address ever reaches a log.

A whole journey runs through HTTP with sentinel values in every field a person types, from a
sentinel client address, with every logger captured at DEBUG: a resident reports, tracks the
case and replies; a moderator signs in and works the case; an agency head invites an officer,
who chooses a password from the emailed link and answers; the resident disputes, then rates;
someone fails to sign in until throttled; forms without their CSRF token, pages of another
role, a case of nobody's, a wrong method; the background jobs run. Then every log record is
read. The same records must hold the sign-ins and the refusals, so the test fails both ways.

A second journey does the same for the security features: the two-step sign-in of a
supervisor (a wrong code, the right one), the set-up of the second factor by a supervisor who
has none (the secret it shows, the recovery codes, new ones in their place) and a sign-in with
a recovery code; an administrator banning contacts; evidence files with sentinel names, one
kept and one refused by the quarantine; a honeypot, banned contacts, the report limit and
wrong tracking codes up to their limit. The secret, every code given or typed and every
recovery code join the sentinels; each step's own log lines must be there.

The servers' own request logs (werkzeug's development server, gunicorn's access log) are
checked with real servers: they would print the client's address, the query string and the
invitation token of `/account/activate/<token>`.
"""

from __future__ import annotations

import email
import http.client
import io
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
from secrets import randbelow, token_hex
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.serving import make_server

from portal import deadlines, jobs, lifecycle, receipts
from portal.accounts import create_user
from portal.auth import totp
from portal.models import Attachment, BannedContact, Case, User
from tests.helpers import AuthActions
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
        # Whatever else the session holds: the login id (its second half is the session
        # token), the anonymous side's random id, the mark of a sign-in waiting for its code,
        # a second factor being set up.
        self.update(session_secrets(data))


# Session entries that are no secret (and times, which a log may well print).
NOT_SECRET = {"_flashes", "lang", "staff_seen", "until", "_fresh", "_remember"}
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+([+-]\d\d:\d\d)?")


def session_secrets(value, key: str = ""):
    """Every string of the session long enough to be a token, and the parts of a login id."""
    if key in NOT_SECRET:
        return
    if isinstance(value, dict):
        for name, item in value.items():
            yield from session_secrets(item, str(name))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from session_secrets(item, key)
    elif isinstance(value, bytes) and len(value) >= 8:
        yield value.hex()
    elif isinstance(value, str) and len(value) >= 12 and not TIMESTAMP.fullmatch(value):
        yield value
        yield from (part for part in value.split(":") if len(part) >= 12)


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


# What a log record carries of its own that is made of digits: times, thread and process ids.
RECORD_NUMBERS = {"created", "msecs", "relativeCreated", "thread", "process", "lineno", "levelno"}


def assert_no_code(records: list[logging.LogRecord], codes: set[str]) -> None:
    """Six-digit codes, each a whole number wherever it stands: a time or a thread id may hold
    any six digits in a row, so those fields of the record are left out."""
    assert records, "nothing was logged at all: the capture does not work"
    patterns = [re.compile(rf"(?<!\d){re.escape(code)}(?!\d)") for code in codes if code]
    for record in records:
        fields = {k: v for k, v in vars(record).items() if k not in RECORD_NUMBERS}
        seen = (f"{logging.Formatter('%(name)s %(message)s').format(record)}\n"
                f"{record.msg!r}\n{record.args!r}\n{fields!r}")
        for pattern in patterns:
            assert not pattern.search(seen), \
                f"{pattern.pattern!r} reached the log: {seen[:600]}"


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



# -- the security features: the second factor, evidence files, the anonymous side's guards ------

STAFF_PASSWORDS = {"supervisor": "Zzpw-supervisor-u2Rz6", "newcomer": "Zzpw-newcomer-v3Sa7",
                   "admin": "Zzpw-admin-w4Tb8", "wrong": "Zzpw-wrong-x5Uc9"}
SECRET_SHOWN = re.compile(r'id="totp-secret"[^>]*>([A-Z2-7 ]+)<')
RECOVERY_SHOWN = re.compile(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>")
TOKEN = re.compile(r'id="submission_token"[^>]*value="([^"]+)"')
# A PDF that runs JavaScript when opened: the quarantine refuses it.
SCRIPTED_PDF = (b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R /OpenAction 3 0 R >>\nendobj\n"
                b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
                b"3 0 obj\n<< /S /JavaScript /JS (app.alert('x')) >>\nendobj\n"
                b"trailer\n<< /Root 1 0 R >>\n%%EOF\n")


def path_of(location: str) -> str:
    return urlsplit(location).path


def logged(records, logger: str, level: int, *words: str) -> bool:
    """Whether a record of that logger (or its children), at that level, says all the words."""
    return any(r.name.startswith(logger) and r.levelno == level
               and all(w in r.getMessage() for w in words) for r in records)


def wrong_code_for(key: bytes) -> str:
    """Six digits that are no code of the key in the steps around now."""
    now = totp.current_step()
    valid = {totp.code_for_step(key, step) for step in range(now - 2, now + 3)}
    while (code := f"{randbelow(10**6):06d}") in valid:
        pass
    return code


def photo(description: str | None = None) -> bytes:
    """A small real JPEG, with a description in its EXIF data if one is given."""
    from PIL import Image

    exif = Image.Exif()
    if description is not None:
        exif[0x010E] = description  # ImageDescription
    buffer = io.BytesIO()
    Image.new("RGB", (24, 16), (40, 120, 200)).save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def report_fields(agency_id: int, token: str, **changes) -> dict:
    fields = {"submission_token": token, "agency_id": str(agency_id), "conduct": "slow_handling",
              "sector": "construction", "description": text("description"),
              "occurred_on": "2026-10-05", "ward_code": "70", "address": text("address"),
              "reporter_kind": "resident", "reporter_name": text("name"),
              "reporter_email": EMAIL, "reporter_phone": PHONE}
    fields.update(changes)
    return {k: v for k, v in fields.items() if v is not None}


def file_report(browser: Browser, agency_id: int, expect: int, **changes) -> str:
    html = browser.get("/report")
    return browser.post("/report", report_fields(agency_id, TOKEN.search(html).group(1), **changes),
                        page="/report", expect=expect)


def tracking_code_like(tag: str) -> str:
    """A code of the right shape that no report has (the tag makes it this run's own)."""
    symbols = [receipts.TRACKING_ALPHABET[int(c, 16) % len(receipts.TRACKING_ALPHABET)]
               for c in (tag * 4)[:16]]
    return "-".join("".join(symbols[i:i + 4]) for i in range(0, 16, 4))


def add_code_forms(secrets: Secrets, code: str) -> None:
    """A recovery code as shown, run together, and as typed in capitals or with a space."""
    secrets.update({code, code.replace("-", ""), code.upper(), code.replace("-", " ")})


def add_key_forms(secrets: Secrets, key: bytes) -> None:
    """A TOTP key as the set-up page shows it, as an app stores it, and as bytes."""
    b32 = totp.to_base32(key)
    secrets.update({b32, totp.grouped(b32), key.hex()})


def test_no_secret_of_the_security_features_reaches_any_log(app, session, factory, caplog):
    """Second journey: the two-step sign-in (an app code, a wrong one, a recovery code), the
    set-up of the second factor with its secret and recovery codes, new recovery codes; evidence
    files with sentinel names, one clean and one the quarantine refuses; a honeypot, banned
    contacts added by an administrator, the report limit, wrong tracking codes and their limit.
    Every value given or typed is a sentinel; each step's log lines are there."""
    tag = token_hex(4)
    photo_name, pdf_name = f"SENTINEL-FILE-{tag}", f"SENTINEL-PDF-{tag}"
    jpeg = photo()  # EXIF data: see the test after this one
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="werkzeug")
    honeypot = f"http://zz-honeypot-{tag}.example/offer"
    banned_email, banned_phone = f"zz.banned.{tag}@example.org", "+84 913 579 246"
    guesses = [tracking_code_like(tag), tracking_code_like(tag[::-1])]
    secrets = Secrets({CLIENT_IP, STRANGER_IP, FORWARDED_IP, TEXT, EMAIL, PHONE,
                       PHONE.replace(" ", ""), *STAFF_PASSWORDS.values(), photo_name, pdf_name,
                       honeypot, banned_email, "0913.579.246", "0913579246",
                       "913579246", *guesses, *(g.replace("-", "") for g in guesses)})
    codes: set[str] = set()  # six-digit codes, looked for as whole numbers

    keys = {"supervisor": os.urandom(totp.SECRET_BYTES), "admin": os.urandom(totp.SECRET_BYTES)}
    supervisor = create_user(session, f"zz.supervisor.{tag}@example.org", "supervisor",
                             STAFF_PASSWORDS["supervisor"], "MTTQ-HN", name="Giám sát viên")
    newcomer = create_user(session, f"zz.newcomer.{tag}@example.org", "supervisor",
                           STAFF_PASSWORDS["newcomer"], "MTTQ-HN", name="Giám sát viên mới")
    admin = create_user(session, f"zz.admin.{tag}@example.org", "admin", STAFF_PASSWORDS["admin"],
                        None, name="Quản trị")
    session.flush()
    for user, key in ((supervisor, keys["supervisor"]), (admin, keys["admin"])):
        totp.enable(user, key, secret_key=app.config["SECRET_KEY"])
        add_key_forms(secrets, key)
    session.commit()
    secrets.update({supervisor.email, newcomer.email, admin.email})
    agency_id = factory.agency("SO-XD").id

    def code_now(browser: Browser, user: User) -> str:
        code = AuthActions(browser.client).code_for(user.email)
        codes.add(code)
        return code

    # A wrong password: the first step fails.
    start = len(caplog.records)
    stranger = Browser(app, secrets, STRANGER_IP)
    stranger.sign_in(supervisor.email, STAFF_PASSWORDS["wrong"], expect=400)
    assert logged(between(caplog, start), "portal.auth", logging.WARNING, "failed"), \
        "a wrong password was not logged"

    # The supervisor: the password, a wrong code, the right code.
    start = len(caplog.records)
    front = Browser(app, secrets)
    assert path_of(front.sign_in(supervisor.email, STAFF_PASSWORDS["supervisor"])) == "/login/code"
    assert logged(between(caplog, start), "portal.auth", logging.INFO, f"user {supervisor.id}"), \
        "the password step was not logged"
    front.get("/moderation/", expect=302)  # not signed in yet
    start = len(caplog.records)
    wrong = wrong_code_for(keys["supervisor"])
    codes.add(wrong)
    front.post("/login/code", {"code": wrong}, expect=400)
    assert logged(between(caplog, start), "portal.auth", logging.WARNING,
                  f"user {supervisor.id}"), "a wrong code was not logged"
    start = len(caplog.records)
    assert path_of(front.post("/login/code", {"code": code_now(front, supervisor)})) \
        == "/moderation/"
    assert logged(between(caplog, start), "portal.auth", logging.INFO, "succeeded",
                  f"user {supervisor.id}"), "the sign-in with a code was not logged"
    front.get("/moderation/")

    # A new supervisor: the password alone leads to the set-up, which shows the secret; a wrong
    # first code, the right one, the recovery codes; new ones in their place.
    start = len(caplog.records)
    newbie = Browser(app, secrets)
    assert path_of(newbie.sign_in(newcomer.email, STAFF_PASSWORDS["newcomer"])) \
        == "/account/two-factor"
    assert logged(between(caplog, start), "portal.auth", logging.INFO, "succeeded",
                  f"user {newcomer.id}"), "the password sign-in of a newcomer was not logged"
    newbie.get("/moderation/", expect=302)  # to the set-up page: nothing else before it
    page = newbie.get("/account/two-factor")
    key = totp.from_base32(SECRET_SHOWN.search(page).group(1))
    add_key_forms(secrets, key)
    start = len(caplog.records)
    wrong = wrong_code_for(key)
    codes.add(wrong)
    newbie.post("/account/two-factor", {"code": wrong}, expect=400)
    assert logged(between(caplog, start), "portal.auth", logging.WARNING, f"user {newcomer.id}"), \
        "a wrong first code was not logged"
    start = len(caplog.records)
    first = totp.code_for_step(key, totp.current_step())
    codes.add(first)
    shown = RECOVERY_SHOWN.findall(newbie.post("/account/two-factor", {"code": first}, expect=200))
    assert len(shown) == totp.RECOVERY_COUNT, "no recovery codes were shown"
    for code in shown:
        add_code_forms(secrets, code)
    assert logged(between(caplog, start), "portal.auth", logging.INFO, f"user {newcomer.id}"), \
        "the set-up was not logged"
    newbie.get("/moderation/")
    start = len(caplog.records)
    renewed = RECOVERY_SHOWN.findall(newbie.post(
        "/account/two-factor/manage", {"code": code_now(newbie, newcomer), "new_codes": "1"},
        page="/account/two-factor", expect=200))
    assert len(renewed) == totp.RECOVERY_COUNT and not set(renewed) & set(shown)
    for code in renewed:
        add_code_forms(secrets, code)
    assert logged(between(caplog, start), "portal.auth", logging.INFO, f"user {newcomer.id}"), \
        "new recovery codes were not logged"

    # Signed out, the newcomer comes back with a recovery code (an old one first).
    newbie.post("/logout", {}, page="/account/two-factor")
    assert path_of(newbie.sign_in(newcomer.email, STAFF_PASSWORDS["newcomer"])) == "/login/code"
    start = len(caplog.records)
    newbie.post("/login/code", {"code": shown[0].upper()}, expect=400)
    assert logged(between(caplog, start), "portal.auth", logging.WARNING, f"user {newcomer.id}")
    start = len(caplog.records)
    assert path_of(newbie.post("/login/code", {"code": renewed[3].replace("-", " ")})) \
        == "/moderation/"
    lines = between(caplog, start)
    assert logged(lines, "portal.auth", logging.INFO, "recovery", f"user {newcomer.id}"), \
        "the recovery code was not logged"
    assert logged(lines, "portal.auth", logging.INFO, "succeeded", f"user {newcomer.id}"), \
        "the sign-in with a recovery code was not logged"

    # An administrator signs in with a code and bans an email address and a phone number.
    start = len(caplog.records)
    boss = Browser(app, secrets)
    assert path_of(boss.sign_in(admin.email, STAFF_PASSWORDS["admin"])) == "/login/code"
    assert path_of(boss.post("/login/code", {"code": code_now(boss, admin)})) == "/admin/"
    for contact in (banned_email, banned_phone):
        boss.post("/admin/banned-contacts", {"contact": contact, "reason": text("ban")},
                  page="/admin/banned-contacts")
    lines = between(caplog, start)
    assert logged(lines, "portal.auth", logging.INFO, "succeeded", f"user {admin.id}")
    bans = session.scalars(select(BannedContact.id).order_by(BannedContact.id)).all()
    assert len(bans) == 2
    for ban in bans:
        assert logged(lines, "portal.abuse", logging.INFO, f"ban {ban}", f"user {admin.id}"), \
            "a ban was not logged"

    # A resident reports with a photo and a PDF; the quarantine keeps the one, refuses the other.
    start = len(caplog.records)
    resident = Browser(app, secrets)
    location = file_report(resident, agency_id, 303, evidence=[
        (io.BytesIO(jpeg), f"{photo_name}.jpg"),
        (io.BytesIO(SCRIPTED_PDF), f"{pdf_name}.pdf")])
    code = CODE.search(resident.get(location)).group(1)
    secrets.update({code, code.replace("-", "")})
    session.expire_all()
    files = {a.status: a for a in session.scalars(select(Attachment))}
    assert set(files) == {"clean", "refused"}, files
    assert files["clean"].original_name.startswith(photo_name)
    assert files["refused"].original_name.startswith(pdf_name)
    assert files["refused"].refusal == "pdf_javascript"
    secrets.update(a.stored_name for a in files.values())
    lines = between(caplog, start)
    assert logged(lines, "portal.quarantine", logging.INFO, f"attachment {files['clean'].id}"), \
        "the clean photo was not logged"
    assert logged(lines, "portal.quarantine", logging.INFO, f"attachment {files['refused'].id}",
                  "refused"), "the refused PDF was not logged"
    tracked = resident.post("/track", {"code": code})
    assert photo_name in resident.get(tracked)
    download = resident.client.get(f"{tracked}/files/{files['clean'].id}")
    assert download.status_code == 200 and download.data.startswith(b"\xff\xd8")  # a JPEG
    resident.get(f"{tracked}/files/{files['refused'].id}", expect=404)

    # A bot fills the honeypot; someone reports with a banned email, then a banned phone.
    start = len(caplog.records)
    file_report(Browser(app, secrets), agency_id, 400, homepage=honeypot,
                description=text("honeypot"))
    assert logged(between(caplog, start), "portal.citizen", logging.WARNING, "honeypot"), \
        "the honeypot was not logged"
    spammer = Browser(app, secrets)
    start = len(caplog.records)
    file_report(spammer, agency_id, 400, reporter_email=f" {banned_email.upper()} ",
                description=text("banned email"))
    file_report(spammer, agency_id, 400, reporter_email=None, reporter_phone="0913.579.246",
                description=text("banned phone"))
    lines = between(caplog, start)
    for ban in bans:
        assert logged(lines, "portal.abuse", logging.WARNING, f"ban {ban}"), \
            "a report from a banned contact was not logged"

    # The resident reports again, over the limit.
    app.config["REPORT_LIMIT_PER_SESSION"] = 1
    start = len(caplog.records)
    file_report(resident, agency_id, 429, description=text("over the limit"))
    lines = between(caplog, start)
    assert logged(lines, "portal.abuse", logging.WARNING, "report", "rate limit"), \
        "the report limit was not logged"
    assert any("POST citizen.report_submit -> 429" in m for m in refusals(lines)), refusals(lines)

    # Someone types tracking codes that no report has, until the limit.
    guesser = Browser(app, secrets)
    guesser.post("/track", {"code": guesses[0]}, expect=400)
    app.config["TRACK_LIMIT_PER_SESSION"] = 1
    start = len(caplog.records)
    guesser.post("/track", {"code": guesses[1]}, expect=429)
    lines = between(caplog, start)
    assert logged(lines, "portal.abuse", logging.WARNING, "track", "rate limit"), \
        "the tracking limit was not logged"
    assert any("POST citizen.track -> 429" in m for m in refusals(lines)), refusals(lines)

    session.expire_all()
    secrets.update(session.scalars(select(User.session_token)))
    secrets.update(s for s in session.scalars(select(User.totp_secret)) if s)
    assert_no_secret(caplog.records, secrets)
    assert_no_code(caplog.records, codes)


def test_the_exif_data_of_a_photo_never_reaches_the_log(app, factory, caplog):
    exif_text = f"Zzexifsentinel{token_hex(4)}"
    jpeg = photo(exif_text)  # made before the capture: what Pillow says here is not the portal's
    caplog.set_level(logging.DEBUG)
    resident = Browser(app, Secrets())
    file_report(resident, factory.agency("SO-XD").id, 303,
                evidence=[(io.BytesIO(jpeg), "anh.jpg")])
    assert logged(caplog.records, "portal.quarantine", logging.INFO, "clean"), "no scan ran"
    assert_no_secret(caplog.records, {exif_text})

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
