"""What the browser tests share: people with a browser of their own, screenshots, axe-core.

A `Person` is one browser context (its own cookies: a resident, a moderator, an officer)
opened with the journey's options (screen size, JavaScript on or off). Every request it
makes is recorded: a page that loads anything from another host fails the test, and so
does a Content-Security-Policy violation reported on the console.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from PIL import Image
from playwright.sync_api import Browser, Locator, Page

from tests.e2e.conftest import AXE
from tests.services import wait_for

# The impacts that fail a page; "minor" and "moderate" are printed but tolerated.
FAILING_IMPACTS = ("serious", "critical")
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def photo(colour: tuple[int, int, int] = (120, 140, 160)) -> bytes:
    """A small JPEG, made here: what a resident's phone would upload."""
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), colour).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


# -- axe-core -------------------------------------------------------------------------------

_axe_source: str | None = None


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Run axe-core on the page as it is now; every violation, whatever its impact.

    axe's source is evaluated through the DevTools protocol, which the page's CSP does not
    govern, so the page keeps its real policy (an injected <script> tag would be refused).
    """
    global _axe_source
    if _axe_source is None:
        _axe_source = AXE.read_text(encoding="utf-8")
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate("source => { (0, eval)(source); }", _axe_source)
    result = page.evaluate("""() => axe.run(document, {
        resultTypes: ['violations'],
        runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',
                                        'wcag22aa', 'best-practice']},
    })""")
    return result["violations"]


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"  [{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:5]:
            lines.append(f"      {' '.join(node['target'])}: {node['html'][:160]}")
            if node.get("failureSummary"):
                lines.append("        " + node["failureSummary"].replace("\n", "\n        "))
    return "\n".join(lines)


def serious(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in violations if v["impact"] in FAILING_IMPACTS]


def check_accessibility(page: Page, what: str, log: list[str] | None = None) -> list[str]:
    """axe on the page: returns a line per serious or critical problem (printed, with the rest)."""
    violations = axe_violations(page)
    if violations:
        report = f"axe on {what} ({page.url}):\n{describe(violations)}"
        print(report)
        if log is not None:
            log.append(report)
    return [f"{what}: [{v['impact']}] {v['id']}: {v['help']}" for v in serious(violations)]


# -- the interface's language ---------------------------------------------------------------

# Letters that only Vietnamese uses: an English page whose own words show one was not
# translated. Names (agencies, communes) are data, not the interface: they are left out.
VIETNAMESE = re.compile("[ăâđêôơưĂÂĐÊÔƠƯ\u1ea0-\u1ef9]")
INTERFACE_TEXT = """() => Array.from(document.querySelectorAll(
    'title, h1, h2, h3, label, legend, button, summary, nav a, th[scope=col], .hint, .lead'))
  .filter(e => !e.closest('[lang]:not(html)') && !e.closest('[data-name]'))
  .map(e => e.textContent.trim()).filter(Boolean)"""


def untranslated(page: Page) -> list[str]:
    return [text for text in page.evaluate(INTERFACE_TEXT) if VIETNAMESE.search(text)]


# -- people and their pages ------------------------------------------------------------------


@dataclass
class Recorder:
    """Screenshots numbered in the order they were taken, and axe on each (JavaScript on)."""

    folder: Path
    axe: bool = True
    full_page: bool = True
    count: int = 0
    problems: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.folder.mkdir(parents=True, exist_ok=True)

    def shot(self, page: Page, name: str, axe: bool = True, full_page: bool | None = None) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        page.screenshot(path=path, full_page=self.full_page if full_page is None else full_page)
        if self.axe and axe:
            self.problems += check_accessibility(page, name, self.log)
        return path

    def finish(self) -> None:
        if self.log:
            (self.folder / "axe.txt").write_text("\n\n".join(self.log), encoding="utf-8")
        assert not self.problems, "axe found serious or critical problems:\n" + "\n".join(
            self.problems)


class Person:
    """One browser context, with one page, that records what it loads from where."""

    def __init__(self, browser: Browser, base_url: str, options: dict[str, Any]):
        self.origin = urlsplit(base_url)[:2]
        self.context = browser.new_context(base_url=base_url, locale="vi-VN",
                                           timezone_id="Asia/Ho_Chi_Minh", **options)
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.elsewhere: list[str] = []
        self.csp: list[str] = []
        self.context.on("request", self._request)
        self.page.on("console", self._console)

    def _request(self, request) -> None:
        if urlsplit(request.url)[:2] != self.origin and not request.url.startswith("data:"):
            self.elsewhere.append(request.url)

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text:
            self.csp.append(message.text)

    def close(self) -> None:
        self.context.close()
        self.check()

    def check(self) -> None:
        assert not self.elsewhere, f"pages loaded something from another host: {self.elsewhere}"
        assert not self.csp, f"the Content-Security-Policy refused something: {self.csp}"


def problems_on(page: Page) -> str:
    """The error notices and field errors a page shows, to explain a refused form."""
    texts = page.locator(".notice.error, .field-errors, [role=alert]").all_inner_texts()
    return " | ".join(t.strip() for t in texts if t.strip()) or page.inner_text("main")[:1500]


def submit(page: Page, form: Locator) -> None:
    """Press the form's button and wait for the page it leads to; fail on an error page.

    A form that is refused comes back with status 400 and its problems next to its fields:
    those are printed in the failure.
    """
    with page.expect_navigation() as navigation:
        form.locator("button[type=submit]").last.click()
    response = navigation.value
    assert response is not None and response.status < 400, (
        f"{response.status if response else 'no response'} at {page.url}: {problems_on(page)}")


def open_action(page: Page, action: str) -> Locator:
    """The folded form of a staff action on a case page, opened (a <details>, no script)."""
    form = page.locator(f'form[action$="/{action}"]')
    details = page.locator(f'details:has(form[action$="/{action}"])')
    if details.count() and not details.evaluate("d => d.open"):
        details.locator("> summary").click()
    form.wait_for(state="visible")
    return form


def reload_until(page: Page, check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    def again() -> bool:
        if check():
            return True
        page.reload()
        return False

    wait_for(again, what, timeout=timeout)


TRACKING_CODE = re.compile(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}")
