"""A planner record flattened to a row: nested keys joined with ``_`` (``decode.tokens_per_s_per_chip``
-> ``decode_tokens_per_s_per_chip``), lists and other values as JSON strings."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

#: record keys left out of a row (lists of alternatives, run-time statistics)
DROP = {"top", "search_seconds", "search_plans_per_s"}


@lru_cache(maxsize=4096)
def column(name: str) -> str:
    return name.replace(".", "_").replace("-", "_")


def flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts joined with ``_``; lists and other values as JSON strings."""
    out: dict[str, Any] = {}
    for k, v in record.items():
        name = prefix + column(str(k))
        if name in DROP:
            continue
        t = type(v)
        if t is float or t is int or t is str or t is bool or v is None:
            out[name] = v
        elif isinstance(v, dict):
            out.update(flatten(v, name + "_"))
        elif isinstance(v, (bool, int, float, str)):
            out[name] = v
        elif hasattr(v, "item"):  # numpy scalar
            out[name] = v.item()
        else:
            out[name] = json.dumps(v, default=str)
    return out


