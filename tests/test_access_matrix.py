"""The access-control matrix: every route of the URL map, every role, every method, one answer.

For each rule of `app.url_map` and each of its methods (HEAD and OPTIONS aside), the test
builds a concrete URL from the objects of one shared world and requests it as each of ten
roles, with a fresh client each time:

    anonymous         nobody signed in
    reporter          nobody signed in, but the session typed the tracking code of one case
                      into /track (the published case below), as a reporter does
    moderator         Front moderator of the city committee (MTTQ-HN): sees every queue
    supervisor        Front supervisor of the city committee
    officer_a         officer of agency A (SO-XD)
    head_a            head of agency A
    officer_b         officer of agency B (SO-YT)
    admin             administrator
    supervisor_no2fa  a supervisor of the city committee who gave the right password but has
                      not set up the second factor yet
    admin_no2fa       the same, an administrator

Staff sign in once each through the real form (AuthActions, which also gives the second
factor of supervisors and administrators); each request then runs in a new client holding a
copy of that session's cookie, with a CSRF token of that session. Signing in is checked by
opening /account/password: had a role been stopped at the second-factor set-up wall, every
page would send it there, and the check says so at once. The two roles without a second
factor are checked the other way round: the password took them to the set-up page, and
/account/password sends them back there.

and compares the answer's class with MATRIX:

    OK         allowed in. A GET: 200 (or 2xx). A POST (or another method): 2xx, a 3xx that
               is neither to the sign-in page nor to the set-up page, or a form error
               (400, 409, 422) for the empty form we send.
    LOGIN      302/303 to /login?... (anonymous on a staff page)
    ENROL      302/303 to /account/two-factor: a supervisor or administrator without a
               second factor, anywhere but the set-up page, signing out, the language switch
               and the static files (public pages included: such a session opens nothing
               else, README "Privacy and security"); also the second factor's changes
               (/account/two-factor/manage) of staff who have none to change
    FORBIDDEN  403 (signed in, wrong role; also the Open311 POST without an API key)
    NOT_FOUND  404 (an agency's user on another agency's case, a tracking page without the
               code, a resource that exists for nobody)
    REDIRECT <path>
               a GET that redirects by design to that path (the receipt page without a
               receipt, the language switch); named in MATRIX with `redirect_to`. Any other
               redirect of a GET is "REDIRECT <path>" too and matches no OK.

Anything else (a 405, a 429, a 500, a GET answered 400) is its own class, "HTTP <status>",
and matches nothing.

Files that are not clean. Every file-download route is also aimed at a quarantined and at a
refused attachment of the published case, stored where clean files are (so that only the
status can stop it): whoever may read the clean file of that case gets a 404, the others
the answer they get for the clean file.

Every endpoint of the URL map must be named in MATRIX, and MATRIX may name only live
endpoints: a new route fails the test until someone decides who may use it. Blueprints share
their defaults through the constants below (ADMIN_ONLY, FRONT, ...); each endpoint still has
its own line, so the decision is visible in review.

The world is built once for the module on the suite's database, in the same way as the
`app` fixture of conftest (a fresh app on `database_url`), and emptied the same way at the
end: every non-reference table is cleared, and the reference tables (agencies, Front
committees) are put back exactly as they were. It holds a case of agency A, forwarded,
acknowledged and assigned by the head to the officer of A; a forwarded case of agency B; a
published case of agency A with a reporter's file and the document of its accepted answer,
whose tracking code the reporter holds.

Keeping the world intact. Every POST carries a valid CSRF token of the role's session (the
point is authorisation, not CSRF) and no other field. For most forms that is a form error
(400): nothing changes. A few POSTs have no field at all (deactivate, delete, revoke, replay,
view identity) and do act for an authorised role; those are aimed at a target made for that
one request (a fresh user, holiday, rule, canned reply, API key, failed outbox row, spare
agency), never at the objects the other checks rely on. Within each endpoint the refused
roles are tried first, and for each refused request the whole database (every row of every
table) must be the same after the request as before it.

Every answer to the agency roles, the anonymous visitor and the reporter is also searched for
marker words planted in the text and the reporter's identity of cases that are not theirs:
nothing of agency B's case reaches agency A, nothing of agency A's cases reaches agency B, and
nothing unpublished reaches the public. The Front and the administrator may read every case.

The checks can fail: the last tests show that each marker word is on the pages of those who
may read it, and that the database check sees what an authorised field-less POST changes.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
import tempfile
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import delete, select, update

from portal import abuse, create_app, lifecycle, uploads
from portal.accounts import hash_password
from portal.agency import team
from portal.db import Base, new_session, utcnow
from portal.lifecycle import Actor
from portal.models import (
    Agency,
    Attachment,
    CannedReply,
    DeadlineRule,
    Holiday,
    OutboxMessage,
    User,
)
from portal.models.user import INVITED_PREFIX
from portal.open311 import keys
from portal.vocab import CONDUCT_LABELS, SECTOR_LABELS, AgencyKind, Outcome, Role
from tests.conftest import REFERENCE_TABLES, _environ
from tests.factories import PASSWORD, Factory
from tests.helpers import AuthActions, csrf_of

AGENCY_A, AGENCY_B = "SO-XD", "SO-YT"
CITY_FRONT = "MTTQ-HN"

# -- the roles ----------------------------------------------------------------------------------

ROLES = ("anonymous", "reporter", "moderator", "supervisor", "officer_a", "head_a", "officer_b",
         "admin", "supervisor_no2fa", "admin_no2fa")
# Staff roles: (role, organisation).
STAFF = {
    "moderator": (Role.MODERATOR, CITY_FRONT),
    "supervisor": (Role.SUPERVISOR, CITY_FRONT),
    "officer_a": (Role.AGENCY_OFFICER, AGENCY_A),
    "head_a": (Role.AGENCY_HEAD, AGENCY_A),
    "officer_b": (Role.AGENCY_OFFICER, AGENCY_B),
    "admin": (Role.ADMIN, None),
    "supervisor_no2fa": (Role.SUPERVISOR, CITY_FRONT),
    "admin_no2fa": (Role.ADMIN, None),
}
# Signed in with the password, the second factor not set up: the set-up wall.
NO_SECOND_FACTOR = ("supervisor_no2fa", "admin_no2fa")
SET_UP_PAGE = "/account/two-factor"

# -- the classes of answers ---------------------------------------------------------------------

OK, LOGIN, ENROL, FORBIDDEN, NOT_FOUND = "OK", "LOGIN", "ENROL", "FORBIDDEN", "NOT_FOUND"
ALLOWED_STATUSES = {400, 409, 422}  # a form error for the empty form of a POST: let in
REDIRECTS = (301, 302, 303, 307, 308)


def redirect_to(path: str) -> str:
    """The class of a GET that redirects by design to `path`."""
    return f"REDIRECT {path}"


def classify(response, method: str = "GET") -> str:
    status = response.status_code
    if status in REDIRECTS:
        path = urlsplit(response.headers.get("Location", "")).path
        if path == "/login":
            return LOGIN
        if path == SET_UP_PAGE:
            return ENROL
        # A page asked for should be that page; a form sent may well go elsewhere next.
        return redirect_to(path) if method == "GET" else OK
    if status == 403:
        return FORBIDDEN
    if status == 404:
        return NOT_FOUND
    if 200 <= status < 300 or (status in ALLOWED_STATUSES and method != "GET"):
        return OK
    return f"HTTP {status}"


# -- the matrix ---------------------------------------------------------------------------------


def answers(default: str, **roles: str) -> dict[str, str]:
    """`default` for every role not named; a session without its second factor is sent to set
    it up unless named."""
    unknown = set(roles) - set(ROLES)
    assert not unknown, f"no such role: {unknown}"
    return {**{role: default for role in ROLES}, **dict.fromkeys(NO_SECOND_FACTOR, ENROL),
            **roles}


def staff_only(*allowed: str, **exceptions: str) -> dict[str, str]:
    """A staff page: `allowed` get in, other staff get 403, the signed-out are sent to sign in."""
    return answers(FORBIDDEN, anonymous=LOGIN, reporter=LOGIN,
                   **dict.fromkeys(allowed, OK), **exceptions)


def everyone(answer: str) -> dict[str, str]:
    """The same answer for every role, a session stopped at the set-up wall included."""
    return answers(answer, **dict.fromkeys(NO_SECOND_FACTOR, answer))


PUBLIC = answers(OK)
# What even a session stopped at the set-up wall may open (auth.views.OPEN_BEFORE_SET_UP).
OPEN_TO_ALL = everyone(OK)
SIGNED_IN = [role for role in STAFF if role not in NO_SECOND_FACTOR]
# Signed in, whatever the role: the staff's own account pages.
ANY_STAFF = staff_only(*SIGNED_IN)
ADMIN_ONLY = staff_only("admin")
# What applies to the whole city: administrators and the city Front's supervisors.
CITY_SETTINGS = staff_only("admin", "supervisor")
FRONT = staff_only("moderator", "supervisor")
# An agency's own lists: every agency user, each sees their own agency's.
AGENCY = staff_only("officer_a", "head_a", "officer_b")
# One case of agency A: another agency's officer finds nothing there.
AGENCY_A_CASE = staff_only("officer_a", "head_a", officer_b=NOT_FOUND)
HEAD_ONLY = staff_only("head_a")
# A case page of the reporter's: only the session that typed the code finds it.
TRACKED = answers(NOT_FOUND, reporter=OK)
# Staff without a second factor (it is optional for them) have none to change: the page of
# changes sends them to the set-up page.
WITHOUT_OPTIONAL_FACTOR = ("moderator", "officer_a", "head_a", "officer_b")

MATRIX: dict[str, dict[str, str]] = {
    # administration
    "admin.index": CITY_SETTINGS,
    "admin.agencies": ADMIN_ONLY,
    "admin.agency": ADMIN_ONLY,
    "admin.agency_new": ADMIN_ONLY,
    "admin.agency_rename": ADMIN_ONLY,
    "admin.agency_move": ADMIN_ONLY,
    "admin.agency_deactivate": ADMIN_ONLY,
    "admin.agency_reactivate": ADMIN_ONLY,
    "admin.users": ADMIN_ONLY,
    "admin.user": ADMIN_ONLY,
    "admin.user_new": ADMIN_ONLY,
    "admin.user_role": ADMIN_ONLY,
    "admin.user_deactivate": ADMIN_ONLY,
    "admin.user_reactivate": ADMIN_ONLY,
    "admin.api_keys": ADMIN_ONLY,
    "admin.api_key_new": ADMIN_ONLY,
    "admin.api_key_revoke": ADMIN_ONLY,
    "admin.failed_jobs": ADMIN_ONLY,
    "admin.replay_job": ADMIN_ONLY,
    "admin.rules": CITY_SETTINGS,
    "admin.rule_new": CITY_SETTINGS,
    "admin.rule_edit": CITY_SETTINGS,
    "admin.rule_delete": CITY_SETTINGS,
    "admin.holidays": CITY_SETTINGS,
    "admin.holiday_add": CITY_SETTINGS,
    "admin.holiday_delete": CITY_SETTINGS,
    "admin.replies": CITY_SETTINGS,
    "admin.reply_new": CITY_SETTINGS,
    "admin.reply_edit": CITY_SETTINGS,
    "admin.reply_deactivate": CITY_SETTINGS,
    "admin.reply_reactivate": CITY_SETTINGS,
    "admin.banned_contacts": ADMIN_ONLY,
    "admin.banned_contact_add": ADMIN_ONLY,
    "admin.banned_contact_delete": ADMIN_ONLY,
    # the Front's back office
    "moderation.queue": FRONT,
    "moderation.case_page": FRONT,
    "moderation.act": FRONT,
    "moderation.identity": FRONT,
    "moderation.attachment": FRONT,
    # the agency workspace
    "agency.inbox": AGENCY,
    "agency.export": AGENCY,
    "agency.case_page": AGENCY_A_CASE,
    "agency.act": AGENCY_A_CASE,
    "agency.attachment": AGENCY_A_CASE,
    "agency.figures_page": HEAD_ONLY,
    "agency.team_page": HEAD_ONLY,
    "agency.team_invite": HEAD_ONLY,
    "agency.team_invite_again": HEAD_ONLY,
    "agency.team_deactivate": HEAD_ONLY,
    "agency.team_reactivate": HEAD_ONLY,
    # signing in and the staff's account
    "auth.sign_in": PUBLIC,
    "auth.sign_out": OPEN_TO_ALL,
    "auth.password": ANY_STAFF,
    # The set-up page itself is what a session without its second factor may open.
    "auth.two_factor": staff_only(*STAFF),
    "auth.two_factor_manage": staff_only("supervisor", "admin",
                                         **dict.fromkeys(WITHOUT_OPTIONAL_FACTOR, ENROL)),
    # The second step of a sign-in in progress: without one (the password step not passed, or
    # already signed in) every role is sent to the sign-in page, and nothing else happens.
    "auth.sign_in_code": answers(LOGIN),
    # The invitation link is the credential: whoever holds it may open it.
    "auth.activate": PUBLIC,
    # the citizen's pages
    "citizen.home": PUBLIC,
    "citizen.report": PUBLIC,
    "citizen.report_submit": PUBLIC,
    # The receipt is shown once, right after the report; without one, the tracking page.
    "citizen.receipt": answers(redirect_to("/track")),
    "citizen.track": PUBLIC,
    "citizen.forget": PUBLIC,
    "citizen.tracked_case": TRACKED,
    "citizen.reply": TRACKED,
    "citizen.rate": TRACKED,
    "citizen.dispute": TRACKED,
    "citizen.attachment": TRACKED,
    "citizen.document": TRACKED,
    # the public
    "scoreboard.index": PUBLIC,
    "scoreboard.agency": PUBLIC,
    "published.answers": PUBLIC,
    "published.answer": PUBLIC,
    "opendata.index": PUBLIC,
    "opendata.download": PUBLIC,
    "open311.discovery": PUBLIC,
    "open311.service_list": PUBLIC,
    "open311.service_definition": PUBLIC,
    "open311.request_list": PUBLIC,
    "open311.request_one": PUBLIC,
    "open311.token": PUBLIC,
    # Open311 clients post with an API key: a browser session, even an administrator's,
    # is no key.
    "open311.create_request": answers(FORBIDDEN),
    "open311.not_found": answers(NOT_FOUND),
    "static": OPEN_TO_ALL,
    # Back to the page named in `next`, or the home page.
    "switch_language": everyone(redirect_to("/")),
}

# -- how each endpoint's URL is filled ----------------------------------------------------------
# endpoint -> function(world) -> the values of the rule's arguments. Called before each
# request, so a target that an authorised POST uses up is made again for the next role.

ARGS: dict[str, Callable[[World], dict[str, Any]]] = {
    "admin.agency": lambda w: {"agency_id": w.agency_a},
    "admin.agency_rename": lambda w: {"agency_id": w.spare_agency()},
    "admin.agency_move": lambda w: {"agency_id": w.spare_agency()},
    "admin.agency_deactivate": lambda w: {"agency_id": w.spare_agency()},
    "admin.agency_reactivate": lambda w: {"agency_id": w.spare_agency(active=False)},
    "admin.user": lambda w: {"user_id": w.users["officer_a"]},
    "admin.user_role": lambda w: {"user_id": w.spare_officer()},
    "admin.user_deactivate": lambda w: {"user_id": w.spare_officer()},
    "admin.user_reactivate": lambda w: {"user_id": w.spare_officer(active=False)},
    "admin.api_key_revoke": lambda w: {"key_id": w.spare_api_key()},
    "admin.replay_job": lambda w: {"message_id": w.spare_failed_message()},
    "admin.rule_edit": lambda w: {"rule_id": w.spare_rule()},
    "admin.rule_delete": lambda w: {"rule_id": w.spare_rule()},
    "admin.holiday_delete": lambda w: {"holiday_id": w.spare_holiday()},
    "admin.reply_edit": lambda w: {"reply_id": w.spare_reply()},
    "admin.reply_deactivate": lambda w: {"reply_id": w.spare_reply()},
    "admin.reply_reactivate": lambda w: {"reply_id": w.spare_reply(active=False)},
    "admin.banned_contact_delete": lambda w: {"ban_id": w.spare_ban()},
    "moderation.case_page": lambda w: {"case_id": w.case_a},
    "moderation.act": lambda w: {"case_id": w.case_a, "action": "forward"},
    "moderation.identity": lambda w: {"case_id": w.case_a},
    "moderation.attachment": lambda w: {"case_id": w.case_pub, "attachment_id": w.pub_file},
    "agency.case_page": lambda w: {"case_id": w.case_a},
    "agency.act": lambda w: {"case_id": w.case_a, "action": "answer"},
    "agency.attachment": lambda w: {"case_id": w.case_pub, "attachment_id": w.pub_file},
    "agency.team_invite_again": lambda w: {"user_id": w.spare_officer(invited=True)},
    "agency.team_deactivate": lambda w: {"user_id": w.spare_officer()},
    "agency.team_reactivate": lambda w: {"user_id": w.spare_officer(
        active=False, deactivated_by=w.users["head_a"])},
    "auth.activate": lambda w: {"token": w.activation_token},
    "citizen.tracked_case": lambda w: {"reference": w.pub_reference},
    "citizen.reply": lambda w: {"reference": w.pub_reference},
    "citizen.rate": lambda w: {"reference": w.pub_reference},
    "citizen.dispute": lambda w: {"reference": w.pub_reference},
    "citizen.attachment": lambda w: {"reference": w.pub_reference, "attachment_id": w.pub_file},
    "citizen.document": lambda w: {"reference": w.pub_reference, "attachment_id": w.pub_document},
    "scoreboard.agency": lambda w: {"code": AGENCY_A},
    "published.answer": lambda w: {"reference": w.pub_reference},
    "opendata.download": lambda w: {"file": "cases.csv"},
    "open311.discovery": lambda w: {"fmt": "json"},
    "open311.service_list": lambda w: {"fmt": "json"},
    "open311.service_definition": lambda w: {"code": "slow_handling", "fmt": "json"},
    "open311.request_list": lambda w: {"fmt": "json"},
    # A case that is not published: the API answers for it, and shows nothing of its text.
    "open311.request_one": lambda w: {"request_id": w.a_reference, "fmt": "json"},
    "open311.token": lambda w: {"token": w.a_reference, "fmt": "json"},
    "open311.create_request": lambda w: {"fmt": "json"},
    "open311.not_found": lambda w: {"rest": "nothing-here"},
    "static": lambda w: {"filename": "css/portal.css"},
    "switch_language": lambda w: {"code": "en"},
}

# -- the rules, read once at collection -----------------------------------------------------------

SKIPPED_METHODS = {"HEAD", "OPTIONS"}


def _url_map_rules() -> list[tuple[str, str, str]]:
    """(endpoint, rule, method) for every rule and method of a freshly built portal."""
    with tempfile.TemporaryDirectory() as tmp:
        environ = _environ(f"sqlite:///{tmp}/collect.sqlite3", Path(tmp))
        app = create_app(environ, instance_path=f"{tmp}/instance")
        rules = [(rule.endpoint, rule.rule, method)
                 for rule in app.url_map.iter_rules()
                 for method in sorted(rule.methods - SKIPPED_METHODS)]
        app.extensions["db_engine"].dispose()
    return sorted(rules)


RULES = _url_map_rules()


def _rule_id(item: tuple[str, str, str]) -> str:
    endpoint, rule, method = item
    return f"{endpoint} {method} {rule}"


# -- the world ----------------------------------------------------------------------------------

# Words planted in the text and the reporter's identity of each case (compared lower-case).
ALPHA, BRAVO, PAPA = b"zetaalpha", b"zetabravo", b"zetapapa"
# What each role must never read, in any answer. Agency A holds the case of A and the published
# case; agency B holds the case of B; the reporter holds the published case. The Front and the
# administrator may read every case.
UNSEEN = {
    "anonymous": (ALPHA, BRAVO, PAPA),
    "reporter": (ALPHA, BRAVO),
    "officer_a": (BRAVO,),
    "head_a": (BRAVO,),
    "officer_b": (ALPHA, PAPA),
    # Before the second factor is set up, nothing at all.
    "supervisor_no2fa": (ALPHA, BRAVO, PAPA),
    "admin_no2fa": (ALPHA, BRAVO, PAPA),
}
PUBLIC_TEXT = "Người phản ánh cho biết hồ sơ cấp phép xây dựng đã quá hạn ba tuần."
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
# The statuses of a file that no one may download: still being checked, or refused.
UNCLEAN = ("quarantined", "refused")
REFUSAL = {"refused": "pdf_javascript"}  # why, as the scan records it
TABLES = Base.metadata.sorted_tables


class World:
    """The objects every request is aimed at, the signed-in sessions, and the database's state."""

    def __init__(self, app):
        self.app = app
        self.engine = app.extensions["db_engine"]
        with app.app_context():  # not left pushed: the test client's requests would share it
            self.db = new_session()
        self.cookie_name = app.config["SESSION_COOKIE_NAME"]
        self.cookies: dict[str, str] = {}
        self.csrf: dict[str, str] = {}
        self.users: dict[str, int] = {}
        self._serial = itertools.count(1)
        self._rule_kinds = itertools.product(CONDUCT_LABELS, SECTOR_LABELS)
        self._hash = hash_password(PASSWORD)
        self._state: dict[str, str] | None = None  # the last fingerprint, while it holds
        with self.engine.connect() as conn:
            self._reference = {t.name: {row.id: row for row in conn.execute(select(t))}
                               for t in TABLES if t.name in REFERENCE_TABLES}

    # -- building ------------------------------------------------------------------------------

    def build(self) -> None:
        db = self.db
        make = Factory(db)
        for role, (kind, org) in STAFF.items():
            if role in NO_SECOND_FACTOR:
                self.users[role] = make.user(kind, org, email=f"acl.{role}@example.org",
                                             two_factor=False).id
            else:
                self.users[role] = make.user(kind, org).id
        db.commit()
        agency_a = make.agency(AGENCY_A)
        self.agency_a, self.city = agency_a.id, agency_a.parent_id
        front = Actor.staff(db.get(User, self.users["moderator"]))
        officer_a = Actor.staff(db.get(User, self.users["officer_a"]))
        head_a = db.get(User, self.users["head_a"])

        case_a, _ = make.report(AGENCY_A, **self._reporter("Zetaalpha"))
        make.step(case_a, "forward", AGENCY_A)
        make.step(case_a, "acknowledge", AGENCY_A)
        lifecycle.assign_officer(db, case_a, Actor.staff(head_a), officer_id=self.users["officer_a"])
        assert case_a.assigned_officer_id == self.users["officer_a"]
        self.case_a, self.a_reference = case_a.id, case_a.reference

        case_b, _ = make.report(AGENCY_B, **self._reporter("Zetabravo"))
        make.step(case_b, "forward", AGENCY_B)
        self.case_b = case_b.id
        self.b_file = self._file(case_b.id, "reporter")

        case_pub, code = make.report(AGENCY_A, publish_consent=True, **self._reporter("Zetapapa"))
        make.redact(case_pub, PUBLIC_TEXT)
        make.step(case_pub, "forward", AGENCY_A)
        make.step(case_pub, "acknowledge", AGENCY_A)
        answer = lifecycle.answer(db, case_pub, officer_a, findings="Đã cấp giấy phép.",
                                  outcome=Outcome.SUBSTANTIATED)
        self.pub_document = self._file(case_pub.id, "agency", answer.id)
        self.pub_file = self._file(case_pub.id, "reporter")
        # The same files, one still in quarantine and one the scan refused.
        self.unclean = {(status, by): self._file(case_pub.id, by, answer.id if by == "agency"
                                                 else None, status=status)
                        for status in UNCLEAN for by in ("agency", "reporter")}
        lifecycle.accept_answer(db, case_pub, front, assessment="Trả lời đầy đủ.")
        assert case_pub.published_at is not None
        self.case_pub, self.pub_reference, self.pub_code = case_pub.id, case_pub.reference, code

        invited = team.invite_officer(db, head_a, email="acl.invited@example.org",
                                      name="Người được mời")
        db.commit()
        with self.app.app_context():
            self.activation_token = team.activation_token(invited)
        self._sign_in()

    @staticmethod
    def _reporter(marker: str) -> dict[str, str]:
        return {"description": f"Hồ sơ của tôi quá hạn ba tuần. {marker.upper()}",
                "reporter_name": f"Nguyễn {marker}",
                "reporter_email": f"{marker.lower()}@example.org"}

    def _file(self, case_id: int, uploaded_by: str, answer_id: int | None = None,
              status: str = "clean") -> int:
        """A stored file of the case. Whatever its status, its bytes are where clean files are
        served from: a quarantined or refused file is then kept from readers by its status
        alone, which is what the check of unclean files must see."""
        upload_dir = self.app.config["PORTAL_SETTINGS"].upload_dir
        Path(upload_dir).mkdir(parents=True, exist_ok=True)
        checked = uploads.CheckedFile("tep.pdf", "application/pdf", PDF, len(PDF),
                                      hashlib.sha256(PDF).hexdigest())
        row = Attachment(case_id=case_id, answer_id=answer_id,
                         stored_name=uploads.store(upload_dir, checked),
                         original_name=checked.original_name, content_type=checked.content_type,
                         size=checked.size, sha256=checked.sha256, uploaded_by=uploaded_by,
                         status=status, refusal=REFUSAL.get(status),
                         checked_at=None if status == "quarantined" else utcnow())
        self.db.add(row)
        self.db.flush()
        return row.id

    def _sign_in(self) -> None:
        """One session per role, kept as its cookie and a CSRF token; each request copies it."""
        for role in ROLES:
            client = self.app.test_client()
            page = "/track"  # any page with a form: a CSRF token belongs to the session
            if role in NO_SECOND_FACTOR:
                user = self.db.get(User, self.users[role])
                signed_in = AuthActions(client).login(user.email, PASSWORD)
                assert signed_in.status_code == 303, f"{role}: the password was not taken"
                assert signed_in.headers["Location"] == SET_UP_PAGE, f"{role} not sent to set up"
                walled = client.get("/account/password")
                assert walled.status_code == 302 and walled.headers["Location"] == SET_UP_PAGE, \
                    f"{role} is not held at the set-up wall"
                page = SET_UP_PAGE  # the one page with a form it may open
            elif role in STAFF:
                user = self.db.get(User, self.users[role])
                AuthActions(client).login(user.email, PASSWORD)
                assert client.get("/account/password").status_code == 200, f"{role} not signed in"
            elif role == "reporter":
                html = client.get("/track").get_data(as_text=True)
                typed = client.post("/track", data={"csrf_token": csrf_of(html),
                                                    "code": self.pub_code})
                assert typed.status_code == 303, "the reporter's code was not taken"
            shown = client.get(page)
            assert shown.status_code == 200, (role, page, shown.status_code)
            self.csrf[role] = csrf_of(shown.get_data(as_text=True))
            cookie = client.get_cookie(self.cookie_name)
            assert cookie is not None, f"no session for {role}"
            self.cookies[role] = cookie.value

    # -- targets that an authorised request may use up: one for each request ------------------

    def _commit(self, row) -> int:
        self.db.add(row)
        self.db.commit()
        self._state = None
        return row.id

    def spare_agency(self, *, active: bool = True) -> int:
        n = next(self._serial)
        return self._commit(Agency(code=f"ACL-{n}", name=f"Đơn vị thử {n}",
                                   kind=AgencyKind.DEPARTMENT, parent_id=self.city, active=active))

    def spare_officer(self, *, active: bool = True, invited: bool = False,
                      deactivated_by: int | None = None) -> int:
        n = next(self._serial)
        password = INVITED_PREFIX + secrets.token_urlsafe(16) if invited else self._hash
        return self._commit(User(email=f"acl.officer{n}@example.org", name=f"Cán bộ thử {n}",
                                 role=Role.AGENCY_OFFICER, agency_id=self.agency_a,
                                 password_hash=password, active=active,
                                 deactivated_by_id=deactivated_by))

    def spare_api_key(self) -> int:
        row, _key = keys.issue(self.db, f"Ứng dụng thử {next(self._serial)}", None)
        return self._commit(row)

    def spare_failed_message(self) -> int:
        return self._commit(OutboxMessage(
            kind="invitation", status="failed", attempts=5, last_error="SMTP down",
            payload={"user_id": self.spare_officer(invited=True),
                     "invited_by_id": self.users["head_a"]}))

    def spare_rule(self) -> int:
        conduct, sector = next(self._rule_kinds)
        return self._commit(DeadlineRule(stage="rating", conduct=conduct, sector=sector,
                                         working_days=7))

    def spare_holiday(self) -> int:
        n = next(self._serial)
        return self._commit(Holiday(day=date(2030, 1, 1) + timedelta(days=n), name=f"Nghỉ {n}"))

    def spare_reply(self, *, active: bool = True) -> int:
        n = next(self._serial)
        return self._commit(CannedReply(purpose="ask_info", title=f"Câu hỏi {n}",
                                        body="Anh chị đã nộp hồ sơ ở đâu?", active=active))

    def spare_ban(self) -> int:
        with self.app.app_context():  # the contact's keyed hash needs SECRET_KEY
            row = abuse.ban(self.db, f"spam{next(self._serial)}@example.org", "Thư rác", None)
        return self._commit(row)

    # -- requests ------------------------------------------------------------------------------

    def url(self, endpoint: str, rule: str, **changes: Any) -> str:
        """The rule's URL for the objects ARGS names, or for those given in `changes`."""
        (found,) = [r for r in self.app.url_map.iter_rules()
                    if r.endpoint == endpoint and r.rule == rule]
        values = {}
        if found.arguments:
            if endpoint not in ARGS:
                pytest.fail(f"{endpoint} ({rule}) has no entry in ARGS: say which object of the "
                            "world its URL is for")
            values = {k: v for k, v in {**ARGS[endpoint](self), **changes}.items()
                      if k in found.arguments}
        built = found.build(values, append_unknown=False)
        assert built is not None, f"cannot build {rule} from {values}"
        return built[1]

    def request(self, role: str, method: str, url: str):
        """A fresh client holding the role's session: nothing carries over between requests."""
        self._state = None  # whatever the answer, the database may have changed
        client = self.app.test_client()
        client.set_cookie(self.cookie_name, self.cookies[role])
        data = None if method == "GET" else {"csrf_token": self.csrf[role]}
        response = client.open(url, method=method, data=data)
        response.get_data()
        response.close()  # runs what waits for the end of the response (outbox hand-out)
        return response

    def fingerprint(self) -> dict[str, str]:
        """Every row of every table, one digest a table; read again only after a change
        made here or a request (the app writes nowhere else)."""
        if self._state is None:
            with self.engine.connect() as conn:
                self._state = {t.name: hashlib.sha256(repr(conn.execute(
                    select(t).order_by(*t.primary_key.columns)).all()).encode()).hexdigest()
                    for t in TABLES}
        return self._state

    # -- taking it down ------------------------------------------------------------------------

    def tear_down(self) -> None:
        """As conftest leaves the database after a test: the reference data, as it was."""
        self.db.close()
        with self.engine.begin() as conn:
            for table in reversed(TABLES):
                if table.name not in REFERENCE_TABLES:
                    conn.execute(table.delete())
            for table in reversed(TABLES):
                if table.name not in REFERENCE_TABLES:
                    continue
                kept = self._reference[table.name]
                conn.execute(delete(table).where(table.c.id.not_in(list(kept))))
                for row_id, row in kept.items():
                    current = conn.execute(select(table).where(table.c.id == row_id)).one()
                    if current != row:
                        conn.execute(update(table).where(table.c.id == row_id)
                                     .values(**row._mapping))
        with self.engine.connect() as conn:
            for name, kept in self._reference.items():
                table = Base.metadata.tables[name]
                assert {row.id: row for row in conn.execute(select(table))} == kept, name
        self.engine.dispose()


