"""The options of every command, declared once.

Each command has one pydantic class here: a field's ``description`` is the ``--help`` text,
its default is the flag's default, and :func:`opt` adds the flag's spelling and the unit.
The Python API validates its keyword arguments with the same class
(:meth:`Options.parse`), and :mod:`superpod.faces.cli.options` builds the Typer command
from it, so a flag, its default and its help are written in one place.

API keywords are SI (``tpot_slo_s``); where the CLI takes another unit the field says
so (``--tpot-slo-ms``, ``cli_scale=1e-3``: the CLI value times the scale is the API value).
An unknown keyword, a value of the wrong type or one outside its range raises a one-line
:class:`~superpod.errors.SuperpodError` naming the keyword (or the flag, from the CLI).

>>> TrainOptions.parse(model="llama3-8b", systems="gb200-nvl72", tp=2).systems
['gb200-nvl72']
"""

from superpod.api.options.base import (Eplb, Mode, Options, Phase, Recompute, Schedule, TrainPrecision, flag_decl,
                                       flag_of, opt)
from superpod.api.options.catalog import CalibrationOptions, CompareOptions, ReportOptions, UiOptions, ValidateOptions
from superpod.api.options.estimates import PlotParetoOptions, ServeOptions, SimulateOptions, TrainOptions
from superpod.api.options.scaling import PlotScalingOptions, ScaleOptions, ScalingOptions, ScenarioOptions

__all__ = ["Options", "opt", "flag_decl", "flag_of", "Schedule", "Recompute", "TrainPrecision", "Phase", "Eplb", "Mode",
           "TrainOptions", "ServeOptions", "SimulateOptions", "ScaleOptions", "ScenarioOptions", "ScalingOptions",
           "PlotScalingOptions", "PlotParetoOptions", "CompareOptions", "ValidateOptions", "CalibrationOptions", "ReportOptions", "UiOptions"]
