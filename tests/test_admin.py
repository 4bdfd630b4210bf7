"""Administration through HTTP: agencies, users and roles, deadline rules, holidays, canned replies."""

from __future__ import annotations

import html
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal.deadlines import WorkingCalendar, rule_days, today
from portal.models import Agency, CannedReply, DeadlineRule, Holiday, User
from portal.vocab import DeadlineStage
from tests.factories import PASSWORD

ORG = {"admin": None, "supervisor": "MTTQ-HN", "moderator": "MTTQ-HN",
       "agency_officer": "SO-XD", "agency_head": "SO-XD"}
EVERY_ONE = ["/admin/agencies", "/admin/agencies/new", "/admin/users", "/admin/users/new"]
SETTINGS = ["/admin/", "/admin/rules", "/admin/rules/new", "/admin/holidays", "/admin/replies",
            "/admin/replies/new"]


# The agencies table outlives each test (tests/conftest.py `restore_agencies`).
pytestmark = pytest.mark.usefixtures("restore_agencies")


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


class Staff:
    """A signed-in staff member, reading pages in English."""

    def __init__(self, auth, factory, session, role: str, email: str | None = None):
        self.auth, self.client = auth, auth.client
        self.user = factory.user(role, ORG[role], email=email)
        session.commit()
        self.client.get("/lang/en")
        response = auth.login(self.user.email, PASSWORD)
        assert response.status_code == 303, response.get_data(as_text=True)

    def get(self, path: str):
        return self.client.get(path)

    def post(self, path: str, **data):
        return self.auth.post(path, data, page="/admin/")


@pytest.fixture
def admin(auth, factory, session):
    return Staff(auth, factory, session, "admin")


def agency(session, code: str) -> Agency:
    session.expire_all()
    return session.scalars(select(Agency).where(Agency.code == code)).one()


# -- who may do what --------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for path in [*EVERY_ONE, *SETTINGS]:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/login"), path
    assert client.post("/admin/holidays", data={}).status_code == 400  # no CSRF token


@pytest.mark.parametrize("role", ["moderator", "agency_officer", "agency_head"])
def test_other_staff_are_refused(auth, factory, session, role):
    staff = Staff(auth, factory, session, role)
    for path in [*EVERY_ONE, *SETTINGS]:
        assert staff.get(path).status_code == 403, path
    xd = agency(session, "SO-XD")
    assert staff.auth.post(f"/admin/agencies/{xd.id}/deactivate").status_code == 403
    assert staff.auth.post("/admin/holidays", {"day": "2031-05-05", "name": "x"}).status_code == 403
    assert agency(session, "SO-XD").active
    assert session.scalar(select(func.count()).select_from(Holiday)) == 0


def test_a_supervisor_manages_rules_holidays_and_replies_only(auth, factory, session):
    supervisor = Staff(auth, factory, session, "supervisor")
    for path in SETTINGS:
        assert supervisor.get(path).status_code == 200, path
    for path in EVERY_ONE:
        assert supervisor.get(path).status_code == 403, path
    xd = agency(session, "SO-XD")
    assert supervisor.post(f"/admin/agencies/{xd.id}/rename", name="Sở X").status_code == 403
    index = page_text(supervisor.get("/admin/"))
    assert "/admin/rules" in index and "/admin/agencies" not in index
    response = supervisor.post("/admin/rules/new", stage="answer", conduct="", sector="land",
                               working_days="20")
    assert response.status_code == 303


def test_an_administrator_opens_every_page(admin):
    for path in [*EVERY_ONE, *SETTINGS]:
        assert admin.get(path).status_code == 200, path


# -- agencies ---------------------------------------------------------------------------------


def test_agencies_are_listed_by_key_with_filters(admin, session):
    first = page_text(admin.get("/admin/agencies"))
    assert "UBND-HN" in first and "Next page" in first
    ids = sorted(session.scalars(select(Agency.id)))
    second = page_text(admin.get(f"/admin/agencies?after={ids[49]}"))
    assert f'/admin/agencies/{ids[50]}"' in second and f'/admin/agencies/{ids[49]}"' not in second
    departments = page_text(admin.get("/admin/agencies?kind=department"))
    assert "SO-XD" in departments and "UBND-00070" not in departments
    found = page_text(admin.get("/admin/agencies?q=xây dựng"))
    assert "SO-XD" in found and "SO-YT" not in found
    assert "SO-XD" in page_text(admin.get("/admin/agencies?q=so-xd"))
    accents_ignored = page_text(admin.get("/admin/agencies?q=hoan kiem&kind=commune_committee"))
    assert "UBND-00070" in accents_ignored and "UBND-00004" not in accents_ignored
    assert "No agency matches." in page_text(admin.get("/admin/agencies?q=zzzz"))
    assert admin.get("/admin/agencies?kind=nonsense&after=abc").status_code == 200


