"""Screenshots of each dashboard tab: ``python -m superpod.faces.ui.screenshots [OUT_DIR]`` (default docs/img).

Starts ``superpod ui`` on a free port, opens it in Debian's chromium through Playwright (both from the
``dev`` extra) and writes ``ui-<tab>.png`` per tab. The Sweeps tab is shown on a small results store
swept here (``superpod sweep``: deepseek-v3 decode on two systems over TPOT targets).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from superpod.faces.ui import TABS, command

SWEEP_SPEC = """question = "serve"
[fixed]
model = "deepseek-v3"
phase = "decode"
[axes]
system = ["cloudmatrix384", "gb200-nvl72"]
tpot_slo_ms = [10, 15, 20, 30, 50, 75, 100]
"""


def sweep_store(where: Path) -> Path:
    """A small results store to show in the Sweeps tab."""
    spec = where / "spec.toml"
    spec.write_text(SWEEP_SPEC)
    out = where / "results.duckdb"
    from superpod.planners.sweep import load, run  # what `superpod sweep SPEC --out OUT` runs

    run(load(spec), out)
    return out


def _idle(page) -> None:
    page.wait_for_timeout(500)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=180_000)


def main(out_dir: str = "docs/img") -> list[Path]:
    from playwright.sync_api import sync_playwright

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="superpod-shots-"))
    store = sweep_store(tmp)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(command(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    written = []
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=shutil.which("chromium"), headless=True, args=["--no-sandbox"])
            page = b.new_page(viewport={"width": 1500, "height": 1500})
            page.goto(f"http://127.0.0.1:{port}")
            page.get_by_role("tab", name=TABS[-1]).wait_for(timeout=180_000)
            _idle(page)
            for name in TABS:
                page.get_by_role("tab", name=name).click()
                _idle(page)
                if name == "Sweeps":
                    box = page.get_by_label("Results store (path to .duckdb or .parquet)")
                    box.fill(str(store))
                    box.press("Enter")
                    _idle(page)
                    for label, value in (("x", "tpot_slo_ms"), ("y (aggregated)", "decode_tokens_per_s_per_chip"),
                                         ("colour (a line each)", "system")):
                        page.get_by_label(label, exact=True).click()
                        page.get_by_role("option", name=value, exact=True).click()
                        _idle(page)
                page.locator('[data-testid="stPlotlyChart"] >> visible=true').first.wait_for(timeout=180_000)
                time.sleep(1.5)
                path = out / f"ui-{name.lower()}.png"
                page.screenshot(path=str(path), full_page=True)
                written.append(path)
            b.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        shutil.rmtree(tmp, ignore_errors=True)
    return written


if __name__ == "__main__":
    for p in main(*sys.argv[1:]):
        print(p)
