"""Planners: comparisons, published-claim checks, searches and validation over the lower layers."""
