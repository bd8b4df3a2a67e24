"""The console in a real browser (Debian's chromium driven by Playwright): a reviewer triages from
the keyboard, plays the evidence clip, confirms a claim and sees the ladder's penalty; the streamer
appeals through the API and a senior upholds the appeal in the console, reversing the penalty.

Needs `/usr/bin/chromium` and a CJK font (`bash scripts/setup.sh --test` installs both); without
them these tests fail rather than skip."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import uvicorn
from web_client import API_KEY
from web_world import STREAMER, build_world

from pinocchio.core.settings import Settings
from pinocchio.web import create_app

pytestmark = pytest.mark.slow
CHROMIUM = Path("/usr/bin/chromium")
WAIT_MS = 20_000  # generous: other test runs share these two cores


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The console on a loopback port, serving a fresh world, in a thread of this process."""
    world = build_world(tmp_path_factory.mktemp("browser"))
    app = create_app(Settings(db_url=world.db_url, evidence_dir=world.evidence_dir, secret_key="browser-test",
                              api_keys=(API_KEY,)))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the console did not start"
        time.sleep(0.05)
    yield world, f"http://127.0.0.1:{server.config.port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "no /usr/bin/chromium: run bash scripts/setup.sh --test (apt-get install chromium)"
    fonts = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True).stdout if shutil.which("fc-list") else ""
    assert fonts.strip(), "no CJK font: run bash scripts/setup.sh --test (apt-get install fonts-noto-cjk)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


def post_json(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "X-API-Key": API_KEY})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.status, json.loads(answer.read())


def log_in(page, base: str, name: str, password: str) -> None:
    page.goto(f"{base}/queue")
    assert "/login?next=" in page.url  # every page needs a login
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.press("input[name=password]", "Enter")
    page.wait_for_url(f"{base}/queue")


def flash(page) -> str:
    return page.locator("p.flash").first.inner_text(timeout=WAIT_MS)


