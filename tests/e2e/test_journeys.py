"""A case from report to rating, in a real browser against the portal as it runs in production.

A resident reports an agency with a photo; a moderator of the city Front asks for
information; the resident answers; the moderator forwards the case; the agency head assigns
an officer; the officer asks for a transfer, which the Front refuses; the officer answers;
the Front accepts the answer; the resident rates it; the scoreboard counts it all. Each
person has a browser of their own. The same journey runs at desktop size, with JavaScript
off, and on a phone-sized touch screen in English (where no word of the interface may be
left in Vietnamese); with JavaScript on, axe-core checks every page on the way. Every page
loads from the portal alone and trips no Content-Security-Policy rule. Screenshots of each
step are kept under test-artifacts/e2e/<journey>/.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page

from tests.e2e.browser import (
    DESKTOP,
    PHONE,
    TRACKING_CODE,
    Person,
    Recorder,
    open_action,
    photo,
    reload_until,
    submit,
    untranslated,
)
from tests.e2e.conftest import AGENCIES, TRANSFER_TO
from tests.e2e.stack import wait_for

pytestmark = pytest.mark.browser

# The browser's options and the language its people choose (one click on every page).
JOURNEYS = {
    "desktop": (DESKTOP, "vi"),
    "no-js": ({**DESKTOP, "java_script_enabled": False}, "vi"),
    "phone": (PHONE, "en"),
}
PHOTO_NAME = "anh-chup-quay-tiep-dan.jpg"
REFERENCE = re.compile(r"PA\d{2}-\d{7}")


class Journey:
    def __init__(self, name, browser, live, staff, records, artefacts):
        self.name, self.live, self.staff, self.records = name, live, staff, records
        self.browser = browser
        self.options, self.language = JOURNEYS[name]
        self.javascript = self.options.get("java_script_enabled", True)
        self.agency = AGENCIES[name]
        self.shots = Recorder(artefacts / name, axe=self.javascript)
        self.people: list[Person] = []
        self.staff_pages: list[Page] = []
        self.untranslated: list[str] = []

    def person(self, staff: bool = False) -> Page:
        person = Person(self.browser, self.live.base_url, self.options)
        self.people.append(person)
        if staff:
            self.staff_pages.append(person.page)
        if self.language != "vi":
            person.page.goto(f"/lang/{self.language}")
        return person.page

    def staff_member(self, account) -> Page:
        page = self.person(staff=True)
        page.goto("/login")
        page.fill("#email", account.email)
        page.fill("#password", account.password)
        submit(page, page.locator("main form"))
        assert "/login" not in page.url, f"{account.email} was not signed in"
        return page

    def shot(self, page: Page, name: str, full_page: bool = True) -> None:
        # On the phone, axe checks the resident's pages: the desktop journey checks the
        # same staff pages, and staff work at a desk.
        self.shots.shot(page, name, axe=not (self.name == "phone" and page in self.staff_pages),
                        full_page=full_page)
        assert page.evaluate("() => document.documentElement.lang") == self.language
        if self.language == "en":
            self.untranslated += [f"{name}: {text}" for text in untranslated(page)]

    def close(self) -> None:
        for person in self.people:
            person.context.close()
        for person in self.people:
            person.check()


@pytest.fixture
def journey(request, browser, live, staff, records, artefacts):
    journey = Journey(request.param, browser, live, staff, records, artefacts)
    try:
        yield journey
    finally:
        journey.close()


@pytest.mark.parametrize("journey", list(JOURNEYS), indirect=True)
def test_a_report_goes_from_the_resident_to_the_agency_and_back_to_the_scoreboard(journey):
    j = journey
    status = j.records.status
    email = f"resident.{j.name}@example.org"

    # -- the resident reports the agency, with a photo ---------------------------------------
    resident = j.person()
    resident.goto("/")
    j.shot(resident, "home")
    resident.locator('header a[href="/report"]').click()
    resident.wait_for_url("**/report")
    form = resident.locator('form[action="/report"]')
    form.locator("#agency_id").select_option(str(j.records.agency_id(j.agency)))
    form.locator("input[name=conduct][value=slow_handling]").check()
    form.locator("#sector").select_option("construction")
    form.locator("#description").fill(
        "Tôi nộp hồ sơ xin cấp phép sửa chữa nhà ở tại bộ phận một cửa từ ngày 5/8. "
        "Đã quá hạn ba tuần, cơ quan chưa trả lời và không nói lý do.")
    form.locator("input[name=reporter_kind][value=resident]").check()
    form.locator("#reporter_name").fill("Nguyễn Thị Hoa")
    form.locator("#reporter_email").fill(email)
    form.locator("#evidence").set_input_files(
        files=[{"name": PHOTO_NAME, "mimeType": "image/jpeg", "buffer": photo()}])
    j.shot(resident, "report-form")
    submit(resident, form)

    assert resident.url.endswith("/report/received")
    code = TRACKING_CODE.search(resident.locator(".tracking-code").inner_text()).group(0)
    reference = REFERENCE.search(resident.locator("main").inner_text()).group(0)
    assert status(reference) == "submitted"
    j.shot(resident, "receipt")
    # The rq worker delivered the receipt through the SMTP server, with the tracking code.
    [receipt] = wait_for(lambda: j.live.inbox.to(email), "the receipt email",
                         context=j.live.logs)
    assert reference in receipt["Subject"]
    assert code in receipt.get_body(("plain",)).get_content()

    # -- a moderator asks for information ------------------------------------------------------
    moderator = j.staff_member(j.staff.moderator)
    j.shot(moderator, "moderation-queue")
    moderator.get_by_role("link", name=reference).click()
    moderator.wait_for_url("**/moderation/cases/*")
    case_url = moderator.url
    # The photo goes through the quarantine scan (a job of the rq worker) before anyone may
    # open it: the page offers it, and serves it, once the worker has found it clean.
    photo_link = moderator.locator("main a", has_text=PHOTO_NAME)

    def photo_served():
        if photo_link.count() != 1:
            return None
        response = moderator.request.get(photo_link.get_attribute("href"))
        return response if response.status == 200 else None

    reload_until(moderator, photo_served, "the photo to be scanned and offered to staff")
    downloaded = photo_served()
    assert downloaded.headers["content-type"] == "image/jpeg"
    assert downloaded.body()[:3] == b"\xff\xd8\xff"
    j.shot(moderator, "moderation-case")

    question = "Ông/Bà đã nộp hồ sơ tại bộ phận một cửa của cơ quan nào, ngày nào?"
    form = open_action(moderator, "ask_info")
    form.locator("textarea[name=question]").fill(question)
    j.shot(moderator, "ask-info")
    submit(moderator, form)
    assert status(reference) == "needs_info"

    # -- the resident answers, after finding the report with the tracking code ----------------
    resident.locator('header a[href="/track"]').click()
    resident.wait_for_url("**/track")
    form = resident.locator('main form[action="/track"]')
    form.locator("#code").fill(code.lower().replace("-", " "))
    submit(resident, form)
    assert resident.url.endswith(f"/track/{reference}")
    assert question in resident.locator("main").inner_text()
    j.shot(resident, "question-from-the-front")
    form = resident.locator(f'form[action$="/track/{reference}/reply"]')
    form.locator("#reply").fill("Tôi nộp tại bộ phận một cửa của cơ quan ngày 5/8, biên nhận số 1234.")
    submit(resident, form)
    assert status(reference) == "submitted"
    j.shot(resident, "answer-sent")

    # -- the moderator forwards the case to the agency ------------------------------------------
    moderator.goto(case_url)
    form = open_action(moderator, "forward")
    form.locator("select[name=agency_id]").select_option(str(j.records.agency_id(j.agency)))
    form.locator("textarea[name=recommendation]").fill(
        "Đề nghị kiểm tra hồ sơ và trả lời người dân trong thời hạn.")
    j.shot(moderator, "forward")
    submit(moderator, form)
    assert status(reference) == "forwarded"

    # -- the agency head assigns an officer -----------------------------------------------------
    head = j.staff_member(j.staff.heads[j.agency])
    head.get_by_role("link", name=reference).click()
    head.wait_for_url("**/agency/cases/*")
    agency_case_url = head.url
    j.shot(head, "agency-case")
    officer_account = j.staff.officers[j.agency]
    form = open_action(head, "assign_officer")
    form.locator("select[name=officer_id]").select_option(
        str(j.records.user_id(officer_account.email)))
    submit(head, form)
    assert f"Chuyên viên {j.agency}" in head.locator("main").inner_text()
    j.shot(head, "officer-assigned")

    # -- the officer asks for a transfer; the Front refuses it ----------------------------------
    officer = j.staff_member(officer_account)
    officer.goto(agency_case_url)
    form = open_action(officer, "request_transfer")
    form.locator("select[name=to_agency_id]").select_option(str(j.records.agency_id(TRANSFER_TO)))
    form.locator("textarea[name=reason]").fill(
        "Việc cấp phép thuộc thẩm quyền của cơ quan quy hoạch theo quy chế phối hợp.")
    j.shot(officer, "transfer-request")
    submit(officer, form)
    assert status(reference) == "transfer_requested"

    moderator.goto(case_url)
    form = open_action(moderator, "refuse_transfer")
    form.locator("textarea[name=note]").fill("Hồ sơ nộp tại cơ quan này: cơ quan này trả lời.")
    j.shot(moderator, "refuse-transfer")
    submit(moderator, form)
    assert status(reference) == "in_progress"

    # -- the officer answers; the Front accepts the answer ---------------------------------------
    officer.goto(agency_case_url)
    form = open_action(officer, "answer")
    form.locator("textarea[name=findings]").fill(
        "Hồ sơ bị chậm do thiếu bản vẽ; cơ quan đã không thông báo cho người dân.")
    form.locator("textarea[name=actions_taken]").fill(
        "Đã cấp giấy phép ngày hôm nay và nhắc nhở bộ phận một cửa.")
    form.locator("input[name=outcome][value=substantiated]").check()
    j.shot(officer, "answer")
    submit(officer, form)
    assert status(reference) == "answered"

    moderator.goto(case_url)
    form = open_action(moderator, "accept_answer")
    form.locator("textarea[name=assessment]").fill("Cơ quan đã giải quyết và nhận khuyết điểm.")
    j.shot(moderator, "accept-answer")
    submit(moderator, form)
    assert status(reference) == "resolved"

    # -- the resident rates the result ---------------------------------------------------------
    resident.reload()
    assert "Đã cấp giấy phép ngày hôm nay" in resident.locator("main").inner_text()
    form = resident.locator(f'form[action$="/track/{reference}/rate"]')
    for factor in ("access", "procedure", "attitude", "result", "handling", "overall"):
        form.locator(f"input[name={factor}][value='5']").check()
    form.locator("textarea[name=comment]").fill("Cảm ơn Ủy ban MTTQ đã theo dõi đến cùng.")
    j.shot(resident, "rating")
    submit(resident, form)
    assert status(reference) == "closed"
    assert resident.locator(".status-closed").count() == 1
    j.shot(resident, "rated")

    # -- the scoreboard shows it, once the periodic refresh has run -----------------------------
    j.live.run_job("portal.jobs.refresh_stats")
    resident.locator('header a[href="/agencies"]').click()
    resident.wait_for_url("**/agencies")
    row = resident.locator(f"#agency-{j.agency}")
    figures = {name: row.locator(f'[data-figure="{name}"]').get_attribute("data-value")
               for name in ("received", "answered", "transfers", "refused", "ratings", "open")}
    assert figures == {"received": "1", "answered": "1", "transfers": "1", "refused": "1",
                       "ratings": "1", "open": "0"}
    row.scroll_into_view_if_needed()
    j.shot(resident, "scoreboard", full_page=False)  # the agency's row, not 150 others

    j.live.check_alive()
    j.shots.finish()
    assert not j.untranslated, "words left in Vietnamese on English pages:\n" + "\n".join(
        j.untranslated)
