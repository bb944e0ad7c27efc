"""The Typer application every command registers on, and the one-line error form.

Every command has ``--json`` (SI units, unit-suffixed keys) and turns a user error
(:class:`~superpod.errors.SuperpodError`) into one line on stderr and exit code 2.
"""

from __future__ import annotations

import functools
import sys
from typing import Callable

import typer

from superpod.errors import SuperpodError

app = typer.Typer(
    name="superpod",
    help=(
        "How much useful work does a whole AI compute system deliver?\n\n"
        "A sourced catalog of chips, fabrics, systems and models; system totals, published "
        "claims recomputed, training and serving estimates validated against published and "
        "measured runs. Every number carries its source and a confidence mark "
        "(A vendor/paper, B two sources or analyst, C one source or derived, U unverified).\n\n"
        "Parallel degrees count ranks (a 910C package or a TPU7x chip holds two); power keys say "
        "IT or facility (x PUE); MFU is against the dense BF16 peak: see docs/conventions.md."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

JSON = typer.Option(False, "--json", help="Machine-readable JSON on stdout (SI units; keys carry the unit).")


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def command(*args, on: typer.Typer | None = None, **kwargs) -> Callable:
    """``app.command`` (or ``on.command`` for a sub-app) that turns a
    :class:`SuperpodError` into one line and exit 2."""

    def deco(f: Callable) -> Callable:
        @functools.wraps(f)
        def wrapped(*a, **k):
            try:
                return f(*a, **k)
            except SuperpodError as e:
                fail(str(e))

        return (on or app).command(*args, **kwargs)(wrapped)

    return deco



def main() -> None:
    """Console entry point."""
    try:
        app()
    except SuperpodError as e:  # errors raised outside a command body (e.g. in callbacks)
        typer.echo(f"error: {e}", err=True)
        sys.exit(2)
