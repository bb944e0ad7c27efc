"""Screenshots of each dashboard tab: ``python -m superpod.faces.ui.screenshots [OUT_DIR]`` (default docs/img).

Starts ``superpod ui`` on a free port, opens it in Debian's chromium through Playwright (both from the
``dev`` extra) and writes ``ui-<tab>.png`` per tab.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from superpod.faces.ui import command

TABS = ("Compare", "Train", "Serve", "Scale", "Claims", "Validation")


def main(out_dir: str = "docs/img") -> list[Path]:
    from playwright.sync_api import sync_playwright

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
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
            page = b.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}")
            page.get_by_role("tab", name=TABS[-1]).wait_for(timeout=120_000)
            for name in TABS:
                page.get_by_role("tab", name=name).click()
                what = "table" if name == "Claims" else '[data-testid="stImage"] img'
                page.locator(f"{what} >> visible=true").first.wait_for(timeout=120_000)
                time.sleep(1)
                path = out / f"ui-{name.lower()}.png"
                page.screenshot(path=str(path), full_page=True)
                written.append(path)
            b.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    return written


if __name__ == "__main__":
    for p in main(*sys.argv[1:]):
        print(p)
