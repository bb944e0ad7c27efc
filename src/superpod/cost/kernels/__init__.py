"""Kernel cost models fitted to measured kernel tables (AIConfigurator's perf database).

``gemm`` (dense and batched GEMM, MLA's absorbed BMMs), ``attention`` (prefill / decode attention and
MLA), ``moe`` (one MoE layer's expert compute), ``collectives`` (NCCL, custom all-reduce, DeepEP).
Pure numpy; parameters live in ``catalog/calibration/silicon/*.toml`` (loaded by
:func:`superpod.spec.calibration.silicon_params`), fits in ``benchmarks/silicon/fit_*.py``.
"""
