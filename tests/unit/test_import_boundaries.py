"""The real adapters and the simulator (its fakes and emulators too) never import each other.

They meet only in processes: ``just chat`` runs the real bot as a child of the
emulator, and the contract suites put both behind the same ports.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

# Imports that are on their way out, each with where it goes. An entry that no longer
# matches an import fails the test, so the list can only shrink.
PENDING: dict[tuple[str, str], str] = {}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _crossings(room: str, other: str) -> set[tuple[str, str]]:
    crossings = set()
    for path in sorted((SRC / room).rglob("*.py")):
        for module in _imports(path):
            if module == other or module.startswith(f"{other}."):
                crossings.add((path.relative_to(SRC).as_posix(), module))
    return crossings


@pytest.mark.parametrize(("room", "other"), [("adapters", "sim"), ("sim", "adapters")])
def test_adapters_and_sim_do_not_import_each_other(room: str, other: str) -> None:
    crossings = _crossings(room, other)
    assert crossings - PENDING.keys() == set()


def test_every_pending_crossing_still_exists() -> None:
    crossings = _crossings("sim", "adapters") | _crossings("adapters", "sim")
    assert set(PENDING) <= crossings, "a pending import is gone: remove its entry"
