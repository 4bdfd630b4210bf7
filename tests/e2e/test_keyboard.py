"""The report form with the keyboard alone: Tab reaches every field and the button, focus shows.

The test presses keys only (Tab, arrows, Space, Enter, typing): no click, no fill. It walks
the whole form in Tab order, answers the fields a resident needs, sends the report with
Enter, and checks what the portal stored.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.models import Agency, Case
from tests.e2e.browser import DESKTOP, Person, Recorder
from tests.e2e.conftest import AGENCIES

pytestmark = pytest.mark.browser

FOCUSED = """() => {
  const e = document.activeElement;
  const style = getComputedStyle(e);
  const form = e.closest('form[action="/report"]');
  return {tag: e.tagName.toLowerCase(), type: e.type || '', name: e.name || '', id: e.id,
          classes: e.className || '', in_form: !!form, value: e.value || '',
          checked: !!e.checked, text: (e.innerText || '').trim().slice(0, 60),
          outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2,
          shadow: style.boxShadow !== 'none'};
}"""

# Every control of the form a person can reach (hidden fields and the honeypot excepted).
REACHABLE = """() => Array.from(document.querySelectorAll(
    'form[action="/report"] input, form[action="/report"] select, ' +
    'form[action="/report"] textarea, form[action="/report"] button'))
  .filter(e => e.type !== 'hidden' && e.tabIndex >= 0 && !e.disabled
               && e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden')
  .map(e => e.name || e.className || e.tagName.toLowerCase())"""

DESCRIPTION = ("Bộ phận một cửa hẹn trả kết quả từ tháng trước, đến nay vẫn chưa trả "
               "và không ai giải thích vì sao.")


def test_the_report_form_can_be_completed_and_sent_with_the_keyboard_alone(
        browser, live, records, artefacts):
    shots = Recorder(artefacts / "keyboard", axe=False)
    person = Person(browser, live.base_url, DESKTOP)
    page, keys = person.page, person.page.keyboard
    code = AGENCIES["keyboard"]
    agency_name = records.scalar(select(Agency.name).where(Agency.code == code))
    page.goto("/report")
    # The first press shows the link that skips the header.
    keys.press("Tab")
    skip = page.evaluate("""() => { const e = document.activeElement, r = e.getBoundingClientRect();
        return {cls: e.className, left: r.left, top: r.top, width: r.width}; }""")
    assert skip["cls"] == "skip-link" and skip["left"] >= 0 and skip["width"] > 0, skip
    expected = set(page.evaluate(REACHABLE))
    assert {"agency_id", "conduct", "description", "evidence", "reporter_email",
            "confidential"} <= expected

    reached: list[str] = []
    unseen_focus: list[str] = []
    done: set[str] = set()
    for _ in range(120):
        keys.press("Tab")
        focused = page.evaluate(FOCUSED)
        if not focused["in_form"]:
            if reached:  # left the form after its last field: the button was never reached
                break
            continue
        key = focused["name"] or focused["classes"] or focused["tag"]
        if not reached or reached[-1] != key:
            reached.append(key)
        if not (focused["outline"] or focused["shadow"]):
            unseen_focus.append(key)
        if key in done:
            continue
        done.add(key)
        if "agency-filter" in focused["classes"]:
            keys.type(agency_name)  # the filter box that the page's script adds to the list
        elif key == "agency_id":
            for _ in range(40):
                if agency_name in page.evaluate(
                        "() => document.activeElement.selectedOptions[0].text"):
                    break
                keys.press("ArrowDown")
        elif key == "conduct":
            # Arrows move the choice within the group: the third one is "slow handling".
            keys.press("ArrowDown")
            keys.press("ArrowDown")
        elif key == "sector":
            for _ in range(30):
                if page.evaluate("() => document.activeElement.value") == "justice":
                    break
                keys.press("ArrowDown")
        elif key == "description":
            keys.type(DESCRIPTION)
        elif key == "reporter_name":
            keys.type("Trần Văn Bình")
        elif key == "reporter_email":
            keys.type("binh.keyboard@example.org")
        elif key == "confidential":
            keys.press("Space")
        elif focused["tag"] == "button" and focused["type"] == "submit":
            shots.shot(page, "before-sending")
            break
    else:
        pytest.fail(f"120 presses of Tab never reached the send button; reached: {reached}")

    assert reached[-1] not in ("agency_id", "description"), reached
    last = page.evaluate(FOCUSED)
    assert last["tag"] == "button" and last["type"] == "submit", (
        f"Tab left the form without reaching its button; reached: {reached}")
    missing = expected - set(reached) - {"button primary"}
    assert not missing, f"Tab never reached {missing}; it went {reached}"
    assert not unseen_focus, f"focus is not visible on {unseen_focus}"

    with page.expect_navigation() as navigation:
        keys.press("Enter")
    assert navigation.value.status == 200 and page.url.endswith("/report/received"), (
        page.inner_text("main")[:2000])
    shots.shot(page, "received")
    case = records.scalar(select(Case).where(Case.reporter_email == "binh.keyboard@example.org"))
    assert case.agency_id == records.agency_id(code)
    assert (case.conduct, case.sector) == ("slow_handling", "justice")
    assert case.description == DESCRIPTION
    assert case.reporter_name == "Trần Văn Bình"
    assert case.reporter_email == "binh.keyboard@example.org"
    assert case.confidential is True
    person.close()
