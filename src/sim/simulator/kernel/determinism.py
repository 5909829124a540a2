"""Seeding trio's scheduler, and the hash-seed pin, for reproducible runs.

trio has no public API for a deterministic schedule (python-trio/trio#32): its run
loop shuffles each batch of runnable tasks with the module-level ``_r`` after sorting
the batch by spawn order when ``_ALLOW_DETERMINISTIC_SCHEDULING`` is set. We set that
flag, seed ``_r`` before ``trio.run`` and restore both afterwards, as trio's own
``test_scheduler_determinism.py`` does. The trio version range is pinned in
pyproject.toml and tests/sim/test_determinism.py guards the hook.
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import trio._core._run as _trio_run

from sim.simulator.kernel.quiet import BatchRandom
from sim.simulator.kernel.rng import derive_seed

HASH_SEED = "0"
_FLAG = "_ALLOW_DETERMINISTIC_SCHEDULING"


class SchedulerHookMissing(RuntimeError):
    """The installed trio no longer has the private hook the simulator seeds."""


def _scheduler_rng() -> random.Random:
    rng = getattr(_trio_run, "_r", None)
    if not isinstance(rng, random.Random) or not hasattr(_trio_run, _FLAG):
        raise SchedulerHookMissing(
            "trio._core._run no longer exposes _r / _ALLOW_DETERMINISTIC_SCHEDULING; "
            "the simulator cannot seed this trio version's scheduler"
        )
    return rng


@contextmanager
def seeded_scheduler(seed: int, *, skip_quiet_yields: bool = True) -> Iterator[None]:
    """Make every ``trio.run`` inside the block schedule tasks in a seed-determined order.

    The global ``random`` module is seeded too (from its own sub-stream of ``seed``):
    the retry library draws its backoff jitter from it. ``skip_quiet_yields=False``
    turns off sim.simulator.kernel.quiet (the same schedule, every pass run)."""
    rng = _scheduler_rng()
    saved_flag = getattr(_trio_run, _FLAG)
    saved_global = random.getstate()
    setattr(_trio_run, _FLAG, True)
    # The same draws as ``rng.seed(seed)``; it also tells sim.simulator.kernel.quiet which
    # batch trio is running.
    _trio_run._r = BatchRandom(seed) if skip_quiet_yields else random.Random(seed)
    random.seed(derive_seed(seed, "global-random"))
    try:
        yield
    finally:
        random.setstate(saved_global)
        _trio_run._r = rng
        setattr(_trio_run, _FLAG, saved_flag)


def hash_seed_pinned() -> bool:
    """True when str/bytes hashing (and so set iteration order) is fixed for this process."""
    return os.environ.get("PYTHONHASHSEED") == HASH_SEED


def reexec_with_pinned_hash_seed(module: str, argv: Sequence[str]) -> None:
    """Replace this process by ``python -m module argv...`` with PYTHONHASHSEED pinned.

    The hash seed is read once at interpreter start-up, so pinning it needs a new
    process. Does not return.
    """
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = HASH_SEED
    os.execve(sys.executable, [sys.executable, "-m", module, *argv], env)  # noqa: S606