def test_adding_an_agency(admin, session):
    city = agency(session, "UBND-HN")
    response = admin.post("/admin/agencies/new", code="so-moi", name="Sở Mới",
                          name_en="New Department", kind="department", parent_id=str(city.id),
                          ward_code="")
    assert response.status_code == 303
    new = agency(session, "SO-MOI")
    assert (new.name, new.name_en, new.kind, new.parent_id, new.ward_code, new.active) == (
        "Sở Mới", "New Department", "department", city.id, None, True)
    assert "Sở Mới" in page_text(admin.client.get(response.headers["Location"]))

    commune = agency(session, "UBND-00070")
    response = admin.post("/admin/agencies/new", code="DC-00070", name="Địa chính phường Hoàn Kiếm",
                          kind="commune_body", parent_id=str(commune.id), ward_code="70")
    assert response.status_code == 303
    assert agency(session, "DC-00070").ward_code == 70


@pytest.mark.parametrize(("values", "field", "message"), [
    ({"code": "SO-XD"}, "code", "Another agency already has this code."),
    ({"code": "so xd!"}, "code", "2 to 32 letters, digits and dashes"),
    ({"name": ""}, "name", "Enter the agency"),
    ({"name": "<b>Sở</b>"}, "name", "Write plain text"),
    ({"kind": "ministry"}, "kind", "Choose a kind from the list."),
    ({"ward_code": "70"}, "ward_code", "Only a commune-level agency has a commune or ward."),
    ({"kind": "commune_body"}, "ward_code", "A commune-level agency needs its commune or ward."),
    ({"kind": "commune_body", "ward_code": "99999"}, "ward_code", "Choose a commune or ward"),
    ({"parent_id": ""}, "parent_id", "Choose the agency it belongs to."),
    ({"parent_id": "999999"}, "parent_id", "Choose an agency from the list."),
    ({"kind": "commune_committee", "ward_code": "70"}, "ward_code", "already has its People"),
])
def test_a_bad_agency_is_refused_next_to_its_field(admin, session, values, field, message):
    count = session.scalar(select(func.count()).select_from(Agency))
    data = {"code": "SO-THU", "name": "Sở Thử", "kind": "department",
            "parent_id": str(agency(session, "UBND-HN").id), "ward_code": "", **values}
    response = admin.post("/admin/agencies/new", **data)
    assert response.status_code == 400
    body = page_text(response)
    assert message in body
    assert f'id="{field}-error"' in response.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Agency)) == count


def test_a_commune_body_stays_in_its_commune(admin, session):
    other_commune = session.scalars(select(Agency).where(Agency.kind == "commune_committee",
                                                         Agency.ward_code != 70)).first()
    response = admin.post("/admin/agencies/new", code="DC-X", name="Địa chính", kind="commune_body",
                          parent_id=str(other_commune.id), ward_code="70")
    assert response.status_code == 400
    assert "belongs to another commune or ward" in page_text(response)


def test_renaming_an_agency(admin, session):
    xd = agency(session, "SO-XD")
    response = admin.post(f"/admin/agencies/{xd.id}/rename", name="Sở Xây dựng Hà Nội",
                          name_en="Hanoi Department of Construction")
    assert response.status_code == 303
    assert agency(session, "SO-XD").name == "Sở Xây dựng Hà Nội"
    response = admin.post(f"/admin/agencies/{xd.id}/rename", name="  ", name_en="x")
    assert response.status_code == 400 and "Enter the agency" in page_text(response)
    assert agency(session, "SO-XD").name_en == "Hanoi Department of Construction"
    assert admin.post("/admin/agencies/999999/rename", name="x").status_code == 404


