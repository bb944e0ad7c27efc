"""Scaling: SuperPoDs to million-chip SuperClusters: job layout on tiers, failures and
goodput (:mod:`.reliability`, :mod:`.recovery`), power and energy (:mod:`.energy`), money
(:mod:`.economics`). The ``superpod scale`` estimate that combines them with the best training
plan is :func:`superpod.planners.scale_estimate.scale`; defaults (failure rates, checkpoint and
restart costs, PUE, prices, capex) live in ``catalog/scale/*.toml``.
"""
