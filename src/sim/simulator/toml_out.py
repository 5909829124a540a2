"""Writing scenario data back to TOML (a shrunk property-test failure becomes a file
that ``just simulate`` replays). The standard library reads TOML but does not write
it; scenarios only hold tables, arrays of tables, strings, numbers, booleans and
lists of them, which this covers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _key(key: str) -> str:
    bare = key.replace("_", "").replace("-", "").isalnum() and key.isascii()
    return key if bare else json.dumps(key)


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, Mapping) for item in value)


def _table(lines: list[str], path: str, table: Mapping[str, Any]) -> None:
    simple = {k: v for k, v in table.items() if not isinstance(v, Mapping) and not _is_table_array(v)}
    if path and (simple or not table):
        lines.append(f"\n[{path}]")
    lines += [f"{_key(k)} = {_value(v)}" for k, v in simple.items()]
    for key, value in table.items():
        child = f"{path}.{_key(key)}" if path else _key(key)
        if isinstance(value, Mapping):
            _table(lines, child, value)
        elif _is_table_array(value):
            for item in value:
                lines.append(f"\n[[{child}]]")
                lines += [f"{_key(k)} = {_value(v)}" for k, v in item.items()]


def dumps(data: Mapping[str, Any], header: str = "") -> str:
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    _table(lines, "", data)
    return "\n".join(lines).lstrip("\n") + "\n"
