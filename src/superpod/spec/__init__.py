"""Spec layer: what exists (chips, fabric tiers, systems, models), loaded and validated."""

from .catalog import load_chip, load_fabric, load_system, names
from .chip import PRECISIONS, Chip
from .fabric import FabricTier
from .quantity import Quantity
from .system import SizedSystem, System

__all__ = [
    "PRECISIONS",
    "Chip",
    "FabricTier",
    "Quantity",
    "SizedSystem",
    "System",
    "load_chip",
    "load_fabric",
    "load_system",
    "names",
]
