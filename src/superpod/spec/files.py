"""Reading catalog and user files: where the shipped catalog lives, TOML parsing with the
file and line in the message, and pydantic validation with the field path in the message."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from superpod.errors import SpecError

M = TypeVar("M", bound=BaseModel)


def catalog_root() -> Path:
    """The directory of the shipped catalog."""
    return Path(str(resources.files("superpod") / "catalog"))


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; a syntax error names the file, line and column."""
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path}: malformed TOML: {e}") from None
    except OSError as e:
        raise SpecError(f"{path}: cannot read: {e.strerror}") from None


def validation_message(where: str, err: ValidationError) -> str:
    """One line per pydantic error, joined: ``file: field.path: message``."""
    parts = []
    for e in err.errors(include_url=False):
        loc = ".".join(str(x) for x in e["loc"] if not str(x).startswith("function-after"))
        msg = e["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    more = f" (+{len(parts) - 3} more)" if len(parts) > 3 else ""
    return f"{where}: " + "; ".join(parts[:3]) + more


def build(model: type[M], data: dict[str, Any], where: str) -> M:
    """Validate ``data`` as ``model``; errors become one-line :class:`SpecError`."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise SpecError(validation_message(where, e)) from None
