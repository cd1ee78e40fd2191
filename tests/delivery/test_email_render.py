"""The email's HTML as a reader sees it: rendered in headless Chromium (Debian's /usr/bin/chromium, driven by
playwright without a browser download), screenshotted to artifacts/, and its visible text checked."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from backlog_watch.delivery.notifiers.email import build_message
from tests.helpers.alerts import urgent_notification
from tests.smtp import bodies

CHROMIUM = Path(os.environ.get("BACKLOG_WATCH_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)"
)


def test_email_html_renders_as_a_readable_table_in_chromium(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    notification = urgent_notification()
    _, html = bodies(build_message([notification], sender="alerts@acme.com", to=["leads@acme.com"]))
    page_file = tmp_path / "email.html"
    page_file.write_text(html, encoding="utf-8")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "email-critical.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 900, "height": 700})
            page.goto(page_file.as_uri())
            page.screenshot(path=str(shot), full_page=True)
            title = page.inner_text(".title")
            severity = page.inner_text(".severity")
            headers = page.locator("table.tickets th").all_inner_texts()
            rows = page.locator("table.tickets tbody tr").all_inner_texts()
            more = page.inner_text(".more")
            first_link = page.locator("table.tickets a").first.get_attribute("href")
            severity_colour = page.eval_on_selector(".severity", "e => getComputedStyle(e).color")
            table_width = page.eval_on_selector("table.tickets", "e => e.getBoundingClientRect().width")
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
    assert title == "[CRITICAL] urgent-backlog: 23 open (zendesk)" and severity == "CRITICAL"
    assert headers == ["Ticket", "Subject", "Priority", "Age", "Status", "Group", "Assignee", "SLA"]
    assert len(rows) == 10 and "#500" in rows[0] and "Refund <0> & more" in rows[0] and "due in 25m" in rows[0]
    assert "urgent" in rows[0] and "1d 6h" in rows[0]
    assert more == "…and 13 more"
    assert first_link == "https://acme.zendesk.com/agent/tickets/500"
    assert severity_colour == "rgb(198, 40, 40)"  # red for critical
    assert table_width > 700  # the table uses the width, not a squeezed column
