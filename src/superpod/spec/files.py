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


MAX_FILE_BYTES = 8 << 20  # a catalog TOML or a config.json is kilobytes: 8 MiB is surely not one


def read_text(path: Path) -> str:
    """A file's text: at most :data:`MAX_FILE_BYTES`, UTF-8; every failure is one line naming the file."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SpecError(f"{path}: {size:,} bytes is over the {MAX_FILE_BYTES >> 20} MiB limit for a spec file")
        data = path.read_bytes()
    except OSError as e:
        raise SpecError(f"{path}: cannot read: {e.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SpecError(f"{path}: not UTF-8 text (byte {e.start}: {data[e.start:e.start + 1]!r})") from None


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; a syntax error names the file, line and column."""
    text = read_text(path)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path}: malformed TOML: {' '.join(str(e).split())}") from None
    except RecursionError:
        raise SpecError(f"{path}: malformed TOML: nested too deeply") from None


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
