"""A hard kill of one simulated process: every task of it stops at once, shielded or not.

Trio has no way to kill a task; cancellation is the only lever, and a shield stops it.
``kill -9`` does not care about shields, so the kill walks the task tree under the
process's own cancel scope, turns every shield inside it off and cancels the scope:
each task then meets ``Cancelled`` at its next checkpoint, including those waiting in
a shielded block (a retried database write, a hand-back). Code that runs on during
unwinding and opens a new shield is caught by the next sweep (:func:`reap`), so the
killed tree is gone before any virtual time passes.

Walking a task's cancel scopes needs trio internals (``Task._cancel_status``); the
trio version is pinned, and :class:`KillHookMissing` says so if they move.
"""

from __future__ import annotations

from collections.abc import Iterator

import trio

_MAX_SWEEPS = 10_000  # a tree that survives this many sweeps has a task the kill cannot reach


class KillHookMissing(RuntimeError):
    """The installed trio no longer exposes the cancel-status chain the kill walks."""


class UnkillableTask(RuntimeError):
    """A killed process's task kept running (it cannot be cancelled)."""


def _tasks_under(nursery: trio.Nursery) -> Iterator[trio.lowlevel.Task]:
    pending = list(nursery.child_tasks)
    while pending:
        task = pending.pop()
        yield task
        for child in task.child_nurseries:
            pending.extend(child.child_tasks)


def _scopes_of(task: trio.lowlevel.Task, stop_at: trio.CancelScope) -> Iterator[trio.CancelScope]:
    """The cancel scopes ``task`` is inside, innermost first, up to ``stop_at`` (excluded)."""
    status = getattr(task, "_cancel_status", None)
    if status is None or not hasattr(status, "_scope"):
        raise KillHookMissing("trio's Task._cancel_status._scope is gone; the hard kill cannot reach shields")
    while status is not None:
        scope = status._scope
        if scope is stop_at:
            return
        yield scope
        status = status._parent


def sweep(scope: trio.CancelScope, nursery: trio.Nursery) -> int:
    """Unshield every scope that the tasks under ``nursery`` are in (below ``scope``) and
    cancel ``scope``. Returns how many tasks are still alive under the nursery."""
    alive = 0
    for task in _tasks_under(nursery):
        alive += 1
        for inner in _scopes_of(task, scope):
            if inner.shield:
                inner.shield = False
    scope.cancel()
    return alive


async def reap(scope: trio.CancelScope, nursery: trio.Nursery) -> int:
    """Sweep until no task is left under ``nursery``; returns the number of sweeps.

    Runs in a task outside the killed tree. Between sweeps the killed tasks run their
    unwinding (only checkpoints: no virtual time passes, since every wait is cancelled)."""
    for sweeps in range(1, _MAX_SWEEPS + 1):
        if sweep(scope, nursery) == 0:
            return sweeps
        await trio.lowlevel.checkpoint()
    names = sorted(task.name for task in _tasks_under(nursery))
    raise UnkillableTask(f"tasks survived {_MAX_SWEEPS} kill sweeps: {names[:5]}")