def test_moving_an_agency_in_the_tree_and_refusing_a_cycle(admin, session):
    xd, yt = agency(session, "SO-XD"), agency(session, "SO-YT")
    city = agency(session, "UBND-HN")
    for code, parent in (("BQL-A", xd), ("BQL-B", None)):
        response = admin.post("/admin/agencies/new", code=code, name=f"Ban {code}", kind="city_body",
                              parent_id=str((parent or agency(session, "BQL-A")).id), ward_code="")
        assert response.status_code == 303
    a, b = agency(session, "BQL-A"), agency(session, "BQL-B")
    assert b.parent_id == a.id

    assert admin.post(f"/admin/agencies/{a.id}/move", parent_id=str(yt.id)).status_code == 303
    assert agency(session, "BQL-A").parent_id == yt.id

    # A under B, which is under A: a cycle. And A under itself.
    for parent in (b, a):
        response = admin.post(f"/admin/agencies/{a.id}/move", parent_id=str(parent.id))
        assert response.status_code == 400
        assert "cannot sit under itself or under one of its own units" in page_text(response)
        assert agency(session, "BQL-A").parent_id == yt.id
    # The top of the tree cannot go under one of its own departments either.
    response = admin.post(f"/admin/agencies/{city.id}/move", parent_id=str(xd.id))
    assert response.status_code == 400
    assert agency(session, "UBND-HN").parent_id is None
    # Only the top of the tree has no parent.
    response = admin.post(f"/admin/agencies/{a.id}/move", parent_id="")
    assert response.status_code == 400 and "Choose the agency it belongs to." in page_text(response)


def test_a_deactivated_agency_leaves_the_report_form(admin, session, client):
    yt = agency(session, "SO-YT")
    option = f'<option value="{yt.id}">'
    assert option in client.get("/report").get_data(as_text=True)

    assert admin.post(f"/admin/agencies/{yt.id}/deactivate").status_code == 303
    assert not agency(session, "SO-YT").active
    assert option not in client.get("/report").get_data(as_text=True)
    assert "deactivated" in page_text(admin.get(f"/admin/agencies/{yt.id}"))
    # No new account can join it either.
    response = admin.post("/admin/users/new", email="new@example.org", name="Cán bộ",
                          role="agency_officer", org_code="SO-YT", password=PASSWORD)
    assert response.status_code == 400 and "This agency is deactivated." in page_text(response)

    assert admin.post(f"/admin/agencies/{yt.id}/reactivate").status_code == 303
    assert agency(session, "SO-YT").active
    assert option in client.get("/report").get_data(as_text=True)


# -- users and roles --------------------------------------------------------------------------


def test_creating_an_account_and_changing_its_role(admin, session, app):
    response = admin.post("/admin/users/new", email="Mod.Moi@Example.org", name="Nguyễn Thị Hoa",
                          role="moderator", org_code="mttq-00070", password="a long temporary pass")
    assert response.status_code == 303
    user = session.scalars(select(User).where(User.email == "mod.moi@example.org")).one()
    assert (user.role, user.front_committee.code, user.agency_id) == ("moderator", "MTTQ-00070", None)
    assert "mod.moi@example.org" in page_text(admin.get("/admin/users"))
    assert "mod.moi@example.org" in page_text(admin.get("/admin/users?role=moderator&q=hoa"))
    assert "mod.moi@example.org" not in page_text(admin.get("/admin/users?role=admin"))

    # The new person signs in with the temporary password.
    other = app.test_client()
    from tests.helpers import AuthActions
    assert AuthActions(other).login("mod.moi@example.org", "a long temporary pass").status_code == 303

    response = admin.post(f"/admin/users/{user.id}/role", role="agency_head", org_code="SO-XD")
    assert response.status_code == 303
    session.expire_all()
    assert (user.role, user.agency.code, user.front_committee_id) == ("agency_head", "SO-XD", None)
    response = admin.post(f"/admin/users/{user.id}/role", role="admin", org_code="")
    assert response.status_code == 303
    session.expire_all()
    assert (user.role, user.agency_id, user.front_committee_id) == ("admin", None, None)


