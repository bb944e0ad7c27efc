"""Prompts a scheduler holds back while generation runs: TensorRT-LLM's batch waiting and its
attention-DP balance, as :mod:`superpod.serving.closed_loop` and :mod:`superpod.serving.steady` price them.

TensorRT-LLM's ``PyExecutor._schedule`` (tensorrt_llm/_torch/pyexecutor/py_executor.py) can return
an iteration's context requests to the queue instead of running them:

* **batch waiting** (``batch_wait_timeout_iters`` W, ``batch_wait_max_tokens_ratio`` r; only without
  attention DP, and only in an iteration that has both context and generation requests,
  ``_waiting_requests``): the context requests wait while a counter of waited iterations is below W
  and the iteration's tokens (context tokens + one per generation request) are below
  ``r max_num_tokens``; when either ends the wait they all run and the counter restarts at 0. So the
  first prompt that arrives while others decode waits W iterations (unless enough prompts come to fill
  the tokens), and the prompts that arrive meanwhile run with it. With W or r at 0 nothing waits
  (the counter is at once >= 0, the tokens >= 0).
* **attention-DP balance** (``attention_dp_config.enable_balance``, ``timeout_iters`` T,
  ``batching_wait_iters`` B; ``_balance_adp_requests``): each iteration the DP ranks exchange their
  counts; while some rank has no context request (and every rank has generation requests) the
  context requests wait, and a counter of such iterations runs, releasing everything when it reaches T
  (then it restarts); once every rank has a context request they wait B more iterations (while every
  rank has generation requests) and run. A rank with no generation request releases at once.

:class:`Hold` carries the settings; :meth:`Hold.steady` prices them for the steady state of randomly
spread arrivals (Poisson per rank at ``a`` prompts per iteration), :meth:`Hold.waves` for the fixed-length
waves of :func:`~superpod.serving.closed_loop.run` (all ranks' requests come back together there, so the
attention-DP balance reduces to its batching wait B).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Hold:
    """One scheduler's hold settings (all 0: prompts run as soon as they fit)."""

    batch_iters: int = 0  # W of batch waiting (no attention DP)
    batch_tokens: float = 0.0  # r x max_num_tokens: the tokens that end the wait at once
    adp_iters: int = 0  # T of the attention-DP balance (0: off)
    adp_wait_iters: int = 0  # B of the attention-DP balance
    dp: int = 1  # attention-DP ranks the balance waits for

    def __bool__(self) -> bool:
        return (self.batch_iters > 0 and self.batch_tokens > 0) or self.adp_iters > 0

    def waves(self) -> tuple[int, float]:
        """(iterations a prompt waits at most, tokens that end the wait) in the fixed-length waves."""
        if self.adp_iters > 0:
            return self.adp_wait_iters, math.inf
        if self.batch_iters <= 0 or self.batch_tokens <= 0:
            return 0, math.inf
        return self.batch_iters, self.batch_tokens

    def steady(self, a: float, n: int, isl: float) -> tuple[float, float]:
        """``(wait, together)`` for arrivals at ``a`` prompts per iteration per rank beside ``n``
        decoding sequences of a rank: a prompt's mean wait in iterations (0: no hold) and the prompts of
        a rank that run together when the hold ends (releases come ``a / together`` per iteration).

        Batch waiting: the first prompt after a release waits ``L = min(W, (k - 1) / a)`` iterations,
        ``k`` the prompts that fill ``r max_num_tokens`` beside the ``n`` generation tokens (``k <= 1``:
        no wait); the ``a L`` that come meanwhile wait the rest (mean ``L / 2``). Attention-DP balance:
        from a release the wait ends when each of the ``dp`` ranks has had an arrival (the slowest
        of ``dp`` exponential clocks) or at ``T``, then ``B`` more iterations if every rank had one;
        arrivals fall uniformly in the cycle ``R``, so they wait ``E[R^2] / (2 E[R])`` (the
        length-biased residual) plus ``B``, and a rank releases the ``a E[R]`` it got (at least one). A
        rank with one sequence has none decoding while its prompt waits: no hold."""
        a, isl = max(float(a), 1e-12), max(float(isl), 1.0)
        if self.adp_iters > 0:
            if n <= 1:
                return 0.0, 1.0
            t = np.linspace(0.0, float(self.adp_iters), 257)
            surv = 1.0 - (1.0 - np.exp(-a * t)) ** max(self.dp, 1)
            dt = t[1] - t[0]
            e1 = float(np.sum(surv[1:] + surv[:-1]) * dt / 2.0)  # trapezoid rule
            f2 = 2.0 * t * surv
            e2 = float(np.sum(f2[1:] + f2[:-1]) * dt / 2.0)
            p_all = 1.0 - float(surv[-1])
            cycle = e1 + self.adp_wait_iters * p_all
            wait = (e2 / (2.0 * e1) if e1 > 0 else 0.0) + self.adp_wait_iters * p_all
            return wait, max(a * cycle, 1.0)
        if self.batch_iters <= 0 or self.batch_tokens <= 0:  # either at 0 ends every wait at once
            return 0.0, 1.0
        k = math.ceil(max(self.batch_tokens - n, 0.0) / isl)
        if k <= 1:
            return 0.0, 1.0
        L = min(float(self.batch_iters), (k - 1) / a)
        return (L + a * L * L / 2.0) / (1.0 + a * L), 1.0 + a * L
