"""Every form, fed any Unicode: never a 500, and whatever comes back is HTML-escaped.

The forms are found, not listed: every subclass of FlaskForm in `portal` and `moderation`.
Each must have a row in ROUTES (the page that receives it, who sends it, what a valid value
of each field is) or be named in BASES; a new form without a row fails
`test_every_form_has_a_route`, naming it.

For each form, hypothesis sends values into every field, each either the field's valid value
(so the deeper checks and the success path run too) or hostile text: any Unicode (surrogates
aside, which no browser can send), control characters and NUL, right-to-left overrides,
markup, very long strings. POST forms carry a valid CSRF token. The answer (and the page a
redirect leads to) must not be a 5xx, and no submitted value with a character HTML escapes
may appear in it unescaped. A failing example is printed by hypothesis, field by field.
"""

from __future__ import annotations

import importlib
import itertools
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient
from flask_wtf import FlaskForm
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import moderation
import portal
from portal.agency import team
from portal.citizen.forms import clean_text
from portal.models import Case, User
from tests.factories import PASSWORD, PATHS
from tests.helpers import AuthActions, csrf_of

EXAMPLES = 25
# Derandomized: the same examples on every run and machine. No shrinking: each example is an
# HTTP round trip, and shrinking one failure took hypothesis its full five minutes; the
# failing example is printed as drawn, field by field, and the assertion quotes the value.
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    phases=(Phase.explicit, Phase.reuse, Phase.generate),
                    report_multiple_bugs=False,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.large_base_example])

# What an attacker types. Each must come back escaped, wherever it is echoed.
HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    "</textarea><script>alert(1)</script>",
    "<a href=\"javascript:alert(1)\">x</a>",
    "\x00", "nul\x00byte", "\u202eevil\u202c", "\u200f\u200e", "\ufeff", "\r\n\r\n", "\x1b[31m",
    "{{ 7 * 7 }}", "{% raw %}", "%s%n%x", "'; DROP TABLE cases; --", "\\", "&amp;&lt;&#39;",
    "𝕳𝖆 𝖓𝖔𝖎 🇻🇳", "Z\u0335\u0321\u0322a\u0336\u0327lgo", "ﷺ" * 20,
]
MARKUP = '<a href="javascript:alert(1)">x</a> <script>alert(1)</script>'
# Never in a page of the portal's own: seeing one means a value came back unescaped.
RAW_MARKUP = ["<script>alert(", "<img src=x onerror", "<svg onload", "</textarea><script",
              '<a href="javascript:']
ESCAPED_BY_HTML = re.compile(r"[<>\"'&]")


def hostile_text() -> st.SearchStrategy[str]:
    any_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=80)
    return st.one_of(
        any_text,
        st.sampled_from(HOSTILE),
        st.builds(lambda a, b, c: a + b + c, any_text, st.sampled_from(HOSTILE), any_text),
        st.builds(lambda unit, n: unit * n, st.sampled_from(["x", "é", "<b>", "🇻🇳", "\u202e", "a "]),
                  st.integers(1000, 25_000)),
    )


def value_of(valid: str | None) -> st.SearchStrategy[str]:
    return st.one_of(st.just(valid), hostile_text()) if valid is not None else hostile_text()


# -- where each form is sent -----------------------------------------------------------------


@dataclass
class Target:
    path: str
    page: str | None = None  # the page the form is on (its CSRF token); None: `path` itself
    valid: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    role: str | None  # who signs in; None: a visitor
    target: Callable[[World], Target]
    method: str = "POST"
    fresh_visitor: bool = False  # a new browser from a new address for each example
    multipart: bool = False
    prepare: Callable[[World, FlaskClient], None] | None = None  # readies that browser


