"""``superpod report --html``: one self-contained static HTML page of superpod's views.

Views: compare (system totals, ratios to the first), train (best plan and where its step time
goes), serve (decode tokens/s per chip against tokens/s per user over a range of TPOT targets),
scale (effective compute, MFU and goodput against chips, scale-up domains marked), claims (the
verdicts) and validation (predicted against measured, per group, with MAPE). Every figure comes
from the Python API (:mod:`superpod.api`); charts are matplotlib SVG written inline and the CSS
is inline, so the file opens with no network and weighs a few hundred kB. A view whose inputs
the API refuses (a model that does not fit a system) shows the one-line message instead.
"""

from __future__ import annotations

import datetime as _dt
import html
import io
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from superpod.errors import SuperpodError

COLORS = ["#c0392b", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
TPOT_TARGETS_S = (0.010, 0.015, 0.020, 0.030, 0.050, 0.075, 0.100, 0.150)
CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:.85em;margin:.8em 0}td,th{border:1px solid #ddd;padding:.25em .5em;
text-align:left;vertical-align:top}th{background:#f4f4f4}.err{background:#fdecea;border:1px solid #e0b4b4;
padding:.5em;color:#8a1f11}nav a{margin-right:1em}svg{max-width:100%;height:auto}.note{color:#666;font-size:.85em}"""


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "svg.hashsalt": "superpod"})
    return plt


