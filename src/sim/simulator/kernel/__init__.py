"""The deterministic simulation kernel: seeding, random streams, escape guards, trace."""

from sim.simulator.kernel.determinism import (
    SchedulerHookMissing,
    hash_seed_pinned,
    reexec_with_pinned_hash_seed,
    seeded_scheduler,
)
from sim.simulator.kernel.escape import SimulationEscape, install_socket_guards, threads_forbidden
from sim.simulator.kernel.rng import RngStreams, derive_seed
from sim.simulator.kernel.trace import Divergence, Trace, first_divergence

__all__ = [
    "Divergence",
    "RngStreams",
    "SchedulerHookMissing",
    "SimulationEscape",
    "Trace",
    "derive_seed",
    "first_divergence",
    "hash_seed_pinned",
    "install_socket_guards",
    "reexec_with_pinned_hash_seed",
    "seeded_scheduler",
    "threads_forbidden",
]
