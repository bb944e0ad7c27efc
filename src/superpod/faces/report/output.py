"""Emit results: JSON for scripts (SI units, NaN as null), Rich tables for people."""

from __future__ import annotations

import json
import sys
from typing import Any

from superpod.api.base import clean


def emit_json(obj: Any) -> None:
    """Print ``obj`` (a record, or an API result: its ``to_dict()``) as indented JSON on stdout."""
    sys.stdout.write(json.dumps(clean(obj), indent=2) + "\n")


def console():
    """A Rich console on stdout (imported lazily)."""
    import shutil

    from rich.console import Console

    # not a terminal (pipes, CI, tests): use $COLUMNS or a width wide enough for our tables
    return Console(soft_wrap=False, width=shutil.get_terminal_size(fallback=(160, 40)).columns)


def table(title: str | None, columns: list[str], rows: list[list], caption: str | None = None):
    """A Rich table; the first column is left-aligned, the rest right-aligned.

    Plain strings are shown literally (catalog text may hold brackets); pass a
    ``rich.text.Text`` for a styled cell.
    """
    from rich.table import Table
    from rich.text import Text

    t = Table(title=title, caption=caption, caption_justify="left", show_lines=False)
    for i, c in enumerate(columns):
        t.add_column(c, justify="left" if i == 0 else "right", overflow="fold")
    for r in rows:
        t.add_row(*(c if isinstance(c, Text) else Text(str(c)) for c in r))
    return t
