"""axe-core on every public page and the main staff pages, in Vietnamese and in English.

A serious or critical violation fails the test; every violation, whatever its impact, is
printed and kept in test-artifacts/e2e/accessibility/axe.txt. The pages of a case in each
of its states are checked along the journeys (test_journeys.py); here are the others, with
their error states: a report form sent empty, a wrong tracking code, a wrong password.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page

from tests.e2e.browser import (
    DESKTOP,
    PHONE,
    Person,
    Recorder,
    check_accessibility,
    submit,
    untranslated,
)
from tests.e2e.conftest import ADMIN_TOTP_KEY, AGENCIES

pytestmark = pytest.mark.browser

PUBLIC = ["/", "/report", "/track", "/agencies", f"/agencies/{AGENCIES['desktop']}", "/answers",
          "/open-data", "/login", "/no-such-page"]


@pytest.fixture
def recorder(request, artefacts):
    # The top of each page only: the journeys keep whole pages.
    recorder = Recorder(artefacts / "accessibility" / request.node.name.split("_")[1],
                        full_page=False)
    yield recorder
    recorder.finish()


def visit(page: Page, recorder: Recorder, path: str, name: str) -> None:
    page.goto(path)
    # One stylesheet, the portal's own: no style from elsewhere, none inline.
    sheets = page.evaluate("() => Array.from(document.styleSheets, s => s.href)")
    assert [urlsplit(href).path for href in sheets] == ["/static/css/portal.css"], sheets
    recorder.shot(page, name)


def name_of(path: str) -> str:
    return path.strip("/").replace("/", "-") or "home"


def sign_in(page: Page, account) -> None:
    page.goto("/login")
    page.fill("#email", account.email)
    page.fill("#password", account.password)
    submit(page, page.locator("main form"))


def test_public_pages_have_no_serious_accessibility_problem(browser, live, recorder):
    people = []
    for language, options in (("vi", DESKTOP), ("en", DESKTOP), ("vi-phone", PHONE)):
        person = Person(browser, live.base_url, options)
        people.append(person)
        page = person.page
        if language == "en":
            page.goto("/lang/en")
        # The journeys check the scoreboard in Vietnamese, on a desk and on a phone.
        paths = {"vi": [p for p in PUBLIC if p != "/agencies"], "en": PUBLIC,
                 "vi-phone": ["/", "/report", "/track"]}[language]
        for path in paths:
            visit(page, recorder, path, f"{language}-{name_of(path)}")
            assert page.evaluate("() => document.documentElement.lang") == language[:2]
            if language == "en":
                assert not untranslated(page), f"{path} in English shows {untranslated(page)}"
        if language == "vi-phone":
            continue
        # The error states: each problem shown next to its field.
        page.goto("/report")
        submit_refused(page, page.locator('form[action="/report"]'))
        recorder.shot(page, f"{language}-report-refused")
        page.goto("/track")
        page.fill("#code", "AAAA-BBBB-CCCC-DDDD")
        submit_refused(page, page.locator('main form[action="/track"]'))
        recorder.shot(page, f"{language}-track-refused")
        page.goto("/login")
        page.fill("#email", "nobody@example.org")
        page.fill("#password", "not the password at all")
        submit_refused(page, page.locator("main form"))
        recorder.shot(page, f"{language}-login-refused")
    for person in people:
        person.close()


def submit_refused(page: Page, form) -> None:
    with page.expect_navigation() as navigation:
        form.locator("button[type=submit]").last.click()
    assert navigation.value.status in (400, 404, 429), navigation.value.status


def test_main_staff_pages_have_no_serious_accessibility_problem(browser, live, staff, recorder):
    case_id = staff.sample_case_id
    agency = AGENCIES["keyboard"]
    people = []

    def person() -> Page:
        people.append(Person(browser, live.base_url, DESKTOP))
        return people[-1].page

    moderator = person()
    sign_in(moderator, staff.moderator)
    for path in ["/moderation/", f"/moderation/cases/{case_id}", "/account/password",
                 "/account/two-factor"]:
        visit(moderator, recorder, path, f"moderator-{name_of(path)}")

    head = person()
    sign_in(head, staff.heads[agency])
    for path in ["/agency/", f"/agency/cases/{case_id}", "/agency/team", "/agency/figures"]:
        visit(head, recorder, path, f"head-{name_of(path)}")

    admin = person()
    sign_in(admin, staff.admin)
    assert admin.url.endswith("/login/code"), admin.url
    recorder.shot(admin, "admin-login-code")
    from portal.auth.totp import code_at

    admin.fill("#code", code_at(ADMIN_TOTP_KEY, time.time()))
    submit(admin, admin.locator("main form"))
    for path in ["/admin/", "/admin/agencies", "/admin/users", "/admin/users/new", "/admin/rules",
                 "/admin/holidays", "/admin/replies", "/admin/outbox", "/admin/apikeys"]:
        visit(admin, recorder, path, f"admin-{name_of(path)}")

    for p in people:
        p.close()


def test_the_checks_fail_on_a_page_that_breaks_them(browser, live):
    """The same checks on a page spoilt on purpose: they must be able to fail."""
    person = Person(browser, live.base_url, DESKTOP)
    page = person.page
    page.goto("/")
    page.evaluate("""() => {
        const main = document.querySelector('main');
        main.insertAdjacentHTML('beforeend',
            '<button type="button"></button><img src="/static/css/portal.css">' +
            '<img src="http://127.0.0.2:9/elsewhere.png" alt="">');
    }""")
    problems = check_accessibility(page, "spoilt home")
    assert any("button-name" in p for p in problems), problems
    assert any("image-alt" in p for p in problems), problems
    page.wait_for_timeout(200)
    with pytest.raises(AssertionError, match="another host"):
        person.close()
