"""The Typer application every command registers on, and the one-line error form.

Every command has ``--json`` (SI units, unit-suffixed keys) and turns a user error
(:class:`~superpod.errors.SuperpodError`) into one line on stderr and exit code 2.
"""

from __future__ import annotations

import functools
import sys
import warnings
from typing import Callable

import typer
from pydantic import ValidationError
from typer._click import exceptions as click  # typer vendors click: its parse errors are these classes

from typer.core import TyperGroup

from superpod.errors import SuperpodError

def parse_error(e: click.ClickException) -> str:
    """A click parse error in superpod's one-line form (``--chips: 'abc' is not an integer``)."""
    msg = " ".join(e.format_message().split()).rstrip(".")
    cause = e.__cause__
    if isinstance(cause, ValidationError) and cause.errors():
        err = cause.errors()[0]
        what = {"int_parsing": "an integer", "int_from_float": "an integer", "float_parsing": "a number",
                "bool_parsing": "a boolean"}.get(err["type"])
        if what:
            msg = f"{err.get('input')!r} is not {what}"
    param = getattr(e, "param", None)
    if isinstance(e, click.BadParameter) and not isinstance(e, click.MissingParameter) and param is not None:
        name = param.opts[0] if getattr(param, "param_type_name", "") == "option" and param.opts else (param.name or "").upper()
        msg = f"{name}: {msg}"
    return msg[:1].lower() + msg[1:]


class Group(TyperGroup):
    """The top-level group: click's parse errors become one line ``error: ...`` (exit 2) and
    numpy's RuntimeWarnings never reach the terminal (the result checks name a bad input)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            if not standalone_mode:
                return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            try:
                rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            except click.NoArgsIsHelpError as e:
                typer.echo(e.ctx.get_help() if e.ctx else str(e))
                sys.exit(2)
            except click.ClickException as e:
                typer.echo(f"error: {parse_error(e)}", err=True)
                sys.exit(2)
            except typer.Abort:
                typer.echo("error: aborted", err=True)
                sys.exit(1)
            except RecursionError:
                typer.echo("error: input nested too deeply", err=True)
                sys.exit(2)
            sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    cls=Group,
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
