"""Spec layer: what exists (chips, fabric tiers, systems, models), loaded and validated."""

from superpod.spec.catalog import all_models, load_chip, load_fabric, load_model, load_system, names
from superpod.spec.chip import PRECISIONS, Chip
from superpod.spec.fabric import FabricTier
from superpod.spec.model import MLA, Model, MoE
from superpod.spec.quantity import Quantity
from superpod.spec.system import SizedSystem, System

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
