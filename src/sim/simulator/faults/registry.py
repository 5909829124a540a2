"""Every fault kind by its TOML name, and the parser of one ``[[faults]]`` table.

The kinds are found, not listed: each module of :mod:`sim.simulator.faults.kinds` is
imported and its classes register themselves (see :class:`~sim.simulator.faults.kind.Fault`),
so a new kind is one new file there plus its line in ``scenarios/README.md``.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
from typing import Annotated

from pydantic import PlainValidator, ValidationError

from sim.simulator.faults import kinds as _kinds_package
from sim.simulator.faults.kind import Fault, registered_kinds
from sim.simulator.schema import ScenarioError, describe, invalid, unknown_name


@functools.cache
def fault_kinds() -> dict[str, type[Fault]]:
    """Every kind, by name, in the order of their module names.

    Raises TypeError for a kind that leaves one of its family's methods unimplemented:
    such a kind would otherwise have nothing of its own to do when it strikes."""
    for module in sorted(pkgutil.iter_modules(_kinds_package.__path__), key=lambda m: m.name):
        importlib.import_module(f"{_kinds_package.__name__}.{module.name}")
    kinds = registered_kinds()
    for name, cls in kinds.items():
        if inspect.isabstract(cls):
            missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
            raise TypeError(f"fault kind {name!r} ({cls.__name__}) does not implement {missing}")
    return kinds


def fault_from_table(value: object) -> Fault:
    """One ``[[faults]]`` table as its kind's class; raises pydantic's ValidationError,
    located inside the table (for a field of a scenario model)."""
    if isinstance(value, Fault):
        return value
    if not isinstance(value, dict):
        raise invalid((), "dict_type", value)
    if "kind" not in value:
        raise invalid(("kind",), "missing", value)
    kinds = fault_kinds()
    kind = value["kind"]
    if not isinstance(kind, str) or kind not in kinds:
        raise unknown_name(("kind",), kind, tuple(kinds))
    return kinds[kind].model_validate({k: v for k, v in value.items() if k != "kind"})


def parse_fault(value: object, where: str) -> Fault:
    """One fault table (a scenario's, or one sent to the emulator's control API)."""
    try:
        return fault_from_table(value)
    except ValidationError as exc:
        raise ScenarioError(describe(exc, where)) from None


# A field holding one fault table: ``faults: tuple[FaultTable, ...] = ()``.
FaultTable = Annotated[Fault, PlainValidator(fault_from_table)]