def _svg(fig) -> str:
    """The figure as inline SVG text (no XML header), then closed."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    _plt().close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _table(cols: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _err(msg: str) -> str:
    return f'<p class="err">{html.escape(msg)}</p>'


def _g(x: float, unit: str = "") -> str:
    """A number in engineering form: 2.89e17 -> '289 P'."""
    if x is None or not np.isfinite(x):
        return "-"
    for f, p in ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= f:
            return f"{x / f:.3g} {p}{unit}"
    return f"{x:.3g} {unit}".strip()


# ---------------------------------------------------------------------------- views

COMPARE = (("bf16_flops", "BF16 dense FLOP/s", "FLOP/s"), ("hbm_bytes", "HBM capacity", "B"),
           ("hbm_Bps", "HBM bandwidth", "B/s"), ("scaleup_bits_per_s", "scale-up bandwidth", "bit/s"),
           ("scaleout_bits_per_s", "scale-out bandwidth", "bit/s"), ("power_w", "IT power", "W"))


def compare_view(api, systems: Sequence[str], chips: int | None) -> str:
    rows = list(api.compare(list(systems), chips=chips))
    plt = _plt()
    fig, axes = plt.subplots(2, 3, figsize=(10, 5))
    names = [r["name"] for r in rows]
    for ax, (key, label, unit) in zip(axes.flat, COMPARE):
        vals = [r[key] or 0.0 for r in rows]
        bars = ax.bar(names, vals, color=COLORS[: len(rows)])
        for b, v in zip(bars, vals):
            ratio = v / vals[0] if vals[0] else float("nan")
            ax.annotate(f"{_g(v, unit)}\n{ratio:.2f}x", (b.get_x() + b.get_width() / 2, v), ha="center", va="bottom",
                        fontsize=7)
        ax.set_title(label)
        ax.tick_params(axis="x", labelrotation=15, labelsize=7)
        ax.set_ylim(0, max(vals + [1e-30]) * 1.3)
    fig.tight_layout()
    table = _table(["system", "chips", *[c[1] for c in COMPARE]],
                   [[r["name"], f"{r['chips']:,.0f}", *[_g(r[k], u) for k, _, u in COMPARE]] for r in rows])
    basis = _table(["system", "total", "basis (source) [confidence]"],
                   [[r["name"], k, v] for r in rows for k, v in r["basis"].items()])
    return _svg(fig) + table + f"<details><summary>Where each total comes from</summary>{basis}</details>"


BREAKDOWN = ("compute_s", "recompute_s", "tp_comm_s", "cp_comm_s", "ep_comm_s", "pp_comm_s", "bubble_s",
             "dp_comm_exposed_s", "optimizer_s", "overhead_s")


def train_view(api, model: str, systems: Sequence[str], chips: int | None) -> str:
    recs, errs = [], []
    for s in systems:
        try:
            recs.append(api.train(model, f"{s}@{chips}" if chips else s))
        except SuperpodError as e:
            errs.append(f"{s}: {e}")
    out = "".join(_err(e) for e in errs)
    if not recs:
        return out
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 0.6 + 0.5 * len(recs)))
    left = np.zeros(len(recs))
    labels = [r["system"] for r in recs]
    for i, k in enumerate(BREAKDOWN):
        vals = np.array([r["breakdown"][k] for r in recs])
        if not vals.any():
            continue
        ax.barh(labels, vals, left=left, color=plt.cm.tab10(i % 10), label=k.removesuffix("_s").replace("_", " "))
        left += vals
    ax.set_xlabel("seconds per optimizer step")
    ax.invert_yaxis()
    ax.legend(ncol=5, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.35))
    rows = [[r["system"], f"{r['chips']:,}", r.plan.text(), f"{r['step_s']:.3g} s", f"{r['tokens_per_s_per_chip']:,.0f}",
             f"{r['mfu'] * 100:.1f}%", f"{r['memory_per_chip_bytes'] / 1e9:.1f} of {r['hbm_bytes'] / 1e9:.1f} GB"]
            for r in recs]
    return out + _svg(fig) + _table(["system", "chips", "best plan", "step", "tokens/s per chip", "MFU", "memory per chip"],
                                    rows)


def serve_view(api, model: str, systems: Sequence[str]) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    rows, errs = [], []
    for c, s in enumerate(systems):
        pts = []
        for slo in TPOT_TARGETS_S:
            try:
                r = api.serve(model, s, tpot_slo_s=slo).record["decode"]
            except SuperpodError as e:
                if not pts and slo == TPOT_TARGETS_S[-1]:
                    errs.append(f"{s}: {e}")
                continue
            pts.append((1.0 / r["tpot_s"], r["tokens_per_s_per_chip"]))
            rows.append([s, f"{slo * 1e3:g} ms", f"{r['tpot_s'] * 1e3:.1f} ms", f"{r['tokens_per_s_per_chip']:,.0f}",
                         f"{r['batch_per_chip']:,.0f}"])
        if pts:
            x, y = zip(*sorted(pts))
            ax.plot(x, y, "o-", color=COLORS[c % len(COLORS)], label=s)
    ax.set_xlabel("tokens/s per user (1 / TPOT)")
    ax.set_ylabel("decode output tokens/s per chip")
    ax.set_title(f"{model} decode: throughput against interactivity")
    ax.grid(alpha=0.3)
    if rows:
        ax.legend()
    return ("".join(_err(e) for e in errs) + _svg(fig)
            + _table(["system", "TPOT target", "TPOT", "tokens/s per chip", "batch per chip"], rows))


def scale_view(api, model: str, systems: Sequence[str]) -> str:
    rec = api.scaling_curves(model, list(systems), points=10, min_chips=64, max_chips=262_144, workers=1).record
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
    for c, cur in enumerate(rec["curves"]):
        col = COLORS[c % len(COLORS)]
        x = np.asarray(cur["chips"], dtype=float)
        for ax, key in zip(axes, ("effective_flops", "mfu", "goodput")):
            ax.plot(x, np.asarray(cur[key], dtype=float), "o-", ms=3, color=col, label=cur["system"])
            if cur.get("scaleup_domain_chips"):
                ax.axvline(cur["scaleup_domain_chips"], color=col, ls=":", lw=1)
        axes[0].plot(x, np.asarray(cur["paper_flops"], dtype=float), "--", color=col, lw=1)
    for ax, t in zip(axes, ("effective FLOP/s (dashed: paper)", "MFU", "goodput")):
        ax.set_xscale("log")
        ax.set_title(t)
        ax.set_xlabel("chips")
        ax.grid(alpha=0.3)
    axes[0].set_yscale("log")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return _svg(fig) + '<p class="note">Dotted verticals: each system\'s scale-up domain.</p>'


def claims_view(api) -> str:
    res = api.claims()
    rows = [[r["id"], r["claim"], f"{r['op']} {r['claimed']:g} {r['unit']}", f"{r['computed']:.4g}", r["verdict"],
             r["basis"]] for r in res]
    counts = ", ".join(f"{v} {k}" for k, v in res.counts.items())
    return f"<p>{html.escape(counts)}</p>" + _table(["id", "claim", "claimed", "computed", "verdict", "basis"], rows)


def validation_view(api, silicon: bool = True) -> str:
    groups = [(g["group"], [(c["measured"], c["predicted"]) for c in g["cases"]], g["mape"])
              for g in api.validate().record["groups"]]
    if silicon:
        sil = api.validate_silicon().record
        ok = [r for r in sil["rows"] if r["status"] == "ok"]
        for m in ("ttft", "tpot"):
            pts = [(r[f"measured_{m}_ms"], r[f"predicted_{m}_ms"]) for r in ok]
            if pts:
                groups.append((f"silicon {m.upper()} (ms)", pts, sil["summary"][f"{m}_mape"]))
    plt = _plt()
    fig, axes = plt.subplots(1, len(groups), figsize=(3.6 * len(groups), 3.6), squeeze=False)
    for ax, (name, pts, mape) in zip(axes[0], groups):
        a = np.asarray(pts, dtype=float)
        ax.loglog(a[:, 0], a[:, 1], "o", ms=3, alpha=0.6)
        lo, hi = a.min() * 0.8, a.max() * 1.25
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_title(f"{name}: MAPE {mape * 100:.1f}%" if mape is not None else name, fontsize=8)
        ax.set_xlabel("measured")
        ax.set_ylabel("predicted")
    fig.tight_layout()
    return _svg(fig) + _table(["group", "cases", "MAPE"], [[n, len(p), "-" if m is None else f"{m * 100:.1f}%"]
                                                            for n, p, m in groups])


# ---------------------------------------------------------------------------- page

def build(systems: Sequence[str], model: str, chips: int | None = None, silicon: bool = True) -> str:
    """The report's HTML text."""
    from superpod import api

    views: list[tuple[str, str, Callable[[], str]]] = [
        ("compare", "Compare: system totals", lambda: compare_view(api, systems, chips)),
        ("train", f"Train {model}: best plan and where the step time goes", lambda: train_view(api, model, systems, chips)),
        ("serve", f"Serve {model}: throughput against TPOT target", lambda: serve_view(api, model, systems)),
        ("scale", f"Scale {model}: effective compute with chips", lambda: scale_view(api, model, systems)),
        ("claims", "Claims: published figures recomputed", lambda: claims_view(api)),
        ("validation", "Validation: predicted against measured", lambda: validation_view(api, silicon)),
    ]
    parts = []
    for key, title, fn in views:
        try:
            body = fn()
        except SuperpodError as e:
            body = _err(str(e))
        parts.append(f'<section id="{key}"><h2>{html.escape(title)}</h2>{body}</section>')
    nav = "".join(f'<a href="#{k}">{k}</a>' for k, _, _ in views)
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sub = f"systems {', '.join(systems)}; model {model}" + (f"; {chips:,} chips" if chips else "")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>superpod report</title>'
            f"<style>{CSS}</style></head><body><h1>superpod report</h1>"
            f'<p class="note">{html.escape(sub)}; generated {when}</p><nav>{nav}</nav>{"".join(parts)}</body></html>')


def write(out: str | Path, systems: Sequence[str], model: str, chips: int | None = None, silicon: bool = True) -> Path:
    """Write the report to ``out``."""
    p = Path(out)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(build(systems, model, chips, silicon), encoding="utf-8")
    return p