@pytest.mark.parametrize(("values", "field", "message"), [
    ({"email": "not an email"}, "email", "This is not an email address."),
    ({"email": "admin.portal@example.org"}, "email", "A user with this email already exists."),
    ({"password": "short"}, "password", "A password has between 12 and 256 characters."),
    ({"role": "superuser"}, "role", "Choose a role from the list."),
    ({"org_code": "SO-XD"}, "org_code", "A Front role needs the code of a Front committee"),
    ({"org_code": ""}, "org_code", "A Front role needs the code of a Front committee"),
    ({"role": "agency_officer", "org_code": "MTTQ-HN"}, "org_code", "An agency role needs"),
    ({"role": "admin", "org_code": "SO-XD"}, "org_code", "An administrator belongs to no agency"),
    ({"name": ""}, "name", "Enter the person"),
])
def test_a_bad_account_is_refused_next_to_its_field(admin, session, values, field, message):
    data = {"email": "new@example.org", "name": "Trần Văn Nam", "role": "moderator",
            "org_code": "MTTQ-HN", "password": PASSWORD, **values}
    response = admin.post("/admin/users/new", **data)
    assert response.status_code == 400
    assert message in page_text(response)
    assert f'id="{field}-error"' in response.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(User)) == 1


def test_a_bad_role_change_stores_nothing(admin, factory, session):
    officer = factory.officer()
    session.commit()
    response = admin.post(f"/admin/users/{officer.id}/role", role="moderator", org_code="SO-XD")
    assert response.status_code == 400 and "A Front role needs" in page_text(response)
    session.expire_all()
    assert (officer.role, officer.agency.code) == ("agency_officer", "SO-XD")


def test_an_administrator_cannot_demote_or_deactivate_themselves(admin, session):
    me = admin.user
    response = admin.post(f"/admin/users/{me.id}/deactivate")
    assert response.status_code == 400
    assert "You cannot deactivate your own account." in page_text(response)
    response = admin.post(f"/admin/users/{me.id}/role", role="moderator", org_code="MTTQ-HN")
    assert response.status_code == 400 and "You cannot change your own role" in page_text(response)
    session.expire_all()
    assert me.active and me.role == "admin"
    assert admin.get("/admin/users").status_code == 200


def test_deactivating_a_user_ends_their_session_at_once(admin, factory, session, app):
    from tests.helpers import AuthActions

    supervisor = factory.user("supervisor", "MTTQ-HN")
    session.commit()
    theirs = app.test_client()
    assert AuthActions(theirs).login(supervisor.email, PASSWORD).status_code == 303
    assert theirs.get("/admin/rules").status_code == 200

    response = admin.post(f"/admin/users/{supervisor.id}/deactivate")
    assert response.status_code == 303
    response = theirs.get("/admin/rules")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert AuthActions(theirs).login(supervisor.email, PASSWORD).status_code == 400
    assert "deactivated" in page_text(admin.get("/admin/users"))

    assert admin.post(f"/admin/users/{supervisor.id}/reactivate").status_code == 303
    assert AuthActions(app.test_client()).login(supervisor.email, PASSWORD).status_code == 303


# -- deadline rules ---------------------------------------------------------------------------


def test_deadline_rules_add_edit_delete_with_defaults_shown(admin, session):
    page = page_text(admin.get("/admin/rules"))
    assert "Defaults when no rule applies" in page and "Answer by the agency" in page
    assert rule_days(session, DeadlineStage.ANSWER, "slow_handling", "land") == 15

    response = admin.post("/admin/rules/new", stage="answer", conduct="slow_handling", sector="land",
                          working_days="7")
    assert response.status_code == 303
    rule = session.scalars(select(DeadlineRule)).one()
    assert rule_days(session, DeadlineStage.ANSWER, "slow_handling", "land") == 7

    assert admin.get(f"/admin/rules/{rule.id}").status_code == 200
    response = admin.post(f"/admin/rules/{rule.id}", stage="answer", conduct="slow_handling",
                          sector="land", working_days="10")
    assert response.status_code == 303
    session.expire_all()
    assert rule.working_days == 10

    assert admin.post(f"/admin/rules/{rule.id}/delete").status_code == 303
    assert session.scalar(select(func.count()).select_from(DeadlineRule)) == 0
    assert admin.post(f"/admin/rules/{rule.id}/delete").status_code == 404


