"""Loading specs from the TOML catalog or from a user's file.

Wherever a name is accepted, a path works too: ``load_chip("ascend-910c")`` reads the
shipped ``catalog/chips/ascend-910c.toml``; ``load_chip("./my-chip.toml")`` reads the
user's file. Malformed TOML and invalid values become one-line :class:`SpecError`
messages naming the file, the line or the field path; unknown names suggest the
closest catalog names.
"""

from __future__ import annotations

import difflib
from functools import lru_cache
from pathlib import Path
from typing import Callable, TypeVar

from pydantic import BaseModel

from superpod.errors import SpecError, UnknownNameError
from superpod.spec.files import build, catalog_root, read_toml, validation_message  # noqa: F401 (re-exported)
from superpod.spec.chip import Chip
from superpod.spec.fabric import FabricTier
from superpod.spec.hf import model_from_hf
from superpod.spec.model import Model
from superpod.spec.system import System

KINDS = ("chips", "fabrics", "systems", "models", "calibration")
M = TypeVar("M", bound=BaseModel)


@lru_cache(maxsize=None)
def names(kind: str) -> tuple[str, ...]:
    """Catalog names of one kind (file stems), sorted."""
    return tuple(sorted(p.stem for p in (catalog_root() / kind).glob("*.toml")))


def is_path(ref: str) -> bool:
    return "/" in ref or "\\" in ref or ref.endswith((".toml", ".json"))


def unknown(ref: str, kind: str) -> UnknownNameError:
    """An error for an unknown name that suggests the closest catalog names."""
    pool = names(kind)
    close = difflib.get_close_matches(ref, pool, n=3, cutoff=0.5)
    close += [n for n in pool if ref.lower() in n and n not in close][: 3 - len(close)]
    hint = f"; did you mean {', '.join(close)}?" if close else f"; known {kind}: {', '.join(pool)}"
    elsewhere = [k for k in KINDS if k != kind and ref in names(k)]
    if elsewhere:
        hint += f" ({ref!r} is one of the {elsewhere[0]})"
    return UnknownNameError(f"unknown {kind[:-1]} {ref!r}{hint}")


def locate(ref: str, kind: str) -> Path:
    """The file behind a catalog name or a user path."""
    if is_path(ref):
        path = Path(ref).expanduser()
        if not path.is_file():
            raise SpecError(f"{ref}: no such file")
        return path
    path = catalog_root() / kind / f"{ref}.toml"
    if not path.is_file():
        raise unknown(ref, kind)
    return path


def _load(kind: str, model: type[M], ref: str, prepare: Callable[[dict, Path], dict] | None = None) -> M:
    path = locate(ref, kind)
    data = read_toml(path)
    if not is_path(ref) and data.get("name") != ref:
        raise SpecError(f"{path}: name {data.get('name')!r} does not match its file name {ref!r}")
    if prepare is not None:
        data = prepare(data, path)
    return build(model, data, str(path) if is_path(ref) else f"{kind}/{ref}.toml")


def _relative(ref: str, base: Path) -> str:
    """A path inside a user file is taken relative to that file."""
    if is_path(ref) and not Path(ref).is_absolute():
        return str(base.parent / ref)
    return ref


@lru_cache(maxsize=None)
def load_chip(ref: str) -> Chip:
    """A chip by catalog name or file path."""
    return _load("chips", Chip, ref)


@lru_cache(maxsize=None)
def load_fabric(ref: str) -> FabricTier:
    """A fabric tier by catalog name or file path."""
    return _load("fabrics", FabricTier, ref)


def _resolve_system(data: dict, path: Path) -> dict:
    data = dict(data)
    chip = data.get("chip")
    if isinstance(chip, str):
        data["chip"] = load_chip(_relative(chip, path))
    tiers = data.get("tiers")
    if isinstance(tiers, list):
        data["tiers"] = [load_fabric(_relative(t, path)) if isinstance(t, str) else t for t in tiers]
    return data


@lru_cache(maxsize=None)
def load_system(ref: str) -> System:
    """A system by catalog name or file path; its chip and tiers are resolved too."""
    return _load("systems", System, ref, _resolve_system)


@lru_cache(maxsize=None)
def load_model(ref: str) -> Model:
    """A model by catalog name, ``.toml`` path, or Hugging Face ``config.json`` path
    (the file, or a directory holding one); see :mod:`superpod.spec.hf`."""
    path = Path(ref).expanduser()
    if (is_path(ref) or ref not in names("models")) and (path.is_dir() or path.suffix == ".json"):

        return model_from_hf(path)
    return _load("models", Model, ref)


def all_models() -> list[Model]:
    return [load_model(n) for n in names("models")]


def all_chips() -> list[Chip]:
    return [load_chip(n) for n in names("chips")]


def all_systems() -> list[System]:
    return [load_system(n) for n in names("systems")]
