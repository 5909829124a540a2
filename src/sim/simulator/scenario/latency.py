"""Latency distributions in virtual seconds: how a scenario says how slow a service is."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Annotated, Literal, Self

from pydantic import PlainValidator, model_validator

from sim.simulator.schema import PositiveSeconds, Seconds, Table, invalid, rule, unknown_name

DISTRIBUTIONS = ("none", "constant", "uniform", "exponential", "lognormal", "pareto")


@dataclass(frozen=True, slots=True)
class Latency:
    """A latency distribution in virtual seconds, capped at ``max_s``.

    none: 0; constant: ``value_s``; uniform: ``min_s``..``max_s``; exponential: mean
    ``mean_s`` plus ``min_s``; lognormal: median ``median_s``, shape ``sigma``;
    pareto: scale ``min_s``, shape ``alpha`` (heavy tail, storage-like).
    """

    dist: str = "none"
    value_s: float = 0.0
    min_s: float = 0.0
    max_s: float = math.inf
    mean_s: float = 0.0
    median_s: float = 0.0
    sigma: float = 0.0
    alpha: float = 0.0

    def sample(self, rng: random.Random) -> float:
        dist = self.dist
        if dist == "lognormal":  # the services' usual model: asked first
            value = self.median_s * math.exp(rng.gauss(0.0, self.sigma))
        elif dist == "none":
            return 0.0
        elif dist == "constant":
            value = self.value_s
        elif dist == "uniform":
            value = rng.uniform(self.min_s, self.max_s)
        elif dist == "exponential":
            value = self.min_s + rng.expovariate(1.0 / self.mean_s)
        else:  # pareto
            value = self.min_s * rng.paretovariate(self.alpha)
        return min(value, self.max_s)


NO_LATENCY = Latency()


class _None(Table):
    dist: Literal["none"]
    max_s: Seconds = math.inf

    def latency(self) -> Latency:
        return NO_LATENCY


class _Constant(Table):
    dist: Literal["constant"] = "constant"
    value_s: Seconds
    max_s: Seconds = math.inf

    def latency(self) -> Latency:
        return Latency("constant", value_s=self.value_s, max_s=self.max_s)


class _Uniform(Table):
    dist: Literal["uniform"]
    min_s: Seconds = 0.0
    max_s: Seconds

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.max_s < self.min_s:
            raise rule("max_s must be >= min_s")
        return self

    def latency(self) -> Latency:
        return Latency("uniform", min_s=self.min_s, max_s=self.max_s)


class _Exponential(Table):
    dist: Literal["exponential"]
    mean_s: PositiveSeconds
    min_s: Seconds = 0.0
    max_s: Seconds = math.inf

    def latency(self) -> Latency:
        return Latency("exponential", mean_s=self.mean_s, min_s=self.min_s, max_s=self.max_s)


class _Lognormal(Table):
    dist: Literal["lognormal"]
    median_s: Seconds
    sigma: Seconds = 0.5
    max_s: Seconds = math.inf

    def latency(self) -> Latency:
        return Latency("lognormal", median_s=self.median_s, sigma=self.sigma, max_s=self.max_s)


class _Pareto(Table):
    dist: Literal["pareto"]
    min_s: Seconds
    alpha: PositiveSeconds = 1.5
    max_s: Seconds = math.inf

    def latency(self) -> Latency:
        return Latency("pareto", min_s=self.min_s, alpha=self.alpha, max_s=self.max_s)


_TABLES: dict[str, type[_None | _Constant | _Uniform | _Exponential | _Lognormal | _Pareto]] = {
    "none": _None,
    "constant": _Constant,
    "uniform": _Uniform,
    "exponential": _Exponential,
    "lognormal": _Lognormal,
    "pareto": _Pareto,
}


def latency_from_table(value: object) -> Latency:
    """A ``{ dist = ..., ... }`` table as a :class:`Latency` (``dist`` defaults to constant);
    raises pydantic's ValidationError, located inside the table."""
    if isinstance(value, Latency):
        return value
    if not isinstance(value, dict):
        raise invalid((), "dict_type", value)
    dist = value.get("dist", "constant")
    table = _TABLES.get(dist) if isinstance(dist, str) else None
    if table is None:
        raise unknown_name(("dist",), dist, DISTRIBUTIONS)
    return table.model_validate(value).latency()


# A field holding a latency table: ``latency: LatencyTable = NO_LATENCY``.
LatencyTable = Annotated[Latency, PlainValidator(latency_from_table)]
