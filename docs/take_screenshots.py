"""Screenshots of the main pages for the README, taken in Debian's Chromium.

Start the portal first (`make run`), then: `.venv/bin/python docs/take_screenshots.py`.
It files a report as a business with a photo, keeps the receipt and opens the case.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5000"
OUT = Path(__file__).parent / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def photo() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (120, 140, 160)).save(buffer, "JPEG")
    return buffer.getvalue()


def main() -> None:
    OUT.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(f"{BASE}/")
        page.screenshot(path=OUT / "home.png", full_page=False)

        page.goto(f"{BASE}/report")
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
        page.screenshot(path=OUT / "report.png", full_page=False)
        page.click("button[type=submit]")
        page.wait_for_url("**/report/received")
        page.screenshot(path=OUT / "receipt.png", full_page=False)
        page.click("a.button.primary")
        page.screenshot(path=OUT / "case.png", full_page=False)
        browser.close()


if __name__ == "__main__":
    main()