@pytest.mark.parametrize(("conduct", "sector"), [("slow_handling", "land"), ("", ""), ("", "land")])
def test_a_duplicate_rule_is_refused_with_a_message(admin, session, conduct, sector):
    data = {"stage": "triage", "conduct": conduct, "sector": sector, "working_days": "3"}
    assert admin.post("/admin/rules/new", **data).status_code == 303
    response = admin.post("/admin/rules/new", **{**data, "working_days": "5"})
    assert response.status_code == 400
    assert "A rule for this stage, conduct and area of work already exists" in page_text(response)
    assert [r.working_days for r in session.scalars(select(DeadlineRule))] == [3]


def test_editing_a_rule_into_another_rules_place_is_refused(admin, session):
    for sector in ("land", "health"):
        admin.post("/admin/rules/new", stage="answer", conduct="", sector=sector, working_days="9")
    health = session.scalars(select(DeadlineRule).where(DeadlineRule.sector == "health")).one()
    response = admin.post(f"/admin/rules/{health.id}", stage="answer", conduct="", sector="land",
                          working_days="9")
    assert response.status_code == 400 and "already exists" in page_text(response)
    session.expire_all()
    assert health.sector == "health"


@pytest.mark.parametrize(("values", "message"), [
    ({"working_days": "0"}, "Between 1 and 90 working days."),
    ({"working_days": "91"}, "Between 1 and 90 working days."),
    ({"working_days": "ten"}, "Enter a whole number."),
    ({"working_days": ""}, "Enter the number of working days."),
    ({"stage": "lunch"}, "Choose a stage from the list."),
    ({"conduct": "speeding"}, "Choose a conduct from the list."),
    ({"sector": "space"}, "Choose an area of work from the list."),
])
def test_a_bad_rule_is_refused(admin, session, values, message):
    data = {"stage": "answer", "conduct": "", "sector": "", "working_days": "5", **values}
    response = admin.post("/admin/rules/new", **data)
    assert response.status_code == 400
    assert message in page_text(response)
    assert session.scalar(select(func.count()).select_from(DeadlineRule)) == 0


# -- holidays ---------------------------------------------------------------------------------


def test_city_holidays_are_listed_upcoming_first_and_count_in_deadlines(admin, session):
    now = today()
    days = {"Nghỉ bù sự kiện": now + timedelta(days=40), "Ngày hội thành phố": now + timedelta(days=10),
            "Nghỉ đã qua": now - timedelta(days=30)}
    for name, day in days.items():
        response = admin.post("/admin/holidays", day=day.isoformat(), name=name)
        assert response.status_code == 303, page_text(response)
    page = page_text(admin.get("/admin/holidays"))
    positions = [page.index(name) for name in
                 ("Ngày hội thành phố", "Nghỉ bù sự kiện", "Nghỉ đã qua")]
    assert positions == sorted(positions)
    assert WorkingCalendar.load(session).city_holidays == frozenset(days.values())

    holiday = session.scalars(select(Holiday).where(Holiday.name == "Nghỉ đã qua")).one()
    assert admin.post(f"/admin/holidays/{holiday.id}/delete").status_code == 303
    assert "Nghỉ đã qua" not in page_text(admin.get("/admin/holidays"))


def test_a_duplicate_holiday_is_refused_with_a_message(admin, session):
    day = (today() + timedelta(days=20)).isoformat()
    assert admin.post("/admin/holidays", day=day, name="Ngày nghỉ").status_code == 303
    response = admin.post("/admin/holidays", day=day, name="Lần nữa")
    assert response.status_code == 400
    assert "This date is already a holiday of the city." in page_text(response)
    assert [h.name for h in session.scalars(select(Holiday))] == ["Ngày nghỉ"]


def test_a_national_holiday_is_added_with_a_warning(admin, session):
    national_day = date(today().year + 1, 9, 2)
    response = admin.post("/admin/holidays", day=national_day.isoformat(), name="Quốc khánh")
    assert response.status_code == 303
    page = page_text(admin.client.get(response.headers["Location"]))
    assert "already a national holiday (National Day)" in page
    assert session.scalar(select(func.count()).select_from(Holiday)) == 1


