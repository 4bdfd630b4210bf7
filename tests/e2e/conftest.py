"""Fixtures of the browser tests: the live portal (tests/e2e/stack.py), its staff, Chromium.

These tests need PostgreSQL, Redis and Debian's Chromium (`make browser` installs it; no
browser is ever downloaded) and axe-core from npm (`make e2e-deps`). They run in the
PostgreSQL leg of `make test` only: in the SQLite leg they are skipped, saying so. When
Chromium or axe-core is missing they are skipped too, unless REQUIRE_POSTGRES=1 (CI), where
that is a failure.

Screenshots of each step are kept under test-artifacts/e2e/<journey>/, with the logs of the
services, so a failed run in CI can be read afterwards.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PG_URL, _environ, fresh_database
from tests.e2e.stack import ROOT, SECRET_KEY, Stack
from tests.factories import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "tests" / "e2e" / "node_modules" / "axe-core" / "axe.min.js"
ARTEFACTS = ROOT / "test-artifacts" / "e2e"
# What the probe of this machine found Chromium needs here: no sandbox as root, and none of
# the background connections that a closed network refuses.
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

# One agency per journey, so that each journey's figures on the scoreboard are its own.
FRONT_COMMITTEE = "MTTQ-HN"
AGENCIES = {"desktop": "SO-XD", "no-js": "SO-CT", "phone": "SO-DL", "keyboard": "SO-TP"}
TRANSFER_TO = "SO-QHKT"


# The administrator's second factor, as its authenticator app would hold it.
ADMIN_TOTP_KEY = bytes(range(20))


@dataclass(frozen=True)
class Account:
    email: str
    password: str = PASSWORD


@dataclass(frozen=True)
class Staff:
    moderator: Account
    heads: dict[str, Account]
    officers: dict[str, Account]
    admin: Account
    # A case forwarded to AGENCIES["keyboard"] and acknowledged, for the staff pages' checks.
    sample_case_id: int


def _missing(what: str, fix: str) -> None:
    if os.environ.get("REQUIRE_POSTGRES") == "1":
        pytest.fail(f"{what} is missing and REQUIRE_POSTGRES=1: {fix}")
    pytest.skip(f"{what} is missing: {fix}")


@pytest.fixture(scope="session")
def e2e_requirements() -> None:
    if not PG_URL:
        pytest.skip("browser tests run once, in the PostgreSQL leg (TEST_DATABASE_URL unset)")
    if not CHROMIUM.exists():
        _missing("Debian's Chromium (/usr/bin/chromium)", "run `make browser` as root")
    if not AXE.exists():
        _missing("axe-core (tests/e2e/node_modules)", "run `make e2e-deps` (npm ci)")


@pytest.fixture(scope="session")
def staff_accounts(e2e_requirements, tmp_path_factory) -> Iterator[tuple[str, Staff]]:
    """A fresh database, migrated and seeded, with the staff the journeys sign in as."""
    from portal import create_app, migrate
    from portal.auth import totp
    from portal.db import session_scope
    from portal.seed import seed_agencies
    from tests.factories import Factory

    for url in fresh_database(tmp_path_factory, "e2e"):
        migrate.upgrade(url)
        tmp = tmp_path_factory.mktemp("e2e-seed")
        app = create_app(_environ(url, tmp), instance_path=tmp / "instance")
        with app.app_context(), session_scope() as session:
            seed_agencies(session)
            factory = Factory(session)
            moderator = factory.user("moderator", FRONT_COMMITTEE,
                                     email="moderator.e2e@example.org")
            heads, officers = {}, {}
            for code in {*AGENCIES.values(), TRANSFER_TO}:
                head = factory.user("agency_head", code, email=f"head.{code.lower()}@example.org")
                officer = factory.user("agency_officer", code,
                                       email=f"officer.{code.lower()}@example.org")
                head.name, officer.name = f"Trưởng phòng {code}", f"Chuyên viên {code}"
                heads[code], officers[code] = Account(head.email), Account(officer.email)
            admin = factory.user("admin", None, email="admin.e2e@example.org")
            session.flush()
            totp.enable(admin, ADMIN_TOTP_KEY, secret_key=SECRET_KEY)
            sample = factory.case_in("in_progress", agency=AGENCIES["keyboard"])
            staff = Staff(Account(moderator.email), heads, officers, Account(admin.email),
                          sample.id)
        app.extensions["db_engine"].dispose()
        yield url, staff


@pytest.fixture(scope="session")
def artefacts() -> Path:
    """test-artifacts/e2e, emptied at the start of a run."""
    shutil.rmtree(ARTEFACTS, ignore_errors=True)
    ARTEFACTS.mkdir(parents=True)
    return ARTEFACTS


@pytest.fixture(scope="session")
def live(staff_accounts, artefacts) -> Iterator[Stack]:
    url, _ = staff_accounts
    folder = artefacts / "services"
    folder.mkdir()
    stack = Stack(folder, url)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def staff(staff_accounts) -> Staff:
    return staff_accounts[1]


@pytest.fixture(scope="session")
def browser(e2e_requirements):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Records:
    """Reads the database the live portal writes, to check what a page cannot show."""

    def __init__(self, url: str):
        from sqlalchemy import create_engine

        self.engine = create_engine(url)

    def scalar(self, statement):
        from sqlalchemy.orm import Session

        with Session(self.engine) as session:
            return session.scalar(statement)

    def status(self, reference: str) -> str:
        from sqlalchemy import select

        from portal.models import Case

        case_id = int(reference.rsplit("-", 1)[1])  # PA26-0000123: the case's id
        return self.scalar(select(Case.status).where(Case.id == case_id))

    def agency_id(self, code: str) -> int:
        from sqlalchemy import select

        from portal.models import Agency

        return self.scalar(select(Agency.id).where(Agency.code == code))

    def user_id(self, email: str) -> int:
        from sqlalchemy import select

        from portal.models import User

        return self.scalar(select(User.id).where(User.email == email))


@pytest.fixture(scope="session")
def records(staff_accounts) -> Iterator[Records]:
    records = Records(staff_accounts[0])
    yield records
    records.engine.dispose()
