"""The schema vocabulary of scenario files (pydantic), and errors that say where.

Every table of a scenario is a pydantic model with ``extra="forbid"``, so a typo is
an error, and strict numbers, so ``true`` is not a count. :func:`validate` turns
pydantic's errors into one :class:`ScenarioError` whose message names the file, the
table and the key (``launch-day.toml.users.count: must be >= 0``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

T = TypeVar("T", bound=BaseModel)


class ScenarioError(ValueError):
    """A scenario file is missing, unreadable or invalid; the message says where."""


class Table(BaseModel):
    """One table of a scenario file: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# Virtual seconds and other amounts: finite, not negative, and never a boolean.
Seconds = Annotated[float, Strict(), Field(ge=0, allow_inf_nan=False)]
Duration = Annotated[float, Strict(), Field(ge=0)]  # may be inf: "forever"
PositiveSeconds = Annotated[float, Strict(), Field(gt=0, allow_inf_nan=False)]
Share = Annotated[float, Strict(), Field(ge=0, le=1, allow_inf_nan=False)]
Weight = Annotated[float, Strict(), Field(ge=0, allow_inf_nan=False)]
Count = Annotated[int, Strict(), Field(ge=0)]
AtLeastOne = Annotated[int, Strict(), Field(ge=1)]


def invalid(loc: Sequence[str | int], error_type: str, value: Any, **context: Any) -> ValidationError:
    """A validation error at ``loc`` inside the value being validated (raise it from a validator)."""
    detail: InitErrorDetails = {"type": error_type, "loc": tuple(loc), "input": value}
    if context:
        detail["ctx"] = context
    return ValidationError.from_exception_data("scenario", [detail])


def unknown_name(loc: Sequence[str | int], value: Any, choices: Sequence[str]) -> ValidationError:
    return invalid(loc, "literal_error", value, expected=", ".join(choices))


def rule(message: str) -> PydanticCustomError:
    """A rule across keys, reported at the table (raise it from a model validator)."""
    return PydanticCustomError("scenario_rule", message)


def _where(source: str, loc: Sequence[str | int]) -> str:
    text = source
    for part in loc:
        if part == "[key]":  # pydantic's marker for a bad mapping key; the key is said already
            continue
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _message(error: Any) -> str:
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    if kind == "missing":
        return f"missing required key {error['loc'][-1]!r}"
    if kind == "extra_forbidden":
        return f"unknown key(s) {error['loc'][-1]}"
    if kind == "literal_error":
        return f"{value!r} is not one of {str(ctx.get('expected', '')).replace(' or ', ', ')}"
    if kind in ("int_type", "float_type", "bool_type", "string_type", "dict_type", "list_type", "tuple_type"):
        what = {
            "int_type": "an integer",
            "float_type": "a number",
            "bool_type": "true or false",
            "string_type": "a string",
            "dict_type": "a table",
        }.get(kind, "a list")
        got = "a boolean" if isinstance(value, bool) else repr(value)
        return f"expected {what}, got {got}"
    bounds = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}
    if kind in bounds:
        limit = next(iter(ctx.values()))
        return f"must be {bounds[kind]} {limit:g}, got {value!r}"
    if kind == "finite_number":
        return f"must be a finite number, got {value!r}"
    return str(error["msg"]).removeprefix("Value error, ")


def describe(exc: ValidationError, source: str) -> str:
    """The first error of ``exc`` as one line: where (file, table, key), then what."""
    first = exc.errors()[0]
    loc = list(first["loc"])
    if first["type"] in ("missing", "extra_forbidden"):
        loc = loc[:-1]  # said in the message: the table is where it is missing or unknown
    return f"{_where(source, loc)}: {_message(first)}"


def validate(model: type[T], data: object, source: str) -> T:
    """``data`` as ``model``, or a :class:`ScenarioError` that says where and what."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(describe(exc, source)) from None
