"""``superpod report --html OUT.html``: the static HTML report (:mod:`superpod.faces.report.html`)."""

from __future__ import annotations

from superpod.api.options import ReportOptions, UiOptions
from superpod.faces.cli.options import options_command


@options_command(ReportOptions)
def report(o: ReportOptions) -> None:
    """A self-contained HTML report (no network needed to open it): compare, train breakdown, serve, scale,
    claims and validation views of --systems and --model."""
    from superpod.faces.report import html
    from superpod.faces.report.output import console

    out = html.write(o.html, o.systems, o.model, o.chips or None, o.silicon)
    console().print(f"wrote {out} ({out.stat().st_size / 1e3:,.0f} kB)", markup=False)


@options_command(UiOptions)
def ui(o: UiOptions) -> None:
    """The Streamlit dashboard on 127.0.0.1 (needs the optional extra ui: pip install 'superpod\\[ui]'): compare, train
    (with plan editing), serve, scale, claims, validation and sweeps tabs over systems and a model picked in the sidebar."""
    from superpod.faces.ui import run

    raise SystemExit(run(o.port))
