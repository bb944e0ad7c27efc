"""Cross-field rules that need the model and the system: one layer for the CLI and the API.

:meth:`superpod.api.options.base.Options.parse` runs :func:`apply` after the per-field
checks, so ``superpod train ... --pp 64`` and ``superpod.train(..., pp=64)`` are refused
with the same message before any search runs. Each rule names the option, the limit and
by how much it is missed; an option that cannot apply to the model is refused, never
ignored (issue 15). The planners keep their own checks (a what-if sweep calls them
directly); these rules only refuse what the planners would refuse or silently drop.

Training (Megatron-LM's rules; Narayanan et al., SC'21): TP divides the attention heads
and, under GQA, divides the KV heads or is a multiple of them; PP <= layers (a stage holds
at least one layer) and VPP x PP <= layers; CP splits the sequence into 2 x CP chunks; EP
only on an MoE model and dividing its experts; TP x PP x CP (x DP) fits the ranks.
Serving: DP attention, EP, two-micro-batch overlap and EPLB are MoE layouts (SGLang,
TensorRT-LLM): refused on a dense model; ``moe_tp x moe_ep = tp x dp-attention``.
"""

from __future__ import annotations

from typing import Any, Callable

from superpod.errors import InvalidOptionError, NoFeasiblePlanError

Name = Callable[[str], str]


def apply(o: Any, name: Name) -> None:
    """Run the rules of ``o``'s command (train, serve, simulate); other commands have none here."""
    rule = {"TrainOptions": train_rules, "ServeOptions": serve_rules}.get(type(o).__name__)
    if rule is not None:
        rule(o, name)


def _model(ref: str):
    """The model, or None when it cannot be loaded (the planner then reports why, in its own words)."""
    from superpod.errors import SuperpodError
    from superpod.spec.catalog import load_model

    try:
        return load_model(ref)
    except SuperpodError:
        return None


def _ranks(ref: str, chips: int | None):
    """``(ranks per chip, ranks)`` of a system sized to ``chips``, or None when it cannot be loaded."""
    from superpod.errors import SuperpodError
    from superpod.planners.compare import parse_sized

    try:
        s = parse_sized(ref, chips)
    except SuperpodError:
        return None
    return s.ranks_per_chip, s.n_ranks


def _divisors(n: int, cap: int) -> list[int]:
    return [d for d in range(1, min(n, cap) + 1) if n % d == 0]


def _layout(msg: str) -> NoFeasiblePlanError:
    """A plan setting that breaks a layout rule: no plan can obey it, so no search is run."""
    return NoFeasiblePlanError("no valid plan: " + msg)


