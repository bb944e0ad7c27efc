"""Loading specs from the TOML catalog or from a user's file.

Wherever a name is accepted, a path works too: ``load_chip("ascend-910c")`` reads the
shipped ``catalog/chips/ascend-910c.toml``; ``load_chip("./my-chip.toml")`` reads the
user's file. Malformed TOML and invalid values become one-line :class:`SpecError`
messages naming the file, the line or the field path; unknown names suggest the
closest catalog names.
"""

from __future__ import annotations

import difflib
import re
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
from superpod.spec import whatif

KINDS = ("chips", "fabrics", "systems", "models", "calibration")
M = TypeVar("M", bound=BaseModel)


@lru_cache(maxsize=None)
def names(kind: str) -> tuple[str, ...]:
    """Catalog names of one kind (file stems), sorted."""
    return tuple(sorted(p.stem for p in (catalog_root() / kind).glob("*.toml")))


def is_path(ref: str) -> bool:
    if not isinstance(ref, str):  # the API can be handed anything: say what was expected
        raise UnknownNameError(f"expected a catalog name or a file path (a str), got {type(ref).__name__} {ref!r:.60}")
    if "\x00" in ref or len(ref) > 4096 or any(len(part) > 255 for part in ref.replace("\\", "/").split("/")):
        raise UnknownNameError(f"{ref[:60]!r}{'...' if len(ref) > 60 else ''} is neither a catalog name nor a usable path")
    return "/" in ref or "\\" in ref or ref.endswith((".toml", ".json"))


def _tokens(name: str) -> set[str]:
    return {t for t in re.split(r"[-_@. /]+", name.lower()) if t}


def suggest(ref: str, pool: tuple[str, ...] | list[str], n: int = 4) -> list[str]:
    """The names of ``pool`` closest to ``ref``: spelling (difflib), then substrings either way,
    then shared name tokens (``h100-hgx`` -> ``dgx-h100-superpod``, ``h100-roce-cluster``)."""
    low = ref.lower()
    close = difflib.get_close_matches(low, pool, n=n, cutoff=0.6)
    close += [p for p in pool if p not in close and len(low) >= 2 and (low in p or p in low)]
    mine = _tokens(ref)
    shared = sorted(((len(mine & _tokens(p)), p) for p in pool if p not in close and mine & _tokens(p)),
                    key=lambda t: (-t[0], t[1]))
    close += [p for _, p in shared]
    return close[:n]


def unknown(ref: str, kind: str) -> UnknownNameError:
    """An error for an unknown name: the closest catalog names (:func:`suggest`), then all of them."""
    pool = names(kind)
    close = suggest(ref, pool)
    hint = (f"; did you mean {', '.join(close)}?" if close else "") + f" known {kind}: {', '.join(pool)}"
    if not close:
        hint = ";" + hint
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


def _load(kind: str, model: type[M], ref: str, prepare: Callable[[dict, Path], dict] | None = None,
          over: whatif.Overrides = ()) -> M:
    path = locate(ref, kind)
    data = read_toml(path)
    if not is_path(ref) and data.get("name") != ref:
        raise SpecError(f"{path}: name {data.get('name')!r} does not match its file name {ref!r}")
    where = str(path) if is_path(ref) else f"{kind}/{ref}.toml"
    data = whatif.apply(data, over, model, where)  # what-if overrides (none outside a sweep)
    if prepare is not None:
        data = prepare(data, path)
    return build(model, data, where)


def _relative(ref: str, base: Path) -> str:
    """A path inside a user file is taken relative to that file."""
    if is_path(ref) and not Path(ref).is_absolute():
        return str(base.parent / ref)
    return ref


def load_chip(ref: str) -> Chip:
    """A chip by catalog name or file path (with the what-if overrides in force, if any)."""
    return _chip(ref, whatif.active("chip"))


@lru_cache(maxsize=None)
def _chip(ref: str, over: whatif.Overrides) -> Chip:
    return _load("chips", Chip, ref, over=over)


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
        data["tiers"] = _tier_overrides(data["tiers"], int(data.get("scaleup_tiers", 1)), path)
    return data


def _tier_overrides(tiers: list, scaleup: int, path: Path) -> list:
    """``fabric.SELECTOR.FIELD`` what-if overrides on a system's tiers (see :mod:`.whatif`)."""
    over = whatif.active("fabric")
    if not over:
        return tiers
    tiers = list(tiers)
    for sel_field, value in over:
        sel, _, field = sel_field.partition(".")
        built = [t if isinstance(t, FabricTier) else build(FabricTier, t, str(path)) for t in tiers]
        hit = [i for i, t in enumerate(built) if (sel == "scaleup" and i < scaleup) or
               (sel == "scaleout" and i >= scaleup) or sel in (t.name, str(i))]
        if not field or not hit:
            raise SpecError(f"{path.name}: what-if path 'fabric.{sel_field}': tier {sel!r} is none of scaleup, "
                            f"scaleout, {', '.join(t.name for t in built)} or an index 0-{len(built) - 1}"
                            if field else f"what-if path 'fabric.{sel_field}' names no field")
        for i in hit:
            where = f"fabrics/{built[i].name}.toml"
            data = whatif.apply(built[i].model_dump(exclude_none=True), ((field, value),), FabricTier, where)
            tiers[i] = build(FabricTier, data, where)
    return tiers


def load_system(ref: str) -> System:
    """A system by catalog name or file path; its chip and tiers are resolved too
    (with the what-if overrides in force, if any)."""
    return _system(ref, whatif.active("system"), whatif.active("chip"), whatif.active("fabric"))


@lru_cache(maxsize=None)
def _system(ref: str, over: whatif.Overrides, chip_over: whatif.Overrides, fabric_over: whatif.Overrides) -> System:
    return _load("systems", System, ref, _resolve_system, over)


def load_model(ref: str) -> Model:
    """A model by catalog name, ``.toml`` path, or Hugging Face ``config.json`` path
    (the file, or a directory holding one); see :mod:`superpod.spec.hf`."""
    return _model(ref, whatif.active("model"))


@lru_cache(maxsize=None)
def _model(ref: str, over: whatif.Overrides) -> Model:
    path = Path(ref).expanduser()
    if (is_path(ref) or ref not in names("models")) and (path.is_dir() or path.suffix == ".json"):
        if over:
            raise SpecError(f"{ref}: what-if model.* overrides need a TOML model, not a config.json")
        return model_from_hf(path)
    return _load("models", Model, ref, over=over)


def all_models() -> list[Model]:
    return [load_model(n) for n in names("models")]


def all_chips() -> list[Chip]:
    return [load_chip(n) for n in names("chips")]


def all_systems() -> list[System]:
    return [load_system(n) for n in names("systems")]
