"""Typer commands built from the API's option classes (:mod:`superpod.api.options`).

:func:`options_command` turns each field of an options class into a ``typer.Argument``
or ``typer.Option`` (its flag, default and help from the field), so a command's flags are
declared once, in the API. The command body receives the validated options object
(values converted to API units, e.g. ``--tpot-slo-ms`` to seconds) and its own CLI-only
parameters (``--json``, ``--explain``).
"""

from __future__ import annotations

import inspect
import types
import typing
from typing import Any, Callable, Literal, Optional

import typer

from superpod.api.options import Options, flag_decl
from superpod.faces.cli.app import command


def _cli_type(annotation: Any) -> Any:
    """The type Typer parses: Literal choices as str (the options class checks them)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        return str
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            t = _cli_type(inner[0])
            return Optional[t] if type(None) in args else t
        return Optional[str] if type(None) in args else str  # e.g. str | float: parsed by the options class
    return annotation


def parameter(options: type[Options], name: str) -> inspect.Parameter:
    """The Typer parameter of one options field."""
    field = options.model_fields[name]
    extra = field.json_schema_extra or {}
    default = ... if field.is_required() else field.default
    kw = {"help": field.description or None}
    if extra.get("metavar"):
        kw["metavar"] = extra["metavar"]
    if extra.get("argument"):
        info = typer.Argument(default, **kw)
    else:
        info = typer.Option(default, flag_decl(options, name), **kw)
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=_cli_type(field.annotation))


def options_command(options: type[Options], *args, **kwargs) -> Callable:
    """``@command`` whose parameters are the fields of ``options`` plus the body's own after the first.

    The body is called as ``body(opts, **own)`` with ``opts = options.parse(cli=True, ...)``.
    """

    def deco(body: Callable) -> Callable:
        own = list(inspect.signature(body).parameters.values())[1:]
        hints = typing.get_type_hints(body)
        own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints.get(p.name, p.annotation)) for p in own]
        own_names = {p.name for p in own}
        fields = options.model_fields
        # arguments, then required options, then the rest, each in declaration order
        order = sorted(fields, key=lambda n: (not (fields[n].json_schema_extra or {}).get("argument"),
                                              not fields[n].is_required()))
        params = [parameter(options, n) for n in order] + own

        def run(**values: Any) -> Any:
            mine = {k: values.pop(k) for k in own_names}
            return body(options.parse(cli=True, **values), **mine)

        run.__name__, run.__doc__, run.__module__ = body.__name__, body.__doc__, body.__module__
        run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in params}
        return command(*args, **kwargs)(run)

    return deco