@pytest.fixture(scope="module")
def world(database_url, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("access-matrix")
    app = create_app(_environ(database_url, tmp), instance_path=tmp / "instance")
    world = World(app)
    try:
        world.build()
        yield world
    finally:
        world.tear_down()


# -- the tests ----------------------------------------------------------------------------------

LIVE = {endpoint for endpoint, _rule, _method in RULES}


def test_every_endpoint_of_the_url_map_has_an_entry():
    missing = sorted(LIVE - MATRIX.keys())
    assert not missing, ("these endpoints have no entry in MATRIX; decide what each role gets: "
                         + ", ".join(missing))


def test_the_matrix_names_only_live_endpoints():
    gone = sorted((MATRIX.keys() | ARGS.keys()) - LIVE)
    assert not gone, "MATRIX or ARGS name endpoints that no longer exist: " + ", ".join(gone)


def test_the_classes_tell_answers_apart():
    class Answer:
        def __init__(self, status, location=""):
            self.status_code, self.headers = status, {"Location": location}

    assert classify(Answer(302, "/login?next=%2Fadmin%2F")) == LOGIN
    assert classify(Answer(303, "http://localhost/login?next=/agency/")) == LOGIN
    assert classify(Answer(302, "/account/two-factor")) == ENROL
    assert classify(Answer(303, "http://localhost/account/two-factor"), "POST") == ENROL
    # A GET is let in with its page, not with a redirect elsewhere, nor a form error.
    assert classify(Answer(303, "/track")) == redirect_to("/track") != OK
    assert classify(Answer(303, "/track"), "POST") == OK
    assert [classify(Answer(s)) for s in (200, 201, 400, 409, 403, 404)] == [
        OK, OK, "HTTP 400", "HTTP 409", FORBIDDEN, NOT_FOUND]
    assert [classify(Answer(s), "POST") for s in (200, 400, 409, 422)] == [OK] * 4
    assert classify(Answer(500)) == "HTTP 500"
    assert classify(Answer(405), "POST") == "HTTP 405"
    assert len({OK, LOGIN, ENROL, FORBIDDEN, NOT_FOUND, redirect_to("/")}) == 6


def test_every_role_is_in_every_line_of_the_matrix():
    for endpoint, line in MATRIX.items():
        assert set(line) == set(ROLES), endpoint
    # The set-up wall is not taken for granted: the matrix does say where it stands.
    assert {MATRIX["auth.password"][role] for role in NO_SECOND_FACTOR} == {ENROL}
    assert {MATRIX["auth.two_factor"][role] for role in NO_SECOND_FACTOR} == {OK}


@pytest.mark.parametrize(("endpoint", "rule", "method"), RULES, ids=map(_rule_id, RULES))
def test_access(world, endpoint, rule, method):
    if endpoint not in MATRIX:
        pytest.fail(f"{endpoint} ({method} {rule}) has no entry in MATRIX: decide what each "
                    "role gets")
    expected = MATRIX[endpoint]
    problems = []
    # The refusals first: an authorised POST may change the world the others are checked in.
    for role in sorted(ROLES, key=lambda r: expected[r] == OK):
        url = world.url(endpoint, rule)
        before = world.fingerprint() if expected[role] != OK else None
        response = world.request(role, method, url)
        got = classify(response, method)
        if got != expected[role]:
            where = response.headers.get("Location")
            problems.append(f"{role}: expected {expected[role]}, got {got} "
                            f"({response.status_code}{' to ' + where if where else ''}) "
                            f"at {method} {url}")
        if before is not None:
            after = world.fingerprint()
            changed = sorted(name for name in before if before[name] != after[name])
            if changed:
                problems.append(f"{role}: refused, yet the database changed: {', '.join(changed)}")
        body = response.get_data().lower()
        seen = [marker.decode() for marker in UNSEEN.get(role, ()) if marker in body]
        if seen:
            problems.append(f"{role}: the answer shows another party's case: {', '.join(seen)}")
    assert not problems, f"{endpoint} ({method} {rule}):\n  " + "\n  ".join(problems)


# -- files that are not clean ----------------------------------------------------------------------

# Each file-download route, and whose files of the published case it serves.
FILE_ROUTES = {
    "moderation.attachment": ("reporter", "agency"),
    "agency.attachment": ("reporter", "agency"),
    "citizen.attachment": ("reporter",),
    "citizen.document": ("agency",),
}
FILE_CASES = [(endpoint, rule, status, by)
              for endpoint, rule, method in RULES if endpoint in FILE_ROUTES and method == "GET"
              for status in UNCLEAN for by in FILE_ROUTES[endpoint]]


def test_every_file_route_is_checked_with_unclean_files():
    assert {endpoint for endpoint, *_ in FILE_CASES} == set(FILE_ROUTES)
    downloads = {endpoint for endpoint, rule, _method in RULES if "attachment_id" in rule}
    assert downloads == set(FILE_ROUTES), "a new file route: add it to FILE_ROUTES"


@pytest.mark.parametrize(("endpoint", "rule", "status", "by"), FILE_CASES,
                         ids=[f"{e} {s} {b}" for e, _r, s, b in FILE_CASES])
def test_a_file_that_is_not_clean_is_served_to_nobody(world, endpoint, rule, status, by):
    """A quarantined or refused file is not found, even by those who may read the case's clean
    files; the others get what they get for a clean file (the sign-in page, a 403, ...)."""
    clean = {"reporter": world.pub_file, "agency": world.pub_document}[by]
    url = world.url(endpoint, rule, attachment_id=world.unclean[(status, by)])
    problems = []
    for role in ROLES:
        allowed = MATRIX[endpoint][role] == OK
        expected = NOT_FOUND if allowed else MATRIX[endpoint][role]
        before = world.fingerprint()
        response = world.request(role, "GET", url)
        got = classify(response)
        if got != expected:
            problems.append(f"{role}: expected {expected}, got {got} ({response.status_code})")
        if world.fingerprint() != before:
            problems.append(f"{role}: the database changed")
        if PDF in response.get_data():
            problems.append(f"{role}: the file's bytes were sent")
        if allowed:
            # The same reader gets the clean file of the same kind: only the status differs.
            served = world.request(role, "GET", world.url(endpoint, rule, attachment_id=clean))
            if served.status_code != 200 or served.get_data() != PDF:
                problems.append(f"{role}: not even the clean file is served "
                                f"({served.status_code}): the check proves nothing")
    assert not problems, f"{endpoint} {status} {by} file at {url}:\n  " + "\n  ".join(problems)


# -- the checks above can fail: the world shows what they look for -------------------------------


def test_each_party_reads_its_own_case_so_a_leak_would_show(world):
    """The marker words are on the pages of those who may read them: were they shown to anyone
    else, the sweep would see them."""
    def page(role: str, url: str) -> bytes:
        response = world.request(role, "GET", url)
        assert response.status_code == 200, (role, url, response.status_code)
        return response.get_data().lower()

    assert ALPHA in page("officer_a", f"/agency/cases/{world.case_a}")
    assert PAPA in page("supervisor", f"/moderation/cases/{world.case_pub}")
    assert BRAVO in page("officer_b", f"/agency/cases/{world.case_b}")
    assert BRAVO in page("moderator", f"/moderation/cases/{world.case_b}")
    assert PAPA in page("reporter", f"/track/{world.pub_reference}")
    assert PUBLIC_TEXT.lower().encode() in page("anonymous", f"/answers/{world.pub_reference}")


def test_the_fingerprint_sees_what_an_authorised_post_changes(world):
    """An administrator's field-less POST does act, and the database check notices it."""
    url = world.url("admin.user_deactivate", "/admin/users/<id:user_id>/deactivate")
    before = world.fingerprint()
    response = world.request("admin", "POST", url)
    assert response.status_code == 303
    after = world.fingerprint()
    assert [name for name in before if before[name] != after[name]] == ["users"]


@pytest.mark.parametrize("endpoint", ["agency.case_page", "agency.act", "agency.attachment"])
def test_agency_a_finds_nothing_of_agency_b(world, endpoint):
    """The matrix aims the agency's case pages at A's case; the other way round is a 404 too."""
    urls = {"agency.case_page": (f"/agency/cases/{world.case_b}", "GET"),
            "agency.act": (f"/agency/cases/{world.case_b}/act/answer", "POST"),
            "agency.attachment": (f"/agency/cases/{world.case_b}/files/{world.b_file}", "GET")}
    url, method = urls[endpoint]
    answers_ = {}
    for role in ("officer_a", "head_a", "officer_b"):
        before = world.fingerprint()
        response = world.request(role, method, url)
        answers_[role] = classify(response, method)
        assert role == "officer_b" or world.fingerprint() == before, role
        assert role == "officer_b" or BRAVO not in response.get_data().lower(), role
    assert answers_ == {"officer_a": NOT_FOUND, "head_a": NOT_FOUND, "officer_b": OK}
