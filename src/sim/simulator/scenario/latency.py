"""Latency distributions in virtual seconds: how a scenario says how slow a service is."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from sim.simulator.toml_table import REQUIRED, ScenarioError, Table

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
        if dist == "none":
            return 0.0
        if dist == "constant":
            value = self.value_s
        elif dist == "uniform":
            value = rng.uniform(self.min_s, self.max_s)
        elif dist == "exponential":
            value = self.min_s + rng.expovariate(1.0 / self.mean_s)
        elif dist == "lognormal":
            value = self.median_s * math.exp(rng.gauss(0.0, self.sigma))
        else:  # pareto
            value = self.min_s * rng.paretovariate(self.alpha)
        return min(value, self.max_s)


NO_LATENCY = Latency()


def parse_latency(data: object, where: str) -> Latency:
    t = Table(data, where)
    dist = t.string("dist", "constant", choices=DISTRIBUTIONS)
    max_s = t.number("max_s", math.inf)
    if dist == "none":
        result = NO_LATENCY
    elif dist == "constant":
        result = Latency(dist, value_s=t.number("value_s", REQUIRED), max_s=max_s)
    elif dist == "uniform":
        lo = t.number("min_s", 0.0)
        hi = t.number("max_s", REQUIRED)
        if hi < lo:
            raise ScenarioError(f"{where}: max_s must be >= min_s")
        result = Latency(dist, min_s=lo, max_s=hi)
    elif dist == "exponential":
        mean = t.number("mean_s", REQUIRED)
        if mean <= 0:
            raise ScenarioError(f"{where}.mean_s: must be > 0")
        result = Latency(dist, mean_s=mean, min_s=t.number("min_s", 0.0), max_s=max_s)
    elif dist == "lognormal":
        result = Latency(
            dist, median_s=t.number("median_s", REQUIRED), sigma=t.number("sigma", 0.5), max_s=max_s
        )
    else:
        alpha = t.number("alpha", 1.5)
        if alpha <= 0:
            raise ScenarioError(f"{where}.alpha: must be > 0")
        result = Latency(dist, min_s=t.number("min_s", REQUIRED), alpha=alpha, max_s=max_s)
    t.finish()
    return result