def train_rules(o: Any, name: Name) -> None:
    """TP / PP / VPP / CP / EP against the model, and the degree product against each system's ranks."""
    from superpod.cost.plan import cp_splits_sequence, tp_splits_heads

    pinned = [f for f in ("tp", "pp", "vpp", "cp", "dp", "ep") if getattr(o, f) is not None]
    m = _model(o.model) if pinned else None
    if m is None:
        return
    sized = [(s, _ranks(s, o.chips)) for s in o.systems]
    sized = [(s, rr) for s, rr in sized if rr is not None]
    for s, (r, _) in sized if o.tp is not None else ():
        # TP counts ranks; the search splits heads per package
        if o.tp % r == 0 and not bool(tp_splits_heads(m.heads, m.kv_heads, o.tp // r)):
            ok = [d * r for d in _divisors(m.heads, 1024) if bool(tp_splits_heads(m.heads, m.kv_heads, d))]
            raise _layout(
                f"{name('tp')} {o.tp} breaks the rule TP divides the attention heads (and KV heads): {m.name} has "
                f"{m.heads} heads and {m.kv_heads} KV heads (TP divides them or is a multiple of them); use one of "
                f"{', '.join(map(str, ok))}")
    if o.pp is not None and o.pp > m.layers:
        raise _layout(f"{name('pp')} {o.pp} exceeds the {m.layers} layers of {m.name} by {o.pp - m.layers} "
                      f"(a pipeline stage holds at least one layer); use {name('pp')} <= {m.layers}")
    if o.vpp is not None and o.vpp > 1:
        pp = o.pp or 1
        if o.vpp * pp > m.layers:
            raise _layout(f"{name('vpp')} {o.vpp} x PP {pp} = {o.vpp * pp} chunks exceeds the {m.layers} "
                          f"layers of {m.name} by {o.vpp * pp - m.layers}; use {name('vpp')} <= "
                          f"{max(m.layers // pp, 1)}")
        if o.schedule is not None and o.schedule != "interleaved":
            raise _layout(f"{name('vpp')} {o.vpp} needs the interleaved schedule, not {o.schedule!r}")
    if o.cp is not None and o.cp > 1 and not bool(cp_splits_sequence(o.seq_len, o.cp)):
        raise _layout(f"{name('cp')} {o.cp}: CP splits the sequence into 2 x CP = {2 * o.cp} chunks, which "
                      f"{o.seq_len:,} tokens are not a multiple of (remainder {o.seq_len % (2 * o.cp)})")
    if o.ep is not None and o.ep > 1:
        if m.moe is None:
            raise _layout(f"{name('ep')} {o.ep} needs an MoE model: {m.name} is dense (no experts to spread)")
        if m.moe.experts % o.ep:
            raise _layout(f"{name('ep')} {o.ep} does not divide the {m.moe.experts} experts of {m.name} "
                          f"(remainder {m.moe.experts % o.ep})")
    given = [(f, getattr(o, f)) for f in ("tp", "pp", "cp", "dp") if getattr(o, f) is not None]
    if not given:
        return
    product = 1
    for _, v in given:
        product *= v
    spelled = " x ".join(f"{name(f)} {v}" for f, v in given)
    for s, (r, ranks) in sized:
        if o.tp is not None and o.tp % r:
            continue  # a TP that is not whole packages: the planner says what to type (planners/ranks.py)
        if o.dp is not None and len(given) == 4 and product != ranks:
            raise _layout(f"{spelled} = {product:,} ranks, but {s} has {ranks:,} "
                          f"({abs(product - ranks):,} too {'many' if product > ranks else 'few'}): "
                          "needs chips = TP x PP x CP x DP (in ranks)")
        if product > ranks:
            raise _layout(f"{spelled} = {product:,} ranks exceeds the {ranks:,} ranks of {s} by "
                          f"{product - ranks:,} (needs chips = TP x PP x CP x DP, in ranks)")
        if ranks % product:
            raise _layout(f"{spelled} = {product:,} ranks does not divide the {ranks:,} ranks of {s} "
                          f"(remainder {ranks % product:,}): needs chips = TP x PP x CP x DP (in ranks)")
        if o.ep is not None and o.ep > 1 and o.dp is not None and o.cp is not None and (o.dp * o.cp) % o.ep:
            raise _layout(f"{name('ep')} {o.ep} must divide DP x CP = {o.dp * o.cp} (experts are "
                          "spread over the data-parallel ranks)")


def serve_rules(o: Any, name: Name) -> None:
    """Options that only one phase uses, options that only an MoE model can use, and the expert layout identity."""
    if o.phase == "prefill":
        for f in ("kv_len", "mtp"):
            if getattr(o, f):
                raise InvalidOptionError(f"{name(f)} does not apply to --phase prefill (it shapes decode steps): "
                                         "use --phase decode, both or pd")
    if o.phase == "decode" and o.cache_hit > 0:
        raise InvalidOptionError(f"{name('cache_hit')} serves prompt tokens from the prefix cache, which --phase decode "
                                 "does not compute: use --phase prefill, both or pd")
    moe_only = (o.dp, o.moe_ep, o.ep, o.moe_tp, o.overlap, None if o.eplb == "balanced" else o.eplb)
    m = _model(o.model) if any(v is not None for v in moe_only) else None
    if m is None:
        return
    if m.moe is None:
        ep = o.moe_ep if o.moe_ep is not None else o.ep
        for f, v, why in (("dp", o.dp, "DP attention pairs data-parallel attention with expert-parallel MoE layers; "
                                      "for replicas of a dense model give more --chips"),
                          ("moe_ep" if o.moe_ep is not None else "ep", ep, "no experts to spread"),
                          ("moe_tp", o.moe_tp, "no experts to split"),
                          ("overlap", o.overlap, "it overlaps MoE dispatch/combine"),
                          ("eplb", o.eplb if o.eplb != "balanced" else None, "it balances experts over EP ranks")):
            if v is True or (v is not None and not isinstance(v, bool) and v != 1):
                raise InvalidOptionError(f"{name(f)} {v!r} does not apply to {m.name}, a dense model ({why})")
        return
    ep = o.moe_ep if o.moe_ep is not None else o.ep
    if o.dp is not None and o.tp is not None and ep is not None:
        mts = [o.moe_tp] if o.moe_tp is not None else sorted({1, o.tp})
        if not any(ep * mt == o.tp * o.dp for mt in mts):
            raise InvalidOptionError(
                f"moe_tp x moe_ep must equal tp x dp-attention: {name('tp')} {o.tp} x {name('dp')} {o.dp} = "
                f"{o.tp * o.dp} ranks, but moe_ep {ep} x moe_tp {'/'.join(map(str, mts))} = "
                f"{'/'.join(str(ep * mt) for mt in mts)}")
