"""Design-space sweeps: a SPEC.toml's grid of points, each priced by the planner the CLI uses,
run locally or on Ray, written to DuckDB or Parquet, resumable and queryable.

>>> from superpod.planners.sweep import parse
>>> parse('question = "serve"\\n[fixed]\\nmodel = "deepseek-r1"\\n[axes]\\nsystem = ["cloudmatrix384", "gb200-nvl72"]').size
2
"""

from superpod.planners.sweep.engine import ENGINES, Summary, run
from superpod.planners.sweep.spec import Spec, load, parse
from superpod.planners.sweep.store import query

__all__ = ["ENGINES", "Spec", "Summary", "load", "parse", "query", "run"]
