"""Building staff and cases for tests: cases reach each state through the real lifecycle."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import lifecycle
from portal.accounts import create_user
from portal.auth import totp
from portal.lifecycle import Actor, NewReport
from portal.models import Agency, Case, User
from portal.vocab import CaseStatus, Outcome, RejectReason

S = CaseStatus
PASSWORD = "correct horse battery staple"
# The second factor the factory gives supervisors and administrators: RFC 6238's own test key.
TOTP_SECRET = b"12345678901234567890"
CITY_DEPARTMENT = "SO-XD"
OTHER_DEPARTMENT = "SO-YT"
COMMUNE_AGENCY = "UBND-00070"  # Phường Hoàn Kiếm
COMMUNE_COMMITTEE = "MTTQ-00070"

# How to reach each state from `submitted`, as (action, actor role) steps.
PATHS: dict[str, list[str]] = {
    S.SUBMITTED: [],
    S.NEEDS_INFO: ["ask_info"],
    S.REJECTED: ["reject"],
    S.MERGED: ["merge"],
    S.FORWARDED: ["forward"],
    S.IN_PROGRESS: ["forward", "acknowledge"],
    S.TRANSFER_REQUESTED: ["forward", "acknowledge", "request_transfer"],
    S.ANSWERED: ["forward", "acknowledge", "answer"],
    S.DISPUTED: ["forward", "acknowledge", "answer", "accept_answer", "dispute"],
    S.RESOLVED: ["forward", "acknowledge", "answer", "accept_answer"],
    S.CLOSED: ["forward", "acknowledge", "answer", "accept_answer", "rate"],
}


class Factory:
    def __init__(self, session: Session):
        self.session = session
        self._users: dict[tuple[str, str | None], User] = {}

    def agency(self, code: str) -> Agency:
        return self.session.scalars(select(Agency).where(Agency.code == code)).one()

    def user(self, role: str, org: str | None = None, email: str | None = None,
             two_factor: bool | None = None) -> User:
        """A staff member; supervisors and administrators come with their second factor set up
        (TOTP_SECRET), as the portal requires, unless `two_factor` says otherwise."""
        key = (role, org)
        if email is None and two_factor is None and key in self._users:
            return self._users[key]
        email = email or f"{role}.{(org or 'portal').lower()}@example.org"
        user = create_user(self.session, email, role, PASSWORD, org, name=f"{role} {org}")
        self.session.flush()
        if two_factor is None:
            two_factor = role in totp.REQUIRED_ROLES
        if two_factor:
            totp.enable(user, TOTP_SECRET, secret_key=app_secret_key())
            self.session.flush()
        if key not in self._users:
            self._users[key] = user
        return user

    def moderator(self, committee: str = "MTTQ-HN") -> User:
        return self.user("moderator", committee)

    def officer(self, agency: str = CITY_DEPARTMENT) -> User:
        return self.user("agency_officer", agency)

    def report(self, agency: str = CITY_DEPARTMENT, **values) -> tuple[Case, str]:
        fields = dict(conduct="slow_handling", sector="construction",
                      description="Hồ sơ cấp phép xây dựng của tôi đã quá hạn ba tuần.",
                      reporter_kind="resident", occurred_on=date(2026, 10, 1),
                      reporter_name="Nguyễn Văn An", reporter_email="an@example.org")
        fields.update(values)
        case, code = lifecycle.submit(self.session,
                                      NewReport(agency_id=self.agency(agency).id, **fields))
        self.session.flush()
        return case, code

    def step(self, case: Case, action: str, agency: str = CITY_DEPARTMENT) -> None:
        front = Actor.staff(self.moderator())
        officer = Actor.staff(self.officer(agency))
        reporter = Actor.reporter(case.id)
        s = self.session
        match action:
            case "ask_info":
                lifecycle.ask_info(s, case, front, question="Which office did you visit?")
            case "reject":
                lifecycle.reject(s, case, front, reason=RejectReason.INSUFFICIENT)
            case "merge":
                main, _ = self.report(agency)
                lifecycle.merge(s, case, front, into_case_id=main.id)
            case "forward":
                if case.confidential and case.description_redacted is None:
                    self.redact(case)
                lifecycle.forward(s, case, front, agency_id=self.agency(agency).id,
                                  recommendation="Xem xét và trả lời người dân.")
            case "acknowledge":
                lifecycle.acknowledge(s, case, officer)
            case "request_transfer":
                lifecycle.request_transfer(s, case, officer,
                                           to_agency_id=self.agency("SO-NNMT").id,
                                           reason="Thuộc thẩm quyền Sở Nông nghiệp và Môi trường.")
            case "answer":
                lifecycle.answer(s, case, officer, findings="Đã kiểm tra hồ sơ.",
                                 outcome=Outcome.SUBSTANTIATED)
            case "accept_answer":
                lifecycle.accept_answer(s, case, front, assessment="Trả lời đầy đủ.")
            case "dispute":
                lifecycle.dispute(s, case, reporter, reason="Vẫn chưa được giải quyết.")
            case "rate":
                lifecycle.rate(s, case, reporter, scores=dict.fromkeys(lifecycle.RATING_FACTORS, 4))
            case _:
                raise ValueError(action)
        s.flush()

    def redact(self, case: Case, text: str | None = None) -> None:
        """The Front's review of a confidential report's text; this one names nobody, so it stays."""
        lifecycle.redact(self.session, case, Actor.staff(self.moderator()),
                         redacted_text=text or case.description)
        self.session.flush()

    def case_in(self, status: str, agency: str = CITY_DEPARTMENT, **values) -> Case:
        case, _ = self.report(agency, **values)
        for action in PATHS[status]:
            self.step(case, action, agency)
        assert case.status == status
        return case


def app_secret_key() -> str:
    """The SECRET_KEY of the test app: the factory seals secrets outside any app context."""
    from tests.conftest import _environ

    return _environ("", Path())["SECRET_KEY"]
