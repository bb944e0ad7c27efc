"""The dashboard (`superpod ui`) and the HTML report in a real browser: Playwright driving Debian's chromium.

Skips, saying why, where Streamlit, Playwright or a chromium binary is missing (`.ci/run` installs chromium
with apt when it can).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request

import pytest

pytest.importorskip("streamlit", reason="superpod[ui] (Streamlit) is not installed")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("no chromium binary on PATH (apt-get install -y chromium)", allow_module_level=True)

from superpod.faces import ui  # noqa: E402
from superpod.faces.report import html  # noqa: E402

TIMEOUT_MS = 120_000
TABS = ["Compare", "Train", "Serve", "Scale", "Claims", "Validation"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def dashboard():
    port = _free_port()
    proc = subprocess.Popen(ui.command(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=1).status == 200:
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("the dashboard did not start within 60 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _open(browser, url):
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.get_by_role("tab", name="Validation").wait_for(timeout=TIMEOUT_MS)
    return page, errors


def _wait_idle(page):
    """Wait until Streamlit has finished running the script."""
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=TIMEOUT_MS)


def test_every_tab_renders_its_chart(browser, dashboard):
    page, errors = _open(browser, dashboard)
    _wait_idle(page)
    for name in TABS:
        page.get_by_role("tab", name=name).click()
        what = "table" if name == "Claims" else '[data-testid="stImage"] img'  # the claims view is a table
        page.locator(f"{what} >> visible=true").first.wait_for(timeout=TIMEOUT_MS)
        assert page.locator('[data-testid="stException"]').count() == 0, name
    assert not errors
    assert "Traceback" not in page.content()


def test_changing_a_system_changes_the_numbers(browser, dashboard):
    page, errors = _open(browser, dashboard)
    _wait_idle(page)
    metric = page.locator('[data-testid="stMetricValue"]').first
    metric.wait_for(timeout=TIMEOUT_MS)
    before = metric.inner_text()
    box = page.get_by_label("Systems (comma separated)")
    box.fill("dgx-h100-superpod")
    box.press("Enter")
    page.wait_for_function("(b) => { const m = document.querySelector('[data-testid=\"stMetricValue\"]');"
                           " return m && m.innerText !== b; }", arg=before, timeout=TIMEOUT_MS)
    assert metric.inner_text() != before
    assert not errors


def test_malformed_toml_shows_the_error_box(browser, dashboard, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[[[oops\n')
    page, errors = _open(browser, dashboard)
    _wait_idle(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(bad))
    alert = page.locator('[data-testid="stAlert"]', has_text="malformed TOML")
    alert.wait_for(timeout=TIMEOUT_MS)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert not errors


def test_html_report_opens_without_console_errors(browser, tmp_path):
    out = html.write(tmp_path / "r.html", ["gb200-nvl72"], "llama3-8b", None, silicon=False)
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("request", lambda r: problems.append("network: " + r.url) if not r.url.startswith(("file:", "data:")) else None)
    page.goto(out.as_uri())
    assert page.locator("section svg").count() >= 5
    assert not problems
