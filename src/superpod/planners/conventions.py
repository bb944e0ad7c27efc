"""The conventions every planner record shares (docs/conventions.md): the default training
batch, IT vs facility power and energy, and the precision basis of peak figures.

**Default global batch** (``train``, ``scale``, ``scenario``): ``clamp(chips / 4, 1,024,
15,360)`` 4K sequences, rounded down to a multiple of 256, kept in tokens when another
sequence length is asked for (catalog/scale/training.toml: Llama 2's 4M-token floor,
Llama 3 405B's 4 chips per sequence, DeepSeek-V3's 15,360-sequence cap).

>>> [default_global_batch(n)[0] for n in (384, 16_384, 524_288)]
[1024, 4096, 15360]

**Power**: the catalog's power parts are IT power (chips, hosts, network, optics, fans);
facility power is ``IT x PUE``. Every key that carries power or energy says which:
``power_it_w``, ``power_facility_w``, ``energy_it_j_per_token``,
``energy_facility_j_per_token``, ``tokens_per_s_per_kw_it``, ``tokens_per_s_per_kw_facility``
(per kW = 1,000 / J per token). ``power_draw`` says whether the parts are at nameplate
(``train``, ``serve``) or at the job's utilisation (``scale``, ``scenario``).
"""

from __future__ import annotations

from math import floor
from typing import Any

from superpod.errors import InvalidOptionError
from superpod.scaling import params

#: the basis of every MFU / HFU / effective-FLOP/s figure: the dense BF16 peak (FP8 runs too, as papers do)
MFU_BASIS = "bf16 dense"

NAMEPLATE = "nameplate"  # every catalog power part at its rated draw
AT_UTILISATION = "at utilisation"  # accelerators at the job's busy fraction, the rest at nameplate


def peak_basis(fmt: str) -> str:
    """How a peak figure is quoted: ``"<format> dense"`` (no 2:4 sparsity)."""
    return f"{fmt} dense"


def default_global_batch(chips: float | None, seq_len: int | None = None) -> tuple[int, dict[str, Any]]:
    """``(sequences of seq_len tokens, policy record)``: the shared default batch on ``chips`` chips.

    ``chips=None`` gives the cap (the largest batch the policy gives).
    """
    t = params.training()
    ref = int(t.seq_len.si)
    seq = ref if seq_len is None else int(seq_len)
    if seq < 1:
        raise InvalidOptionError(f"--seq-len must be >= 1, got {seq_len}")
    lo, hi, step = int(t.global_batch_min.si), int(t.global_batch.si), int(t.global_batch_step.si)
    per = t.chips_per_sequence.si
    at_ref = hi if chips is None else min(max(floor(chips / per / step) * step, lo), hi)
    sequences = max(1, at_ref * ref // seq)
    rule = (f"clamp(chips / {per:g}, {lo:,}, {hi:,}) {ref:,}-token sequences, rounded down to a multiple of {step:,}, "
            f"kept in tokens for other sequence lengths (catalog/scale/training.toml)")
    return sequences, {"source": "default", "rule": rule, "chips": chips, "sequences_at_reference": at_ref,
                       "reference_seq_len": ref}


def user_batch_policy(option: str) -> dict[str, Any]:
    """The policy record of a batch the user gave (``--global-batch`` or ``--global-batch-tokens``)."""
    return {"source": "user", "rule": f"given by {option}"}


def default_pue() -> float:
    """The catalog's power usage effectiveness (catalog/scale/energy.toml)."""
    return params.energy().pue.si


def power_record(it_w: float, pue: float, tokens_per_s: float, draw: str) -> dict[str, Any]:
    """IT and facility power, energy per token and tokens/s per kW, each named by its basis."""
    fac = it_w * pue

    def per(x: float, rate: float) -> float:
        return x / rate if rate > 0 else float("inf")

    return {
        "power_it_w": it_w, "power_facility_w": fac, "pue": pue, "power_draw": draw,
        "energy_it_j_per_token": per(it_w, tokens_per_s),
        "energy_facility_j_per_token": per(fac, tokens_per_s),
        "tokens_per_s_per_kw_it": tokens_per_s / (it_w / 1e3),
        "tokens_per_s_per_kw_facility": tokens_per_s / (fac / 1e3),
    }
