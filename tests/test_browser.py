"""The dashboard (`superpod ui`) and the HTML report in a real browser: Playwright driving Debian's chromium.

One Streamlit server and one browser for the whole module; the views are cached on the server, so
only the first page pays for the estimates. Skips, saying why, where Streamlit, Playwright or a
chromium binary is missing (`.ci/run` installs chromium with apt when it can).
"""

from __future__ import annotations

import re
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
CHART = '[data-testid="stPlotlyChart"] >> visible=true'


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


def _wait_idle(page):
    """Wait until Streamlit has finished running the script."""
    page.wait_for_timeout(300)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def opened(browser, dashboard):
    """One page for the module's tests, in file order (the malformed upload last: it stops the page);
    with the JavaScript errors it raised."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(dashboard)
    page.get_by_role("tab", name=ui.TABS[-1]).wait_for(timeout=TIMEOUT_MS)
    _wait_idle(page)
    yield page, errors
    page.close()


def _tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()
    _wait_idle(page)
    page.locator(CHART).first.wait_for(timeout=TIMEOUT_MS)


def test_every_tab_renders_its_chart(opened):
    page, errors = opened
    for name in ui.TABS[:-1]:  # Sweeps needs a store: test_sweeps_tab_loads_a_store
        _tab(page, name)
        assert page.locator('[data-testid="stException"]').count() == 0, name
        panel = page.locator('[role="tabpanel"] >> visible=true')
        panel.locator('[data-testid="stDownloadButton"]').nth(1).wait_for(timeout=TIMEOUT_MS)  # the tab has rendered
        assert panel.locator('[data-testid="stDownloadButton"]').count() >= 2, f"{name}: no downloads"
        if name == "Serve":  # the deployment sections: the Pareto frontier is drawn
            panel.locator(CHART).filter(has_text="Pareto frontier").first.wait_for(timeout=TIMEOUT_MS)
    _tab(page, "Compare")
    panel = page.locator('[role="tabpanel"] >> visible=true')
    for label, suffix in (("PNG", ".png"), ("HTML", ".html"), ("CSV", ".csv")):
        with page.expect_download(timeout=TIMEOUT_MS) as d:
            button = panel.get_by_role("button", name=label, exact=True).first
            button.scroll_into_view_if_needed()
            button.click()
        assert d.value.suggested_filename.endswith(suffix)
        assert d.value.path().stat().st_size > 100
    assert not errors
    assert "Traceback" not in page.content()


def test_editing_the_plan_moves_the_price(opened):
    page, errors = opened
    _tab(page, "Train")
    form = page.locator('[data-testid="stForm"]')
    form.wait_for(timeout=TIMEOUT_MS)
    step = page.locator('[data-testid="stMetric"]', has_text="step").locator('[data-testid="stMetricValue"]').first
    before = step.inner_text()
    field = form.get_by_label("ep")  # cloudmatrix384 first: EP 32 and EP 16 both fit; take the one the best plan lacks
    field.fill("32" if field.input_value() == "16" else "16")
    form.get_by_role("button", name="Price this plan").click()
    page.wait_for_function("(b) => [...document.querySelectorAll('[data-testid=\"stMetric\"]')].some(m => "
                           "m.innerText.startsWith('step') && !m.innerText.includes(b))", arg=before, timeout=TIMEOUT_MS)
    # a plan that cannot fit: the one-line refusal in an error box
    form.get_by_label("micro batch").fill("64")
    form.get_by_role("button", name="Price this plan").click()
    page.locator('[data-testid="stAlert"]', has_text=re.compile(r"no (valid )?plan")).wait_for(timeout=TIMEOUT_MS)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert not errors


def test_sweeps_tab_loads_a_store(opened, tmp_path):
    pytest.importorskip("duckdb", reason="the sweep extra (duckdb) is not installed")
    from superpod.planners.sweep.store import DuckStore

    store = tmp_path / "results.duckdb"
    s = DuckStore(store)
    s.write([{"point_hash": f"h{i}", "system": sys, "chips": float(n), "tokens_per_s": float(n * k), "error": None}
             for i, (sys, k, n) in enumerate((sys, k, n) for sys, k in (("a", 1.0), ("b", 2.0)) for n in (8, 16, 32))])
    s.close()
    page, errors = opened
    page.get_by_role("tab", name="Sweeps").click()
    box = page.get_by_label("Results store (path to .duckdb or .parquet)")
    box.fill(str(store))
    box.press("Enter")
    _wait_idle(page)
    page.locator(CHART).first.wait_for(timeout=TIMEOUT_MS)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert not errors


def test_changing_a_system_changes_the_numbers(opened):
    page, errors = opened
    _tab(page, "Compare")
    metric = page.locator('[data-testid="stMetricValue"] >> visible=true').first
    before = metric.inner_text()
    box = page.locator('[data-testid="stMultiSelect"] input').first
    box.click()
    box.fill("dgx-h100-superpod")
    box.press("Enter")
    page.keyboard.press("Escape")
    _wait_idle(page)
    # drop the first system (cloudmatrix384): the first number shown is now another system's
    page.get_by_role("button", name="Remove cloudmatrix384").click()
    page.wait_for_function("(b) => { const m = document.querySelector('[data-testid=\"stMetricValue\"]');"
                           " return m && m.innerText !== b; }", arg=before, timeout=TIMEOUT_MS)
    assert metric.inner_text() != before
    assert not errors


def test_malformed_toml_shows_the_error_box(opened, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[[[oops\n')
    page, errors = opened
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
    for view in ("compare", "train", "serve", "scale", "claims", "validation"):
        assert page.locator(f"section#{view} svg").count() >= 1, view
    assert not problems
