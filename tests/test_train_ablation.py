"""The DeepSeek-V3-on-GB200 case against its own source's ablation (training.md 7.2; Megatron-LM
docs/discussions/deepseek-v3-gb200-optimization, sec. 2.1.4 and the table of sec. 3).

The baseline (494.46 TFLOPS/GPU) is host-bound; superpod prices that as the GPU waiting for eager
launches (superpod.training.host) at a per-launch host cost read from a kernel table (U). The same
article measures what fusing the router's kernels (72 -> 31 per layer) bought on that run: 494.46 ->
529.55 -> 540.00 TFLOPS, +10.45 (+2.0%). A host model whose per-launch cost is right must give a gain
of that order for the same change; today it gives several times more, so the baseline's match rests on
a host cost the ablation does not support (and on GPU-side time that is under-priced: without the host
wait the same plan prices far above the article's optimised 970). Strict xfail: it passes, and must be
un-marked, when the host and GPU sides are priced so that the ablation holds within a factor 2.
"""

import pytest

from superpod.planners import validate as V
from superpod.training import framework as F

CASE = "MC-DSV3-GB200"
ARTICLE_GAIN = 540.00 / 529.55  # router fusion, the article's table (sec. 3)


def _predict(monkeypatch, router: tuple[float, float]) -> float:
    """The case's predicted TFLOPS/GPU with the router's launch counts replaced."""
    case = next(c for c in V.cases("training") if c["id"] == CASE)
    fws = dict(F.frameworks())
    mega = fws["megatron"]
    fws["megatron"] = mega.model_copy(update={"host_ops": mega.host_ops.model_copy(update={"router": router})})
    with monkeypatch.context() as m:
        m.setattr(F, "frameworks", lambda: fws)
        return V.predictor("training")(case)[0]


def test_fewer_router_launches_never_slower(monkeypatch):
    base = _predict(monkeypatch, tuple(F.framework("megatron").host_ops.router))
    fused = _predict(monkeypatch, (31.0, 31.0))
    assert fused >= base * (1 - 1e-9)


@pytest.mark.xfail(strict=True, reason="the router-fusion gain superpod prices is several times the article's +2.0%: "
                   "the per-launch host cost (U) and the GPU-side time of this case are not yet right")
def test_router_fusion_gain_as_the_article_measured(monkeypatch):
    base = _predict(monkeypatch, tuple(F.framework("megatron").host_ops.router))
    fused = _predict(monkeypatch, (31.0, 31.0))
    gain = fused / base
    assert 1 + (ARTICLE_GAIN - 1) / 2 <= gain <= 1 + (ARTICLE_GAIN - 1) * 2, gain