class World:
    """The people and cases a form needs, made once per test and made again when used up."""

    def __init__(self, app, factory, session):
        self.app, self.factory, self.session = app, factory, session
        self._browsers: dict[str | None, FlaskClient] = {}
        self._cases: dict[str, Case] = {}
        self._tracked: dict[str, tuple[int, str]] = {}
        self._addresses = itertools.count(1)
        self._invited: int | None = None

    def user(self, role: str) -> User:
        org = {"moderator": "MTTQ-HN", "supervisor": "MTTQ-HN", "agency_head": "SO-XD",
               "agency_officer": "SO-XD", "admin": None}[role]
        user = self.factory.user(role, org)
        self.session.commit()
        return user

    def browser(self, role: str | None, fresh: bool = False) -> FlaskClient:
        if fresh:
            client = self.app.test_client()
            n = next(self._addresses)
            client.environ_base["REMOTE_ADDR"] = f"10.77.{n // 250}.{n % 250 + 1}"
            return client
        if role not in self._browsers:
            client = self.app.test_client()
            if role is not None:
                signed_in = AuthActions(client).login(self.user(role).email, PASSWORD)
                assert signed_in.status_code == 303, signed_in.get_data(as_text=True)[-2000:]
            self._browsers[role] = client
        return self._browsers[role]

    def page(self, client: FlaskClient, path: str) -> str:
        """The page a form is on, fetched once while nothing redirected this browser."""
        pages = client.__dict__.setdefault("form_pages", {})
        if path not in pages:
            response = client.get(path)
            assert response.status_code < 500, response.get_data(as_text=True)[-3000:]
            pages[path] = response.get_data(as_text=True)
        return pages[path]

    @staticmethod
    def moved(client: FlaskClient) -> None:
        """After a redirect the session may be new (a sign-in) and the pages out of date."""
        client.__dict__.pop("form_pages", None)

    def agency_id(self, code: str) -> int:
        return self.factory.agency(code).id

    def case(self, status: str) -> Case:
        """A case in `status`; a new one once a valid form has moved the last one on."""
        case = self._cases.get(status)
        if case is not None:
            self.session.expire_all()
            case = self.session.get(Case, case.id)
        if case is None or case.status != status:
            self.user("moderator"), self.user("agency_officer")
            case = self.factory.case_in(status)
            self.session.commit()
            self._cases[status] = case
        return case

    def tracked(self, status: str) -> tuple[Case, str]:
        """A case in `status` whose code the visitor's browser entered, and its tracking page."""
        case_id, url = self._tracked.get(status, (0, ""))
        self.session.expire_all()
        case = self.session.get(Case, case_id)
        if case is None or case.status != status:
            self.user("moderator"), self.user("agency_officer")
            case, code = self.factory.report()
            for action in PATHS[status]:
                self.factory.step(case, action)
            self.session.commit()
            client = self.browser(None)
            page = client.get("/track").get_data(as_text=True)
            found = client.post("/track", data={"csrf_token": csrf_of(page), "code": code})
            assert found.status_code == 303
            url = urlsplit(found.headers["Location"]).path
            self._tracked[status] = (case.id, url)
        return case, url

    def code(self) -> str:
        """The tracking code of a report."""
        if not hasattr(self, "_code"):
            _case, self._code = self.factory.report()
            self.session.commit()
        return self._code

    def invitation(self) -> str:
        """An unused invitation link's token."""
        self.session.expire_all()
        if self._invited is None or not team.is_invited(self.session.get(User, self._invited)):
            head = self.user("agency_head")
            with self.app.test_request_context():
                self._invited = team.invite_officer(
                    self.session, head, email=f"invited{next(self._addresses)}@example.org",
                    name="Người được mời").id
                self.session.commit()
        with self.app.test_request_context():
            return team.activation_token(self.session.get(User, self._invited))


def front_action(action: str, status: str, **valid: Callable[[World], str] | str):
    def target(world: World) -> Target:
        case = world.case(status)
        values = {"version": str(case.version), "canned": ""}
        values.update({k: v(world) if callable(v) else v for k, v in valid.items()})
        return Target(f"/moderation/cases/{case.id}/act/{action}",
                      f"/moderation/cases/{case.id}", values)
    return target


def agency_action(action: str, **valid: Callable[[World], str] | str):
    def target(world: World) -> Target:
        case = world.case("in_progress")
        values = {"version": str(case.version)}
        values.update({k: v(world) if callable(v) else v for k, v in valid.items()})
        return Target(f"/agency/cases/{case.id}/act/{action}", f"/agency/cases/{case.id}", values)
    return target


def reporter_action(action: str, status: str, **valid: str):
    def target(world: World) -> Target:
        case, url = world.tracked(status)
        return Target(f"{url}/{action}", "/track", {"version": str(case.version), **valid})
    return target


