"""The database's service model: what a transaction costs, as measured on the real stack.

A repository call is one transaction. Its cost, spent while it holds a session, is

    acquire + [connect, when no idle connection is warm] + transaction
    + round trips of the method x round_trip + [commit, when the method writes]
    (+ the service's ``latency``, one draw)

``round_trips`` per method are counted on the wire by ``just bench calibrate`` (BEGIN,
the per-transaction settings, each statement, COMMIT), ``writes`` are the methods whose
statements change rows (their commit waits for the disk); the distributions are a
least-squares fit on the same measurement. A scenario names a measured model file (``model = "measured"``:
scenarios/models/measured.toml, the default) and may override any figure in
``[services.repo.db]``; ``model = "none"`` keeps the bare ``latency`` draw per call.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import Field

from sim.simulator.scenario.latency import NO_LATENCY, Latency, LatencyTable
from sim.simulator.schema import AtLeastOne, Count, PositiveSeconds, ScenarioError, Table

MODELS_DIR = Path(__file__).resolve().parents[4] / "scenarios" / "models"
DEFAULT_MODEL = "measured"
NO_MODEL = "none"
DEFAULT_ROUND_TRIPS = 4  # BEGIN, settings, one statement, COMMIT


@dataclass(frozen=True, slots=True)
class DbModel:
    transaction: Latency = NO_LATENCY
    round_trip: Latency = NO_LATENCY
    commit: Latency = NO_LATENCY
    connect: Latency = NO_LATENCY
    acquire: Latency = NO_LATENCY
    round_trips: Mapping[str, int] = field(default_factory=dict)
    writes: frozenset[str] = frozenset()
    default_round_trips: int = DEFAULT_ROUND_TRIPS
    max_idle_s: float = 60.0  # the real pool's: an older idle connection is replaced
    source: str = "<memory>"

    def trips(self, method: str) -> int:
        return self.round_trips.get(method, self.default_round_trips)


_FIGURES = ("transaction", "round_trip", "commit", "connect", "acquire", "default_round_trips", "max_idle_s")


class DbTable(Table):
    """``[services.repo.db]``: overrides of the named model's figures."""

    transaction: LatencyTable | None = None
    round_trip: LatencyTable | None = None
    commit: LatencyTable | None = None
    connect: LatencyTable | None = None
    acquire: LatencyTable | None = None
    round_trips: dict[str, Count] = Field(default_factory=dict)
    writes: tuple[str, ...] | None = None  # replaces the model's list
    default_round_trips: AtLeastOne | None = None
    max_idle_s: PositiveSeconds | None = None

    def over(self, base: DbModel) -> DbModel:
        changes: dict[str, Any] = {
            name: value for name in _FIGURES if (value := getattr(self, name)) is not None
        }
        if self.writes is not None:
            changes["writes"] = frozenset(self.writes)
        if self.round_trips:
            changes["round_trips"] = {**base.round_trips, **self.round_trips}
        return replace(base, **changes)


def model_path(name: str) -> Path:
    """A model's file: a path as given (``.toml``), or ``scenarios/models/<name>.toml``."""
    return Path(name) if name.endswith(".toml") else MODELS_DIR / f"{name}.toml"


@functools.lru_cache(maxsize=16)
def _load(path: Path, mtime_ns: int) -> DbModel:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        table = data["sim"]["services"]["repo"]["db"]
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise ScenarioError(f"{path}: not a measured service model ({exc})") from None
    try:
        parsed = DbTable.model_validate(table)
    except ValueError as exc:
        raise ScenarioError(f"{path}: [sim.services.repo.db]: {exc}") from None
    return parsed.over(DbModel(source=str(path)))


def load_model(name: str) -> DbModel:
    """The database model of a measured file (cached; rereading a changed file)."""
    path = model_path(name)
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        raise ScenarioError(f"no measured model {name!r} ({path}); run `just bench calibrate`") from None
    return _load(path, mtime)


__all__ = ["DEFAULT_MODEL", "MODELS_DIR", "NO_MODEL", "DbModel", "DbTable", "load_model", "model_path"]
