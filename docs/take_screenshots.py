"""Screenshots of the main pages for the README, taken in Debian's Chromium.

    .venv/bin/python docs/take_screenshots.py            # serves a portal of its own
    .venv/bin/python docs/take_screenshots.py URL        # or uses one already running

Without a URL it starts the portal as `make run` does (development settings, Hanoi's
agencies and the demo data), but on a free port with a database in a temporary folder, and
stops it at the end. It files a report as a business with a photo, keeps the receipt and
opens the case; then it shows the scoreboard, the Front's queue and a case in the agency's
workspace as the demo staff see them, and the home page on a phone. Needs /usr/bin/chromium
(`make browser`); Playwright never downloads a browser here.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from PIL import Image
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(__file__).parent / "screenshots"
CHROMIUM = "/usr/bin/chromium"
# No sandbox as root; none of the background connections that a closed network refuses.
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
DESKTOP = {"width": 1100, "height": 900}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 2}


def photo() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (120, 140, 160)).save(buffer, "JPEG")
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def own_portal():
    """The portal in development settings, with the demo data, on a free port of loopback."""
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory(prefix="portal-screenshots-") as folder:
        env = {**os.environ, "PORTAL_ENV": "development",
               "SECRET_KEY": "screenshots-only-secret-key-0123456789abcdef",
               "DATABASE_URL": f"sqlite:///{folder}/portal.sqlite3",
               "UPLOAD_DIR": f"{folder}/uploads", "MAIL_URL": f"file://{folder}/mail",
               "REDIS_URL": ""}
        flask = [str(bin_dir / "flask"), "--app", "app"]
        for command in (["db", "upgrade"], ["seed", "agencies"], ["seed", "demo"],
                        ["stats", "refresh", "--all"]):
            subprocess.run([*flask, *command], env=env, cwd=ROOT, check=True,  # noqa: S603
                           stdout=subprocess.DEVNULL)
        port = free_port()
        server = subprocess.Popen(  # noqa: S603 - the portal's own CLI, fixed arguments
            [*flask, "run", "--host", "127.0.0.1", "--port", str(port)],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    with urllib.request.urlopen(base + "/", timeout=2):  # noqa: S310 - loopback
                        break
                except OSError:
                    time.sleep(0.2)
            else:
                raise SystemExit(f"the portal did not answer on {base}")
            yield base
        finally:
            server.terminate()
            server.wait(timeout=10)


def sign_in(page: Page, base: str, email: str) -> None:
    from portal.demo import DEMO_PASSWORD

    page.goto(f"{base}/login")
    page.fill("#email", email)
    page.fill("#password", DEMO_PASSWORD)
    with page.expect_navigation():
        page.click("main form button[type=submit]")


def take(base: str) -> None:
    from portal.demo import DEMO_DOMAIN

    OUT.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=DESKTOP, locale="vi-VN")
        page.goto(f"{base}/")
        page.screenshot(path=OUT / "home.png")

        page.goto(f"{base}/report")
        page.select_option("#agency_id", label="Sở Xây dựng")
        page.check("input[name=conduct][value=slow_handling]")
        page.select_option("#sector", value="construction")
        page.fill("#description", "Công ty nộp hồ sơ xin giấy phép xây dựng nhà xưởng từ ngày "
                                  "5/8/2026. Đã quá hạn ba tuần, Sở chưa trả lời và không nói lý do.")
        page.fill("#occurred_on", "2026-08-05")
        page.check("input[name=reporter_kind][value=business]")
        page.fill("#business_name", "Công ty TNHH Xây dựng Ánh Dương")
        page.fill("#tax_code", "0101234567")
        page.fill("#reporter_email", "lienhe@anhduong.example")
        page.set_input_files("#evidence", files=[{"name": "bien-nhan.jpg", "mimeType": "image/jpeg",
                                                   "buffer": photo()}])
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=OUT / "report.png")
        with page.expect_navigation():
            page.click("main form button[type=submit]")
        page.screenshot(path=OUT / "receipt.png")
        with page.expect_navigation():
            page.click("a.button.primary")
        page.screenshot(path=OUT / "case.png")

        page.goto(f"{base}/agencies")
        page.locator("#kind-department").evaluate("heading => heading.scrollIntoView()")
        page.screenshot(path=OUT / "scoreboard.png")  # the city's departments

        staff = browser.new_page(viewport=DESKTOP, locale="vi-VN")
        sign_in(staff, base, f"moderator@{DEMO_DOMAIN}")
        staff.screenshot(path=OUT / "moderation.png")
        staff.context.close()

        staff = browser.new_page(viewport=DESKTOP, locale="vi-VN")
        sign_in(staff, base, f"head.xd@{DEMO_DOMAIN}")
        staff.locator("table.queue tbody a").first.click()
        staff.wait_for_load_state()
        staff.screenshot(path=OUT / "agency-case.png")
        staff.context.close()

        phone = browser.new_context(locale="vi-VN", **PHONE).new_page()
        phone.goto(f"{base}/")
        phone.screenshot(path=OUT / "phone.png")
        browser.close()


def main() -> None:
    sys.path.insert(0, str(ROOT))
    if len(sys.argv) > 1:
        take(sys.argv[1].rstrip("/"))
        return
    with own_portal() as base:
        take(base)


if __name__ == "__main__":
    main()