def report(world: World) -> Target:
    return Target("/report", None, {
        "agency_id": str(world.agency_id("SO-XD")), "conduct": "slow_handling",
        "sector": "construction", "description": "Hồ sơ cấp phép xây dựng đã quá hạn ba tuần.",
        "occurred_on": "2026-10-05", "ward_code": "70", "address": "12 Hàng Bài",
        "reporter_kind": "resident", "business_name": "", "tax_code": "0101234567",
        "reporter_name": "Trần Thị Bình", "reporter_email": "binh@example.org",
        "reporter_phone": "0912 345 678", "confidential": "", "publish_consent": "y",
        "evidence": "", "homepage": ""})


def fixed(path: str, page: str | None = None, **valid: str | Callable[[World], str]):
    def target(world: World) -> Target:
        return Target(path, page, {k: v(world) if callable(v) else v for k, v in valid.items()})
    return target


def scratch_agency(world: World) -> int:
    return world.agency_id("SO-YT")  # put back after the test by `restore_agencies`


def throwaway_user(world: World) -> int:
    user = world.factory.user("agency_officer", "SO-YT")
    world.session.commit()
    return user.id


ROUTES: dict[str, Route] = {
    # The citizen's forms.
    "portal.citizen.forms.ReportForm": Route(None, report, fresh_visitor=True, multipart=True),
    "portal.citizen.forms.TrackForm": Route(None, fixed("/track", code=World.code),
                                            fresh_visitor=True),
    "portal.citizen.forms.ReplyForm": Route(None, reporter_action("reply", "needs_info",
                                                                  reply="Biên nhận số 123/BN")),
    "portal.citizen.forms.RatingForm": Route(None, reporter_action(
        "rate", "resolved", access="4", procedure="3", attitude="5", result="4", handling="4",
        overall="4", comment="Cảm ơn.")),
    "portal.citizen.forms.DisputeForm": Route(None, reporter_action("dispute", "resolved",
                                                                    reason="Chưa được giải quyết.")),
    # Signing in, passwords, the second factor.
    "portal.auth.forms.SignInForm": Route(None, fixed(
        "/login", email=lambda w: w.user("moderator").email, password=PASSWORD), fresh_visitor=True),
    "portal.auth.forms.CodeForm": Route(None, fixed("/login/code"), fresh_visitor=True,
                                        prepare=lambda w, client: sign_in_halfway(w, client)),
    "portal.auth.forms.PasswordForm": Route("moderator", fixed(
        "/account/password", current=PASSWORD, new="a new password 2026", confirm="a new password 2026")),
    "portal.auth.forms.ActivationForm": Route(None, lambda w: Target(
        f"/account/activate/{w.invitation()}", None,
        {"new": "my own password 2026", "confirm": "my own password 2026"})),
    "portal.auth.forms.AppCodeForm": Route("moderator", fixed("/account/two-factor")),
    "portal.auth.forms.ManageForm": Route("supervisor", fixed("/account/two-factor/manage",
                                                              "/account/two-factor")),
    # The Front's back office.
    "moderation.forms.QueueFilterForm": Route("moderator", fixed(
        "/moderation/", status="open", sort="deadline"), method="GET"),
    "moderation.forms.NoFieldsForm": Route("moderator", front_action("claim", "submitted")),
    "moderation.forms.NoteForm": Route("moderator", front_action("note", "submitted",
                                                                 text="Đã gọi điện.")),
    "moderation.forms.AskInfoForm": Route("moderator", front_action(
        "ask_info", "submitted", question="Anh/chị nộp hồ sơ ở đâu?")),
    "moderation.forms.RejectForm": Route("moderator", front_action(
        "reject", "submitted", reason="insufficient", note="Thiếu thông tin.")),
    "moderation.forms.MergeForm": Route("moderator", front_action(
        "merge", "submitted", into=lambda w: w.case("forwarded").reference)),
    "moderation.forms.ForwardForm": Route("moderator", front_action(
        "forward", "submitted", agency_id=lambda w: str(w.agency_id("SO-XD")),
        recommendation="Đề nghị Sở trả lời.", due_on="")),
    "moderation.forms.RedactForm": Route("moderator", front_action(
        "redact", "submitted", redacted_text="Hồ sơ quá hạn.")),
    "moderation.forms.ReasonForm": Route("moderator", front_action(
        "return_answer", "answered", reason="Chưa đủ.")),
    "moderation.forms.AssessmentForm": Route("moderator", front_action(
        "accept_answer", "answered", assessment="Trả lời đầy đủ.")),
    "moderation.forms.TransferDecisionForm": Route("moderator", front_action(
        "approve_transfer", "transfer_requested", note="Đúng thẩm quyền.")),
    # The agency's workspace.
    "portal.agency.forms.AssignOfficerForm": Route("agency_head", agency_action(
        "assign_officer", officer_id=lambda w: str(w.user("agency_officer").id))),
    "portal.agency.forms.ExtensionForm": Route("agency_head", agency_action(
        "request_extension", working_days="3", reason="Cần thêm thời gian.")),
    "portal.agency.forms.TransferForm": Route("agency_head", agency_action(
        "request_transfer", to_agency_id=lambda w: str(w.agency_id("SO-NNMT")),
        reason="Thuộc thẩm quyền Sở Nông nghiệp và Môi trường.")),
    "portal.agency.forms.AnswerForm": Route("agency_head", agency_action(
        "answer", findings="Đã kiểm tra.", outcome="substantiated", actions_taken="",
        reply_to_recommendation="", evidence=""), multipart=True),
    "portal.agency.team_views.InviteForm": Route("agency_head", fixed(
        "/agency/team/invite", "/agency/team", email="moi@example.org", name="Cán bộ mới")),
    "portal.agency.team_views.StaffActionForm": Route("agency_head", lambda w: Target(
        f"/agency/team/{w.user('agency_officer').id}/deactivate", "/agency/team")),
    "portal.agency.team_views.PeriodForm": Route("agency_head", fixed("/agency/figures", months="6"),
                                                 method="GET"),
    # Administration.
    "portal.admin.apikeys.ApiKeyForm": Route("admin", fixed("/admin/apikeys", name="Ứng dụng")),
    "portal.admin.forms.ActionForm": Route("admin", lambda w: Target(
        f"/admin/users/{throwaway_user(w)}/deactivate", f"/admin/users/{throwaway_user(w)}")),
    "portal.admin.forms.AgencyFilterForm": Route("admin", fixed("/admin/agencies", kind="", q="Sở"),
                                                 method="GET"),
    "portal.admin.forms.AgencyForm": Route("admin", fixed(
        "/admin/agencies/new", code="ZZ-MOI", name="Ban Mới", name_en="New board",
        kind="city_body", parent_id="", ward_code="")),
    "portal.admin.forms.AgencyNamesForm": Route("admin", lambda w: Target(
        f"/admin/agencies/{scratch_agency(w)}/rename", f"/admin/agencies/{scratch_agency(w)}",
        {"name": "Sở Y tế", "name_en": "Department of Health"})),
    "portal.admin.forms.MoveForm": Route("admin", lambda w: Target(
        f"/admin/agencies/{scratch_agency(w)}/move", f"/admin/agencies/{scratch_agency(w)}",
        {"parent_id": ""})),
    "portal.admin.forms.UserFilterForm": Route("admin", fixed("/admin/users", role="", q="a"),
                                               method="GET"),
    "portal.admin.forms.MembershipForm": Route("admin", lambda w: Target(
        f"/admin/users/{throwaway_user(w)}/role", f"/admin/users/{throwaway_user(w)}",
        {"role": "agency_officer", "org_code": "SO-YT"})),
    "portal.admin.forms.UserForm": Route("admin", fixed(
        "/admin/users/new", role="moderator", org_code="MTTQ-HN", email="moi@example.org",
        name="Người mới", password="a temporary password")),
    "portal.admin.forms.RuleForm": Route("admin", fixed(
        "/admin/rules/new", stage="answer", conduct="", sector="land", working_days="10")),
    "portal.admin.forms.HolidayForm": Route("admin", fixed(
        "/admin/holidays", day="2027-05-05", name="Ngày nghỉ")),
    "portal.admin.forms.CannedReplyForm": Route("admin", fixed(
        "/admin/replies/new", purpose="ask_info", title="Hỏi số biên nhận",
        body="Anh/chị cho biết số biên nhận.")),
    "portal.admin.forms.BanForm": Route("admin", fixed(
        "/admin/banned-contacts", contact="spam@example.org", reason="Gửi rác.")),
    # The public pages' filters.
    "portal.scoreboard.views.PeriodForm": Route(None, fixed(
        "/agencies", **{"from": "2026-01", "to": "2026-06", "sector": "", "kind": ""}),
        method="GET"),
    "portal.published.forms.AnswerFilterForm": Route(None, fixed(
        "/answers", q="giấy phép", agency="", sector=""), method="GET"),
}
# Never sent as such: the forms above inherit from them.
BASES = {"moderation.forms.ActionForm", "moderation.forms.CannedTextForm"}


