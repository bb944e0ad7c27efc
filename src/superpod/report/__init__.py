"""Faces' helpers: JSON and Rich tables. Nothing here computes a model quantity."""
