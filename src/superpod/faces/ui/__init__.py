"""``superpod ui``: the Streamlit dashboard (optional extra ``superpod[ui]``); the page is :mod:`superpod.faces.ui.app`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from superpod.errors import SuperpodError

APP = Path(__file__).with_name("app.py")
TABS = ("Compare", "Train", "Serve", "Scale", "Claims", "Validation", "Sweeps")  #: the page's tabs, in order


def command(port: int = 8501, headless: bool = True) -> list[str]:
    """The command line that serves the dashboard on 127.0.0.1:``port``."""
    return [sys.executable, "-m", "streamlit", "run", str(APP), "--server.address", "127.0.0.1",
            "--server.port", str(port), "--server.headless", "true" if headless else "false",
            "--browser.gatherUsageStats", "false"]


def run(port: int = 8501) -> int:
    """Serve the dashboard until interrupted; the exit code of Streamlit."""
    try:
        import streamlit  # noqa: F401
    except ImportError:
        raise SuperpodError("superpod ui needs Streamlit: pip install 'superpod[ui]'") from None
    return subprocess.call(command(port))