def every_form() -> dict[str, type[FlaskForm]]:
    for package in (portal, moderation):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            importlib.import_module(module.name)
    found, todo = {}, [FlaskForm]
    while todo:
        for cls in todo.pop().__subclasses__():
            todo.append(cls)
            if cls.__module__.startswith(("portal.", "moderation.")):
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return found


FORMS = every_form()


def test_every_form_has_a_route():
    missing = sorted(set(FORMS) - set(ROUTES) - BASES)
    assert not missing, f"forms with no row in ROUTES (tests/test_form_properties.py): {missing}"
    assert not set(ROUTES) - set(FORMS), "ROUTES names forms that no longer exist"


# -- the property ------------------------------------------------------------------------------


def field_names(app, form_class: type[FlaskForm]) -> list[str]:
    """The names a browser sends for the form's fields (CSRF token aside)."""
    with app.test_request_context():
        form = form_class(meta={"csrf": False})
        return [f.name for f in form if f.name != "csrf_token"]


def around(html: str, needle: str) -> str:
    at = html.index(needle)
    return html[max(0, at - 200):at + len(needle) + 100]


def assert_escaped(html: str, values: dict[str, str], before: str, where: str) -> None:
    for raw in RAW_MARKUP:
        sent = [name for name, value in values.items() if raw in value]
        assert raw not in html, (f"{raw!r}, sent in {sent}, came back unescaped in {where}:\n"
                                 f"{around(html, raw)}")
    for name, value in values.items():
        for shown in {value, clean_text(value)}:
            # Short values such as '">' occur in any page; what is long enough to be the
            # value, and was not on the page before it was sent, must not be there raw.
            if len(shown) >= 6 and ESCAPED_BY_HTML.search(shown) and shown in html \
                    and shown not in before:
                raise AssertionError(f"the value of {name!r} ({shown[:200]!r}) came back "
                                     f"unescaped in {where}:\n{around(html, shown)[:1000]}")


