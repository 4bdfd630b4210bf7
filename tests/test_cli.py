"""The operations commands: `seed agencies`, `user create`, `seed demo`, run through Flask's CLI runner."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import event, func, select

from portal.accounts import check_password
from portal.db import new_session
from portal.lifecycle import hash_tracking_code
from portal.models import Agency, Case, CaseEvent, FrontCommittee, OutboxMessage, User
from portal.seed import DATA
from portal.vocab import AgencyKind, CaseStatus, Role

PASSWORD = "a long enough password"
CITY_AGENCIES = json.loads(DATA.read_text(encoding="utf-8"))["agencies"]
# An organisation each role may belong to (admins belong to none).
ORG_FOR_ROLE = {
    Role.MODERATOR: "MTTQ-HN",
    Role.SUPERVISOR: "MTTQ-00070",
    Role.AGENCY_OFFICER: "SO-XD",
    Role.AGENCY_HEAD: "UBND-00070",
    Role.ADMIN: None,
}
TRACKING_CODE = re.compile(r"\b[A-Z2-9]{4}(?:-[A-Z2-9]{4}){3}\b")


def query(app, statement):
    """Read with a session of its own, so the test sees what the command committed."""
    with app.app_context():
        session = new_session()
        try:
            return session.execute(statement).all()
        finally:
            session.close()


def count(app, model, *where) -> int:
    return query(app, select(func.count()).select_from(model).where(*where))[0][0]


def create_user(runner, email, *options, password=PASSWORD):
    return runner.invoke(args=["user", "create", email, *options], input=password + "\n")


# -- seed agencies --------------------------------------------------------------------------


def test_seed_agencies_is_idempotent(runner, app):
    for _ in range(2):
        result = runner.invoke(args=["seed", "agencies"])
        assert result.exit_code == 0, result.output
        assert "agencies: 142, Front committees: 127 (communes and wards: 126)" in result.output
        # The city, its 15 departments and bodies, and the 126 communes' people's committees.
        assert count(app, Agency) == 142
        assert count(app, Agency, Agency.kind == AgencyKind.COMMUNE_COMMITTEE) == 126
        assert count(app, FrontCommittee) == 127
        assert count(app, FrontCommittee, FrontCommittee.ward_code.is_(None)) == 1


def test_seed_agencies_reads_the_reference_tables_once(app):
    """Over 250 rows: one SELECT per row would make every `make run` slow on a remote database."""
    from portal.seed import seed_agencies

    statements: list[str] = []

    def count_statement(_conn, _cursor, statement, *_args):
        statements.append(statement)

    engine = app.extensions["db_engine"]
    event.listen(engine, "before_cursor_execute", count_statement)
    try:
        with app.app_context():
            session = new_session()
            try:
                seed_agencies(session)  # the reference data is there already: nothing changes
                session.commit()
            finally:
                session.close()
    finally:
        event.remove(engine, "before_cursor_execute", count_statement)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) <= 2, selects
    assert not [s for s in statements if s.lstrip().upper().startswith(("INSERT", "UPDATE"))]
    assert count(app, Agency) == 142


def test_seed_agencies_creates_every_city_department(runner, app):
    assert runner.invoke(args=["seed", "agencies"]).exit_code == 0
    assert len(CITY_AGENCIES) == 15
    stored = dict(query(app, select(Agency.code, Agency.name)))
    for item in CITY_AGENCIES:
        assert stored.get(item["code"]) == item["name"]
    assert stored["UBND-HN"] == "Ủy ban nhân dân Thành phố Hà Nội"


def test_seed_agencies_creates_hoan_kiem(runner, app):
    assert runner.invoke(args=["seed", "agencies"]).exit_code == 0
    [(name, kind, ward_code, parent)] = query(
        app, select(Agency.name, Agency.kind, Agency.ward_code, Agency.parent_id)
        .where(Agency.code == "UBND-00070"))
    assert (name, kind, ward_code) == ("UBND Phường Hoàn Kiếm", AgencyKind.COMMUNE_COMMITTEE, 70)
    [(city_agency,)] = query(app, select(Agency.id).where(Agency.code == "UBND-HN"))
    assert parent == city_agency

    [(name, ward_code, parent)] = query(
        app, select(FrontCommittee.name, FrontCommittee.ward_code, FrontCommittee.parent_id)
        .where(FrontCommittee.code == "MTTQ-00070"))
    assert (name, ward_code) == ("Ủy ban MTTQ Việt Nam Phường Hoàn Kiếm", 70)
    [(city_front,)] = query(app, select(FrontCommittee.id).where(FrontCommittee.code == "MTTQ-HN"))
    assert parent == city_front


# -- user create ----------------------------------------------------------------------------


def test_every_role_is_covered():
    assert set(ORG_FOR_ROLE) == set(Role)


@pytest.mark.parametrize("role", list(ORG_FOR_ROLE))
def test_user_create_makes_each_role(runner, app, role):
    org = ORG_FOR_ROLE[role]
    email = f"{role}@example.org"
    result = create_user(runner, email.upper(), "--role", role, *(["--org", org] if org else []),
                         "--name", "Nguyễn Thị Hoa")
    assert result.exit_code == 0, result.output
    assert f"created {role} {email}" in result.output

    with app.app_context():
        session = new_session()
        user = session.scalars(select(User)).one()
        assert (user.email, user.role, user.name) == (email, role, "Nguyễn Thị Hoa")
        committee = user.front_committee.code if user.front_committee else None
        agency = user.agency.code if user.agency else None
        assert (committee if role in (Role.MODERATOR, Role.SUPERVISOR) else agency) == org
        assert committee is None or agency is None
        assert PASSWORD not in user.password_hash
        assert check_password(user, PASSWORD)
        assert not check_password(user, PASSWORD + "x")
        session.close()


@pytest.mark.parametrize(("args", "password", "message"), [
    (["--role", "janitor"], PASSWORD, "unknown role 'janitor'"),
    (["--role", "moderator"], PASSWORD, "a Front role needs --org"),
    (["--role", "supervisor", "--org", "MTTQ-99999"], PASSWORD, "a Front role needs --org"),
    (["--role", "moderator", "--org", "SO-XD"], PASSWORD, "a Front role needs --org"),
    (["--role", "agency_officer", "--org", "MTTQ-HN"], PASSWORD, "an agency role needs --org"),
    (["--role", "agency_head", "--org", "MTTQ-00070"], PASSWORD, "an agency role needs --org"),
    (["--role", "agency_officer"], PASSWORD, "an agency role needs --org"),
    (["--role", "admin", "--org", "SO-XD"], PASSWORD, "leave out --org"),
    (["--role", "admin"], "too short", "at least 12 characters"),
    (["--role", "moderator", "--org", "MTTQ-HN"], "", "at least 12 characters"),
], ids=["unknown-role", "front-no-org", "front-unknown-org", "front-agency-org",
        "agency-committee-org", "agency-head-committee-org", "agency-no-org", "admin-with-org",
        "short-password", "empty-password"])
def test_user_create_refuses(runner, app, args, password, message):
    result = create_user(runner, "someone@example.org", *args, password=password)
    assert result.exit_code != 0
    assert "Error:" in result.output and message in result.output, result.output
    assert "Traceback" not in result.output
    assert count(app, User) == 0


def test_user_create_refuses_a_bad_email(runner, app):
    result = create_user(runner, "not-an-address", "--role", "admin")
    assert result.exit_code != 0
    assert "is not an email address" in result.output
    assert count(app, User) == 0


def test_user_create_refuses_a_duplicate_email(runner, app):
    assert create_user(runner, "hoa@example.org", "--role", "admin").exit_code == 0
    result = create_user(runner, "Hoa@Example.org", "--role", "moderator", "--org", "MTTQ-HN")
    assert result.exit_code != 0
    assert "a user with the email hoa@example.org already exists" in result.output
    assert query(app, select(User.email, User.role)) == [("hoa@example.org", "admin")]


# -- seed demo ------------------------------------------------------------------------------


def snapshot(app) -> dict[str, int]:
    return {model.__name__: count(app, model) for model in (User, Case, CaseEvent, OutboxMessage)}


def test_seed_demo_covers_every_state_and_role_and_runs_twice(runner, app):
    result = runner.invoke(args=["seed", "demo"])
    assert result.exit_code == 0, result.output
    assert "demo-password-2026" in result.output

    statuses = {status for (status,) in query(app, select(Case.status).distinct())}
    assert statuses == set(CaseStatus)
    roles = {role for (role,) in query(app, select(User.role).distinct())}
    assert roles == set(Role)
    for (email,) in query(app, select(User.email)):
        assert email in result.output
    assert count(app, Case, Case.confidential.is_(True)) >= 2
    [(business, tax_code)] = query(app, select(Case.business_name, Case.tax_code)
                                   .where(Case.reporter_kind == "business").limit(1))
    assert business and re.fullmatch(r"\d{10}", tax_code)
    # Cases at city departments and at communes' people's committees.
    kinds = {kind for (kind,) in query(app, select(Agency.kind).join(Case, Case.agency_id == Agency.id)
                                       .distinct())}
    assert {AgencyKind.DEPARTMENT, AgencyKind.COMMUNE_COMMITTEE} <= kinds

    # The printed tracking codes open real cases.
    codes = TRACKING_CODE.findall(result.output)
    assert 2 <= len(codes) <= 3
    hashes = {h for (h,) in query(app, select(Case.tracking_code_hash))}
    assert all(hash_tracking_code(code) in hashes for code in codes)

    # Every case was made through the lifecycle: its event chain is intact.
    verified = runner.invoke(args=["audit", "verify"])
    assert verified.exit_code == 0, verified.output

    before = snapshot(app)
    again = runner.invoke(args=["seed", "demo"])
    assert again.exit_code == 0, again.output
    assert "already exist" in again.output
    assert not TRACKING_CODE.search(again.output)
    assert snapshot(app) == before


def test_seed_demo_keeps_an_existing_account(runner, app):
    email = "moderator@demo.phananh.local"
    assert create_user(runner, email, "--role", "moderator", "--org", "MTTQ-HN").exit_code == 0
    result = runner.invoke(args=["seed", "demo"])
    assert result.exit_code == 0, result.output
    assert count(app, User, User.email == email) == 1
    with app.app_context():
        session = new_session()
        user = session.scalars(select(User).where(User.email == email)).one()
        assert check_password(user, PASSWORD)  # the demo did not change it
        session.close()
    assert set(CaseStatus) == {s for (s,) in query(app, select(Case.status).distinct())}
