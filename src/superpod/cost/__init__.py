"""Cost layer: the physics every estimator shares (compute, communication, memory).

Cost functions take struct-of-arrays plans and broadcast with numpy, so the same call
prices one plan or millions. Each returns its breakdown so ``--explain`` and plots need
no second model.
"""