def sign_in_halfway(world: World, client: FlaskClient) -> None:
    """Password right, code not yet given: the browser is at the second step."""
    page = client.get("/login").get_data(as_text=True)
    response = client.post("/login", data={"csrf_token": csrf_of(page),
                                           "email": world.user("supervisor").email,
                                           "password": PASSWORD})
    assert response.headers["Location"].startswith("/login/code"), response.status_code


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_any_input_gives_no_error_and_comes_back_escaped(restore_agencies, name, app, factory,
                                                        session):
    route = ROUTES[name]
    names = field_names(app, FORMS[name])
    world = World(app, factory, session)
    csrf = getattr(FORMS[name].Meta, "csrf", True) is not False

    def send(value: Callable[[str, str | None], str]) -> None:
        """Fill every field with `value(name, its valid value)`, send the form, read the answer."""
        target = route.target(world)
        client = world.browser(route.role, fresh=route.fresh_visitor)
        if route.prepare:
            route.prepare(world, client)
        before = world.page(client, target.page or target.path)
        valid = dict(target.valid)
        if "submission_token" in names:  # the report form's one-time token, from its page
            valid["submission_token"] = re.search(
                r'id="submission_token"[^>]*value="([^"]*)"', before).group(1)
        values = {n: value(n, valid.get(n)) for n in names}
        if route.method == "GET":
            response = client.get(target.path, query_string=values)
        else:
            form = {**values, "csrf_token": csrf_of(before)} if csrf else values
            response = client.post(target.path, data=form, content_type=(
                "multipart/form-data" if route.multipart else None))
        html = response.get_data(as_text=True)
        response.close()
        assert response.status_code < 500, html[-3000:]
        assert_escaped(html, values, before, f"the answer ({response.status_code})")
        if 300 <= response.status_code < 400:
            world.moved(client)
            location = urlsplit(response.headers["Location"])
            followed = client.get(location.path, query_string=location.query)
            assert followed.status_code < 500
            assert_escaped(followed.get_data(as_text=True), values, before,
                           f"the page it led to ({location.path})")

    # Markup in every field at once, so that each field's echo (a value, a message quoting
    # it) is on the page; then what hypothesis makes of it.
    send(lambda _name, _valid: MARKUP)

    @SETTINGS
    @given(st.data())
    def any_input(data):
        send(lambda name, valid: data.draw(value_of(valid), label=name))

    any_input()