def test_triage_confirm_appeal_and_reversal_in_a_real_browser(served, browser):
    world, base = served
    status, _ = post_json(f"{base}/api/v1/reports", {"stream": world.stream_id, "reporter": "viewer_7719", "at": 66,
                                                    "comment": "<script>alert('xss')</script>全网最低价？"})
    assert status == 201
    context = browser.new_context()
    page = context.new_page()
    dialogs, refused = [], []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    log_in(page, base, "alice", world.password)

    # The queue, from the keyboard: j/k move the selection, Enter opens it.
    rows = page.locator("table.queue tbody tr[data-href]")
    assert rows.count() >= 2 and rows.first.get_attribute("data-href") == f"/cases/{world.case_id}"
    page.keyboard.press("j")
    page.keyboard.press("j")
    assert page.evaluate("document.activeElement.dataset.href") == rows.nth(1).get_attribute("data-href")
    page.keyboard.press("k")
    assert page.evaluate("document.activeElement.dataset.href") == f"/cases/{world.case_id}"
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/cases/{world.case_id}")
    assert page.locator("li.current mark").inner_text() == "能治糖尿病"

    # c claims it.
    with page.expect_navigation():
        page.keyboard.press("c")
    assert "is yours until" in flash(page)
    assert page.locator(".claim").inner_text().startswith("claimed by alice")

    # p plays the evidence clip: it has a duration and its time advances.
    page.keyboard.press("p")
    page.wait_for_function("() => { const a = document.getElementById('clip');"
                           " return a.duration > 0 && a.currentTime > 0.2; }", timeout=WAIT_MS)
    page.keyboard.press("p")
    page.wait_for_function("() => document.getElementById('clip').paused", timeout=WAIT_MS)

    # y confirms with the labels ticked (the pipeline's, pre-ticked) and the ladder's penalty shows.
    assert page.locator("input[name=labels][value=medical_claim]").is_checked()
    page.fill("textarea[name=comment]", "宣称普通食品能治糖尿病")
    page.keyboard.press("y")  # typed into the comment: keys are ignored while typing
    assert page.locator("textarea[name=comment]").input_value().endswith("y")
    page.fill("textarea[name=comment]", "宣称普通食品能治糖尿病")
    page.evaluate("document.activeElement.blur()")
    with page.expect_navigation():  # the form posts, then the case page comes back with the outcome
        page.keyboard.press("y")
    message = flash(page)
    assert f"{STREAMER} +4 points (now 4)" in message and "Ladder: ban (step 4" in message, message
    penalty_id = int(message.split("penalty #")[1].rstrip("."))
    assert page.locator(f"#penalty-{penalty_id}").inner_text().startswith(f"Penalty #{penalty_id}: ban at 4 points")
    assert "This case is confirmed." in page.content()

    # n goes on to the next case: the reported one, its viewer's comment shown as text.
    page.keyboard.press("n")
    page.wait_for_url(lambda url: "/cases/" in url and not url.endswith(f"/cases/{world.case_id}"))
    assert "<script>alert('xss')</script>全网最低价？" in page.locator("table.reports").inner_text()
    assert dialogs == []

    # The streamer appeals through the API; a senior upholds it in the console.
    status, appeal = post_json(f"{base}/api/v1/appeals", {"penalty_id": penalty_id, "streamer_id": STREAMER,
                                                          "reason": "我说的是“不能治病”，识别错了"})
    assert status == 201 and appeal["status"] == "pending"
    page.click("button:has-text('Log out')")
    page.wait_for_url(f"{base}/login")
    log_in(page, base, "sam", world.password)
    page.click("a[href='/appeals']")
    row = page.locator(f"#appeal-{appeal['id']}")
    assert "识别错了" in row.inner_text()
    row.locator("input[name=comment]").fill("录音确认说的是不能治病")
    with page.expect_navigation():
        row.locator("button[value=uphold]").click()
    assert f"Appeal {appeal['id']} upheld: penalty #{penalty_id} reversed" in flash(page)

    page.click("a[href='/penalties']")
    assert "reversed by sam" in page.locator(f"#penalty-{penalty_id}").inner_text()
    page.goto(f"{base}/cases/{world.case_id}")
    assert "This case is overturned." in page.content()
    assert page.locator("section.right strong").first.inner_text() == "0"  # active strike points
    assert refused == []  # the whole flow ran under the Content-Security-Policy without tripping it
    context.close()


def test_the_security_headers_hold_in_the_browser(served, browser):
    world, base = served
    context = browser.new_context()
    page = context.new_page()
    refused = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    answer = page.goto(f"{base}/login")
    headers = answer.all_headers()
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
    assert "strict-transport-security" not in headers  # plain HTTP here: HSTS only behind PINOCCHIO_HTTPS
    log_in(page, base, "alice", world.password)
    assert page.locator("table.queue tbody tr[data-href]").count() >= 1
    # An inline script, as injected markup would carry, is refused by the browser itself.
    page.evaluate("() => { const s = document.createElement('script'); s.textContent = 'window.injected = 1';"
                  " document.body.appendChild(s); }")
    assert page.evaluate("() => window.injected") is None
    page.wait_for_function("() => true")
    assert any("inline script" in message or "script-src" in message for message in refused), refused
    # The console's own script still works: j moves the selection in the queue.
    page.keyboard.press("j")
    assert page.evaluate("document.activeElement.dataset.href") is not None
    context.close()


def test_the_console_renders_chinese_with_a_cjk_font(served, browser):
    world, base = served
    page = browser.new_page()
    log_in(page, base, "bob", world.password)
    # Ask chromium which platform font drew the glyphs of a transcript cell (not boxes, not a guess).
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    cell = cdp.send("DOM.querySelector", {"nodeId": root, "selector": "td.text"})["nodeId"]
    fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": cell})["fonts"]
    assert fonts and all("CJK" in f["familyName"] for f in fonts), fonts
    page.close()
