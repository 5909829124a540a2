"""Reading one TOML table: typed getters whose errors name the file, the table and the key."""

from __future__ import annotations

import math
from typing import Any, cast


class ScenarioError(ValueError):
    """A scenario file is missing, unreadable or invalid; the message says where."""


REQUIRED: Any = object()  # marks a key that has no default


class Table:
    """One TOML table being read: typed getters, and unknown keys reported at the end."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, dict):
            raise ScenarioError(f"{where}: expected a table, got {type(data).__name__}")
        self.data: dict[str, Any] = data
        self.where = where
        self.used: set[str] = set()

    def _get(self, key: str, kinds: tuple[type, ...], default: object, what: str) -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is REQUIRED:
                raise ScenarioError(f"{self.where}: missing required key {key!r}")
            return default
        value = self.data[key]
        if isinstance(value, bool) and bool not in kinds:
            raise ScenarioError(f"{self.where}.{key}: expected {what}, got a boolean")
        if not isinstance(value, kinds):
            raise ScenarioError(f"{self.where}.{key}: expected {what}, got {value!r}")
        return value

    def number(self, key: str, default: object = REQUIRED, *, minimum: float = 0.0) -> float:
        if key not in self.data:
            self.used.add(key)
            if default is REQUIRED:
                raise ScenarioError(f"{self.where}: missing required key {key!r}")
            return float(cast(float, default))
        value = self._get(key, (int, float), default, "a number")
        if not math.isfinite(value) or value < minimum:
            raise ScenarioError(f"{self.where}.{key}: must be a finite number >= {minimum:g}, got {value!r}")
        return float(value)

    def integer(self, key: str, default: object = REQUIRED, *, minimum: int = 0) -> int:
        value = self._get(key, (int,), default, "an integer")
        if value < minimum:
            raise ScenarioError(f"{self.where}.{key}: must be >= {minimum}, got {value!r}")
        return int(value)

    def string(self, key: str, default: object = REQUIRED, *, choices: tuple[str, ...] = ()) -> str:
        value = self._get(key, (str,), default, "a string")
        if choices and value not in choices:
            raise ScenarioError(f"{self.where}.{key}: {value!r} is not one of {', '.join(choices)}")
        return str(value)

    def boolean(self, key: str, default: object = REQUIRED) -> bool:
        return bool(self._get(key, (bool,), default, "true or false"))

    def strings(
        self, key: str, default: tuple[str, ...] = (), *, choices: tuple[str, ...] = ()
    ) -> tuple[str, ...]:
        value = self._get(key, (list,), list(default), "a list of strings")
        for item in value:
            if not isinstance(item, str):
                raise ScenarioError(f"{self.where}.{key}: expected strings, got {item!r}")
            if choices and item not in choices:
                raise ScenarioError(f"{self.where}.{key}: {item!r} is not one of {', '.join(choices)}")
        return tuple(value)

    def table(self, key: str) -> Table:
        value = self._get(key, (dict,), {}, "a table")
        return Table(value, f"{self.where}.{key}")

    def tables(self, key: str) -> list[Table]:
        value = self._get(key, (list,), [], "an array of tables ([[...]])")
        return [Table(item, f"{self.where}.{key}[{i}]") for i, item in enumerate(value)]

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            known = ", ".join(sorted(self.used)) or "none"
            raise ScenarioError(f"{self.where}: unknown key(s) {', '.join(unknown)} (known here: {known})")
