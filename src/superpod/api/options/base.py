"""The machinery of the options classes: :func:`opt` (a field with its flag, unit and CLI scale),
:class:`Options` (strict parsing for the CLI and the API alike: types, finiteness, bounds by unit
and by name, one-line errors naming the keyword or flag), and the shared value types."""

from __future__ import annotations

import difflib
import math
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticUndefined

from superpod.errors import InvalidOptionError, SuperpodError

Schedule = Literal["gpipe", "1f1b", "interleaved", "zero-bubble", "dualpipe"]
Recompute = Literal["none", "selective", "full", "ops"]
TrainPrecision = Literal["bf16", "fp8", "mxfp8", "fp4"]
Phase = Literal["prefill", "decode", "both", "pd"]
Eplb = Literal["perfect", "balanced", "none"]
Mode = Literal["pd", "colocated"]


def opt(default: Any = PydanticUndefined, help: str = "", *, flag: str | None = None, unit: str | None = None,
        cli_scale: float | None = None, argument: bool = False, metavar: str | None = None, **constraints) -> Any:
    """A field: ``default``, ``help`` (meaning + unit; the ``--help`` text), the CLI ``flag``
    (default ``--field-name``), the API ``unit`` and the CLI-to-API ``cli_scale``;
    ``argument`` makes it a positional CLI argument. ``constraints`` go to pydantic (``gt=0``)."""
    extra = {"flag": flag, "unit": unit, "cli_scale": cli_scale, "argument": argument, "metavar": metavar}
    return Field(default, description=help, json_schema_extra={k: v for k, v in extra.items() if v is not None},
                 **constraints)


def flag_decl(cls: type[BaseModel], name: str) -> str:
    """The CLI flag declaration of field ``name`` (``--seq-len``, ``--sp/--no-sp``)."""
    extra = cls.model_fields[name].json_schema_extra or {}
    return str(extra.get("flag") or "--" + name.replace("_", "-"))


def flag_of(cls: type[BaseModel], name: str) -> str:
    """How the CLI spells field ``name`` in a message: its flag (the first of a pair) or ARGUMENT."""
    if (cls.model_fields[name].json_schema_extra or {}).get("argument"):
        return name.upper()
    return flag_decl(cls, name).split("/")[0]


