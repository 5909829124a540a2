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

from sim.simulator.faults import kinds as _kinds_package
from sim.simulator.faults.kind import Fault, registered_kinds
from sim.simulator.toml_table import REQUIRED, Table


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


def parse_fault(t: Table) -> Fault:
    """One ``[[faults]]`` table as its kind's class; unknown keys are errors."""
    kinds = fault_kinds()
    kind = t.string("kind", REQUIRED, choices=tuple(kinds))
    fault = kinds[kind].parse(t)
    t.finish()
    return fault
