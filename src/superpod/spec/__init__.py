"""Spec layer: what exists (chips, fabric tiers, systems, models), loaded and validated."""

from .catalog import all_models, load_chip, load_fabric, load_model, load_system, names
from .chip import PRECISIONS, Chip
from .fabric import FabricTier
from .model import MLA, Model, MoE
from .quantity import Quantity
from .system import SizedSystem, System

__all__ = [
    "PRECISIONS",
    "Chip",
    "FabricTier",
    "MLA",
    "MoE",
    "Model",
    "Quantity",
    "SizedSystem",
    "System",
    "all_models",
    "load_chip",
    "load_fabric",
    "load_model",
    "load_system",
    "names",
]
