"""Draw serving Pareto frontiers (``superpod plot pareto``): output tokens/s per chip against tokens/s per
user (1 / TPOT), one line per system, the chosen deployment of each marked with a star; matplotlib
for PNG, plotly for HTML (imported here only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from superpod.faces.report.plot import COLORS


def write(model: str, fronts: list[dict[str, Any]], out: Path) -> Path:
    """``fronts``: per system ``{"system", "points": [...], "chosen": {...} | None}`` (serve's ``pareto``)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    title = f"{model}: output tokens/s per chip vs per user (Pareto frontier; star = chosen deployment)"
    if out.suffix.lower() == ".html":
        import plotly.graph_objects as go

        fig = go.Figure()
        for k, f in enumerate(fronts):
            col = COLORS[k % len(COLORS)]
            pts = f["points"]
            fig.add_trace(go.Scatter(x=[p["tokens_per_s_per_user"] for p in pts], y=[p["tokens_per_s_per_chip"] for p in pts],
                                     mode="lines+markers", name=f["system"], line={"color": col},
                                     text=[f"batch {p['batch_per_chip']:g}/chip, TP {p['tp']}, EP {p['moe_ep']}" for p in pts]))
            if f.get("chosen"):
                c = f["chosen"]
                fig.add_trace(go.Scatter(x=[c["tokens_per_s_per_user"]], y=[c["tokens_per_s_per_chip"]], mode="markers",
                                         marker={"symbol": "star", "size": 16, "color": col},
                                         name=f"{f['system']} chosen"))
        fig.update_layout(title=title, xaxis_title="output tokens/s per user (1 / TPOT)",
                          yaxis_title="output tokens/s per chip (all pools)")
        fig.write_html(str(out), include_plotlyjs="cdn")
        return out
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    for k, f in enumerate(fronts):
        col = COLORS[k % len(COLORS)]
        pts = f["points"]
        ax.plot([p["tokens_per_s_per_user"] for p in pts], [p["tokens_per_s_per_chip"] for p in pts], "o-", ms=3,
                color=col, label=f["system"])
        if f.get("chosen"):
            c = f["chosen"]
            ax.plot([c["tokens_per_s_per_user"]], [c["tokens_per_s_per_chip"]], "*", ms=16, color=col,
                    markeredgecolor="black", label=f"{f['system']} chosen")
    ax.set_xlabel("output tokens/s per user (1 / TPOT)")
    ax.set_ylabel("output tokens/s per chip (all pools)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