class Options(BaseModel):
    """Base of the per-command options: frozen, unknown keywords rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    #: fields that describe what is run on, not how (given positionally to the API function)
    positional: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def parse(cls, *, cli: bool = False, **values: Any) -> Self:
        """Validate ``values`` (API keywords, or with ``cli`` the CLI's values in CLI units)."""
        if cli:
            for name, v in list(values.items()):
                field = cls.model_fields.get(name)
                scale = (field.json_schema_extra or {}).get("cli_scale") if field is not None else None
                if scale is not None and v is not None:
                    values[name] = v * scale
        unknown = [k for k in values if k not in cls.model_fields]
        if unknown:
            known = [k for k in cls.model_fields if k not in cls.positional]
            raise SuperpodError(f"unknown option {', '.join(_hint(k, known) for k in unknown)}; options: {', '.join(known)}")
        try:
            out = cls(**values)
        except ValidationError as e:
            raise SuperpodError(_one_line(cls, e, cli)) from None
        spell = (lambda f: flag_of(cls, f)) if cli else (lambda f: f)
        out.bounds(spell)
        out.check(spell)
        from superpod.api.options.rules import apply  # the rules that need the model and the system

        apply(out, spell)
        return out

    def bounds(self, name) -> None:
        """Rules every numeric field obeys: finite, and within the range its unit allows
        (:data:`UNIT_RANGE`; a field's own ``ge``/``gt`` constraints come first)."""
        for f, field in type(self).model_fields.items():
            v = getattr(self, f)
            if isinstance(v, str) and not v.strip():
                raise InvalidOptionError(f"{name(f)} must not be empty (leave it out for the default)")
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                continue
            if isinstance(v, float) and not math.isfinite(v):
                raise InvalidOptionError(f"{name(f)} must be a finite number, got {v}")
            lo, hi = UNIT_RANGE.get((field.json_schema_extra or {}).get("unit"), (None, 1e15))
            lo = RANGE.get(f, (lo, hi))[0]
            hi = RANGE.get(f, (lo, hi))[1]
            if lo is not None and (v < lo or (lo == _TINY and not v > 0)):
                raise InvalidOptionError(f"{name(f)} must be {'> 0' if lo == _TINY else f'>= {lo:g}'}, got {v:g}")
            if v > hi:
                raise InvalidOptionError(f"{name(f)} must be <= {hi:g}, got {v:g}")

    def check(self, name) -> None:
        """Rules across fields; ``name(field)`` spells a field as the caller knows it."""

    def kwargs(self, *exclude: str) -> dict[str, Any]:
        """The fields as keyword arguments (minus ``exclude`` and the positional ones)."""
        drop = set(exclude) | set(self.positional)
        return {k: getattr(self, k) for k in type(self).model_fields if k not in drop}


_TINY = 1e-12  # "strictly positive" (and not denormal: 1e-320 is refused)

#: (lowest, highest) by a field's unit; a float field at 0 that means "none" is listed in RANGE. The highs are
#: far past any real system (a chip's capex <= $1e9, decode <= 1e8 tokens/s per chip, 1e8 chips) yet keep every
#: product finite; lengths stop at 2^24 tokens and the simulator at 1e6 requests so no command can hang.
UNIT_RANGE: dict[str | None, tuple[float | None, float]] = {
    "chips": (1, 1e8), "ranks": (1, 1 << 20), "sequences": (1, 1 << 30), "tokens": (_TINY, 1e16),
    "requests": (1, 1e7), "requests/s": (_TINY, 1e9), "s": (_TINY, 1e9), "fraction": (0, 1), "USD": (0, 1e9),
    "USD/kWh": (0, 1e3), "years": (_TINY, 100), "days": (_TINY, 1e5), "tokens/s": (_TINY, 1e8),
    None: (None, 1e15),
}
#: per field name, overriding its unit's range
RANGE: dict[str, tuple[float | None, float]] = {
    "zero": (0, 3), "top": (1, 1000), "vpp": (1, 1024), "mtp": (0, 16), "seed": (0, 2 ** 32 - 1),
    "pue": (1, 10), "failure_scale": (1e-6, 1e6), "points": (2, 10_000), "workers": (1, 1024),
    "min_chips": (1, 1e8), "max_chips": (1, 1e8), "seq_len": (1, 1 << 24), "global_batch_tokens": (1, 1e13),
    "global_batch": (1, 1 << 30), "batch_per_chip": (_TINY, 1e9), "concurrency": (_TINY, 1e12),
    "input_len": (1, 1 << 24), "output_len": (1, 1 << 24), "kv_len": (1, 1 << 24), "requests": (1, 1e6),
    "tokens": (1, 1e18),
}


def _hint(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    return f"{name!r}" + (f" (did you mean {', '.join(close)}?)" if close else "")


def _one_line(cls: type[BaseModel], e: ValidationError, cli: bool) -> str:
    err = e.errors()[0]
    field = str(err["loc"][0]) if err["loc"] else "?"
    name = flag_of(cls, field) if cli and field in cls.model_fields else field
    got = err.get("input")
    ctx = err.get("ctx") or {}
    kind = err["type"]
    if kind == "literal_error":
        choices = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"{name} must be one of {choices}, got {got!r}"
    if kind == "missing":
        return f"{name} is required"
    if isinstance(got, float) and not math.isfinite(got):  # NaN fails every bound: say what is wrong with it
        return f"{name} must be a finite number, got {got}"
    for k, sign in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
        if k in ctx:
            return f"{name} must be {sign} {ctx[k]}, got {got!r}"
    if kind == "value_error":  # our own validator's message, which names the value already
        return f"{name}: {ctx.get('error', err['msg'].removeprefix('Value error, '))}"
    return f"{name}: {err['msg'].lower()}, got {got!r}"


def _as_list(v: Any) -> Any:
    return [v] if isinstance(v, str) else v
