"""The Streamlit page of ``superpod ui`` (run by ``streamlit run``; first increment of issue 14).

Sidebar: systems (catalog names, or an uploaded system TOML) and a model (catalog name, or an
uploaded TOML / config.json). Tabs: Compare, Train, Serve, Scale, Claims, Validation, each drawn
from the Python API by the same views as the static report (:mod:`superpod.faces.report.html`),
with the headline numbers as metrics and tables as CSV downloads. Input the API refuses shows
its one-line message in an error box, never a traceback.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import streamlit as st

from superpod import api
from superpod.errors import SuperpodError
from superpod.faces.report import html as views

st.set_page_config(page_title="superpod", layout="wide")
st.title("superpod")


def _upload(label: str, types: list[str], key: str) -> str | None:
    """Path of an uploaded file kept in a temporary directory (its name kept: the loader reads the suffix)."""
    f = st.sidebar.file_uploader(label, type=types, key=key)
    if f is None:
        return None
    d = Path(tempfile.mkdtemp(prefix="superpod-ui-"))
    p = d / Path(f.name).name
    p.write_bytes(f.getvalue())
    return str(p)


names = st.sidebar.text_input("Systems (comma separated)", "cloudmatrix384, gb200-nvl72", key="systems")
systems = [s.strip() for s in names.split(",") if s.strip()]
model = st.sidebar.text_input("Model", "deepseek-v3", key="model")
chips = int(st.sidebar.number_input("Chips for compare and train (0: each system's size)", 0, 10_000_000, 384, key="chips"))
up_system = _upload("Or add a system TOML", ["toml"], "system_file")
up_model = _upload("Or use a model TOML / config.json", ["toml", "json"], "model_file")

try:
    if up_system:
        api.system(up_system)  # load it now: a malformed file is an error box, not a traceback
        systems.append(up_system)
    if up_model:
        api.model(up_model)
        model = up_model
    if not systems:
        raise SuperpodError("give at least one system")
    for s in systems:
        api.system(s.split("@")[0])
    api.model(model)
except SuperpodError as e:
    st.error(str(e))
    st.stop()


@st.cache_data(show_spinner=False)
def _view(name: str, systems: tuple[str, ...], model: str, chips: int) -> str:
    if name == "compare":
        return views.compare_view(api, systems, chips or None)
    if name == "train":
        return views.train_view(api, model, systems, chips or None)
    if name == "serve":
        return views.serve_view(api, model, systems)
    if name == "scale":
        return views.scale_view(api, model, systems)
    if name == "claims":
        return views.claims_view(api)
    return views.validation_view(api, silicon=False)


def _show(name: str) -> None:
    """A view's HTML: its SVG charts as images (st.html's sanitiser drops <svg>), the rest as HTML."""
    try:
        for piece in re.split(r"(<svg.*?</svg>)", _view(name, tuple(systems), model, chips), flags=re.S):
            if piece.startswith("<svg"):
                st.image(piece)
            elif piece.strip():
                st.html(piece)
    except SuperpodError as e:
        st.error(str(e))


tabs = st.tabs(["Compare", "Train", "Serve", "Scale", "Claims", "Validation"])
with tabs[0]:
    try:
        rows = list(api.compare(systems, chips=chips or None))
        cols = st.columns(len(rows))
        for c, r in zip(cols, rows):
            c.metric(f"{r['name']} BF16 dense", views._g(r["bf16_flops"], "FLOP/s"))
        st.download_button("totals as CSV", "name,chips,bf16_flops,hbm_bytes,hbm_Bps,power_w\n" + "".join(
            f"{r['name']},{r['chips']},{r['bf16_flops']},{r['hbm_bytes']},{r['hbm_Bps']},{r['power_w']}\n" for r in rows),
            "compare.csv", "text/csv")
    except SuperpodError as e:
        st.error(str(e))
    _show("compare")
with tabs[1]:
    for s in systems:
        try:
            r = api.train(model, f"{s}@{chips}" if chips else s)
            st.metric(f"{r['system']}: tokens/s per chip ({r.plan.text()})", f"{r['tokens_per_s_per_chip']:,.0f}",
                      help=f"MFU {r['mfu'] * 100:.1f}%, step {r['step_s']:.3g} s")
        except SuperpodError as e:
            st.error(f"{s}: {e}")
    _show("train")
with tabs[2]:
    _show("serve")
with tabs[3]:
    _show("scale")
with tabs[4]:
    _show("claims")
with tabs[5]:
    _show("validation")