@pytest.mark.parametrize(("values", "message"), [
    ({"day": ""}, "Enter the date."),
    ({"day": "31/02/2030"}, "Enter the date as day, month and year."),
    ({"day": "1999-01-01"}, "Choose a date between 2000 and"),
    ({"name": ""}, "Enter what the day off is for."),
    ({"name": "<script>x</script>"}, "Write plain text"),
])
def test_a_bad_holiday_is_refused(admin, session, values, message):
    data = {"day": (today() + timedelta(days=5)).isoformat(), "name": "Nghỉ", **values}
    response = admin.post("/admin/holidays", **data)
    assert response.status_code == 400
    assert message in page_text(response)
    assert session.scalar(select(func.count()).select_from(Holiday)) == 0


# -- canned replies ---------------------------------------------------------------------------


def test_canned_replies_add_edit_deactivate(auth, factory, session):
    supervisor = Staff(auth, factory, session, "supervisor")
    response = supervisor.post("/admin/replies/new", purpose="ask_info", title="Hỏi địa chỉ",
                               body="Xin cho biết địa chỉ nơi xảy ra sự việc.")
    assert response.status_code == 303
    reply = session.scalars(select(CannedReply)).one()
    assert (reply.purpose, reply.active) == ("ask_info", True)
    assert "Hỏi địa chỉ" in page_text(supervisor.get("/admin/replies"))

    response = supervisor.post(f"/admin/replies/{reply.id}", purpose="reject", title="Thiếu thông tin",
                               body="Phản ánh chưa đủ thông tin để xử lý.")
    assert response.status_code == 303
    session.expire_all()
    assert (reply.purpose, reply.title) == ("reject", "Thiếu thông tin")

    assert supervisor.post(f"/admin/replies/{reply.id}/deactivate").status_code == 303
    session.expire_all()
    assert not reply.active
    assert "deactivated" in page_text(supervisor.get("/admin/replies"))
    assert supervisor.post(f"/admin/replies/{reply.id}/reactivate").status_code == 303
    session.expire_all()
    assert reply.active


@pytest.mark.parametrize(("values", "message"), [
    ({"purpose": "gossip"}, "Choose what the text is for from the list."),
    ({"title": ""}, "Enter a short title."),
    ({"body": ""}, "Write the text."),
    ({"body": "<a href='x'>bấm</a>"}, "Write plain text"),
    ({"title": "x" * 201}, "At most 200 characters."),
])
def test_a_bad_canned_reply_is_refused(admin, session, values, message):
    data = {"purpose": "forward", "title": "Kiến nghị", "body": "Đề nghị xem xét.", **values}
    response = admin.post("/admin/replies/new", **data)
    assert response.status_code == 400
    assert message in page_text(response)
    assert session.scalar(select(func.count()).select_from(CannedReply)) == 0


def test_a_form_without_its_csrf_token_changes_nothing(admin, session):
    xd = agency(session, "SO-XD")
    response = admin.client.post(f"/admin/agencies/{xd.id}/deactivate")
    assert response.status_code == 400
    assert agency(session, "SO-XD").active
    response = admin.client.post("/admin/rules/new", data={"stage": "answer", "working_days": "5"})
    assert response.status_code == 400
    assert session.scalar(select(func.count()).select_from(DeadlineRule)) == 0


def test_a_commune_supervisor_may_not_change_what_applies_to_the_whole_city(auth, factory,
                                                                            session, client):
    supervisor = factory.user("supervisor", "MTTQ-00070")
    session.commit()
    auth.login(supervisor.email, PASSWORD)
    for path in ("/admin/rules", "/admin/holidays", "/admin/replies", "/admin/"):
        assert client.get(path).status_code == 403, path
    response = auth.post("/admin/holidays", {"day": "2027-03-08", "name": "Nghỉ"}, page="/")
    assert response.status_code == 403
    assert session.scalar(select(func.count()).select_from(Holiday)) == 0


def test_a_new_role_ends_the_persons_sessions(admin, factory, session, app):
    from tests.helpers import AuthActions

    officer = factory.user("agency_officer", "SO-XD")
    session.commit()
    theirs = app.test_client()
    AuthActions(theirs).login(officer.email, PASSWORD)
    assert admin.post(f"/admin/users/{officer.id}/role", role="agency_head",
                      org_code="SO-XD").status_code == 303
    response = theirs.get("/account/password")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("path", [f"/admin/agencies/{2**70}", f"/admin/users/{2**40}",
                                  f"/admin/rules/{2**31}", "/admin/replies/0"])
def test_ids_beyond_any_row_are_not_found(admin, path):
    assert admin.get(path).status_code == 404
