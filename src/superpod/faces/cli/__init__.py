"""The ``superpod`` command line: Typer commands over the Python API (:mod:`superpod.api`).

Each module registers its commands on :data:`app`; importing this package registers them all.
"""

from superpod.faces.cli.app import app, main
from superpod.faces.cli import catalog, scale, serve, train  # noqa: E402,F401  (register commands)
from superpod.faces.cli import sweep  # noqa: E402,F401  (sweep, query, plot sweep)
from superpod.faces.cli import report  # noqa: E402,F401  (report --html, ui)

__all__ = ["app", "main"]
