"""Draw scaling curves (:func:`superpod.planners.scale_sweep.sweep`): matplotlib for PNG, plotly for HTML.

Three panels share the chip-count axis (log): effective FLOP/s (log, with each system's
paper FLOP/s dashed), MFU and goodput. A dotted vertical line marks each system's
scale-up domain and a ring its catalog reference size. Both libraries are imported here
only, so ``superpod --help`` stays light.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

COLORS = ["#c0392b", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


def _label(c: dict) -> str:
    dom = c["scaleup_domain_chips"]
    return f"{c['system']} (scale-up {dom:,})" if dom else c["system"]


def _ref_index(c: dict):
    """Index of the size nearest the system's reference size, if it lies on the curve."""
    chips = np.asarray(c["chips"], dtype=float)
    if not (chips.min() <= c["reference_chips"] <= chips.max()):
        return None
    i = int(np.argmin(np.abs(np.log(chips) - np.log(c["reference_chips"]))))
    return i if np.isfinite(c["effective_flops"][i]) else None


def write(data: dict, out: Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".html":
        return _plotly(data, out)
    return _matplotlib(data, out)


def _title(data: dict) -> str:
    return (f"Training {data['model']} ({data['precision'].upper()}): effective compute = chips x peak x MFU x goodput")


def _matplotlib(data: dict, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, PercentFormatter

    fig, axes = plt.subplots(3, 1, figsize=(10, 11), sharex=True, gridspec_kw={"height_ratios": [2.2, 1, 1]})
    ax_e, ax_m, ax_g = axes
    for k, c in enumerate(data["curves"]):
        col = COLORS[k % len(COLORS)]
        x = np.asarray(c["chips"], dtype=float)
        ax_e.plot(x, c["effective_flops"], "-o", color=col, ms=3, lw=1.8, label=_label(c))
        ax_e.plot(x, c["paper_flops"], "--", color=col, lw=0.8, alpha=0.45)
        ax_m.plot(x, c["mfu"], "-o", color=col, ms=3, lw=1.5)
        ax_g.plot(x, c["goodput"], "-o", color=col, ms=3, lw=1.5)
        dom = c["scaleup_domain_chips"]
        if dom and x.min() <= dom <= x.max():
            for ax in axes:
                ax.axvline(dom, color=col, ls=":", lw=1.2, alpha=0.8)
        i = _ref_index(c)
        if i is not None:
            ax_e.plot(x[i], c["effective_flops"][i], "o", ms=10, mfc="none", mec=col, mew=1.5)
    ax_e.set_xscale("log")
    ax_e.set_yscale("log")
    ax_e.set_ylabel("effective FLOP/s (solid)\npaper FLOP/s (dashed)")
    ax_m.set_ylabel("MFU\n(best plan)")
    ax_g.set_ylabel("goodput\n(useful / wall time)")
    for ax in (ax_m, ax_g):
        ax.set_ylim(0, 1)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax_g.set_xlabel("chips in the training job (log scale)")
    ax_g.xaxis.set_major_locator(LogLocator(base=10))
    ax_g.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    for ax in axes:
        ax.grid(True, which="major", alpha=0.3)
        ax.grid(True, which="minor", alpha=0.08)
    handles, labels = ax_e.get_legend_handles_labels()
    from matplotlib.lines import Line2D

    handles += [Line2D([], [], color="grey", ls="--", lw=0.8), Line2D([], [], color="grey", ls=":", lw=1.2),
                Line2D([], [], color="grey", ls="none", marker="o", ms=9, mfc="none")]
    labels += ["paper FLOP/s (same chip, same line)", "scale-up domain (dotted, per system)", "catalog reference size"]
    ax_e.legend(handles, labels, loc="upper left", fontsize=8, framealpha=0.9)
    ax_e.set_title(_title(data), fontsize=11)
    fig.text(0.01, 0.005, f"MFU: superpod's training search, global batch fixed at {data['global_batch']:,} x {data['seq_len']:,} tokens. "
             "Goodput: failure rates calibrated on Llama 3's 54-day record, Daly checkpoints, 6-10 min restarts.",
             fontsize=7.5, color="#444444")
    fig.tight_layout(rect=(0, 0.015, 1, 1))
    fig.savefig(out, dpi=130)
    plt.close(fig)
    return out


def _plotly(data: dict, out: Path) -> Path:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, row_heights=[0.5, 0.25, 0.25], vertical_spacing=0.05)
    for k, c in enumerate(data["curves"]):
        col = COLORS[k % len(COLORS)]
        x = np.asarray(c["chips"], dtype=float)
        name = _label(c)
        custom = np.asarray(c["job_chips"], dtype=float)
        fig.add_trace(go.Scatter(x=x, y=c["effective_flops"], mode="lines+markers", name=name, legendgroup=name,
                                 line={"color": col}, customdata=custom,
                                 hovertemplate="%{x:,} chips<br>effective %{y:.3s}FLOP/s<extra>" + c["system"] + "</extra>"),
                      row=1, col=1)
        fig.add_trace(go.Scatter(x=x, y=c["paper_flops"], mode="lines", name=f"{c['system']} paper", legendgroup=name,
                                 showlegend=False, line={"color": col, "dash": "dash", "width": 1}, opacity=0.5,
                                 hovertemplate="paper %{y:.3s}FLOP/s<extra>" + c["system"] + "</extra>"), row=1, col=1)
        fig.add_trace(go.Scatter(x=x, y=c["mfu"], mode="lines+markers", legendgroup=name, showlegend=False,
                                 line={"color": col}, hovertemplate="MFU %{y:.1%}<extra>" + c["system"] + "</extra>"),
                      row=2, col=1)
        fig.add_trace(go.Scatter(x=x, y=c["goodput"], mode="lines+markers", legendgroup=name, showlegend=False,
                                 line={"color": col}, hovertemplate="goodput %{y:.1%}<extra>" + c["system"] + "</extra>"),
                      row=3, col=1)
        dom = c["scaleup_domain_chips"]
        if dom and x.min() <= dom <= x.max():
            for row in (1, 2, 3):
                fig.add_vline(x=dom, line={"color": col, "dash": "dot", "width": 1}, row=row, col=1)
    fig.update_xaxes(type="log", row=3, col=1, title_text="chips in the training job (dotted: scale-up domains)")
    for row in (1, 2):
        fig.update_xaxes(type="log", row=row, col=1)
    fig.update_yaxes(type="log", row=1, col=1, title_text="effective FLOP/s (dashed: paper)")
    fig.update_yaxes(range=[0, 1], tickformat=".0%", row=2, col=1, title_text="MFU")
    fig.update_yaxes(range=[0, 1], tickformat=".0%", row=3, col=1, title_text="goodput")
    fig.update_layout(title=_title(data), height=900, template="plotly_white", legend={"x": 0.01, "y": 0.99})
    fig.write_html(out, include_plotlyjs=True, full_html=True)
    return out
