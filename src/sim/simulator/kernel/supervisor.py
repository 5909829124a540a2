"""The bot as a supervised process: kill it, stop it, restart it, stop it at the end.

A kill is ``kill -9``: every task of the process stops at once, shielded or not
(:mod:`~sim.simulator.kernel.kill`), its handles on the services are revoked so
nothing it still tries reaches them (:mod:`~sim.simulator.kernel.handles`), and its
memory is gone. A stop is SIGTERM: the bot is asked to wind down and given the
process manager's grace, then killed if it is still there. Either way the process
starts again after a downtime, as a process manager would restart it, with fresh
memory and fresh handles; the services keep their state. At the end of the run the
bot is asked to stop gracefully, then cancelled if it takes too long.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from bot.app import BotHandle, Roles
from bot.ports import Services
from bot.settings import Settings
from sim.simulator.kernel.handles import Handles
from sim.simulator.kernel.kill import reap
from sim.simulator.kernel.trace import Trace

BotMain = Callable[..., Awaitable[None]]  # run_bot's shape: (services, settings, *, roles, task_status)
ServicesFor = Callable[[Handles], Services]  # one incarnation's ports, bound to its handles


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(inner) for inner in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"


class _Incarnation:
    """One run of the process, from start to exit."""

    __slots__ = ("handle", "handles", "killed", "nursery", "scope", "stopped")

    def __init__(self, handles: Handles, scope: trio.CancelScope) -> None:
        self.handles = handles
        self.scope = scope
        self.nursery: trio.Nursery | None = None
        self.handle: BotHandle | None = None
        self.killed = False
        self.stopped = False  # asked to stop (SIGTERM) by a fault: returning is expected


class BotSupervisor:
    """Runs the bot like a process manager: kill it (no graceful shutdown) or stop it
    (graceful, then killed after a grace), restart it after a downtime, and stop it
    gracefully at the end of the run."""

    def __init__(
        self,
        bot_main: BotMain,
        services_for: ServicesFor | Services,
        settings: Settings,
        roles: Roles,
        trace: Trace,
        on_fatal: Callable[[], None],
        *,
        name: str = "bot",
    ) -> None:
        self.name = name
        self._bot_main = bot_main
        self._services_for = services_for
        self._settings = settings
        self._roles = roles
        self._trace = trace
        self._on_fatal = on_fatal
        self._outer = trio.CancelScope()  # the whole lifecycle, restarts and downtimes included
        self._current: _Incarnation | None = None
        self._own: trio.Nursery | None = None  # for reapers and stop timers
        self._downtime = 0.0
        self._stopping = False
        self._exited = trio.Event()
        self.crashes = 0  # hard kills
        self.stops = 0  # graceful stops by a fault
        self.incarnations = 0
        self.error: str | None = None

    @property
    def up(self) -> bool:
        return self._current is not None and self._current.handle is not None

    async def run(self) -> None:
        with self._outer:
            try:
                async with trio.open_nursery() as own:
                    self._own = own
                    await self._lifecycle()
                    own.cancel_scope.cancel()
            finally:
                self._exited.set()

    def _services(self, handles: Handles) -> Services:
        if isinstance(self._services_for, Services):
            return self._services_for
        return self._services_for(handles)

    async def _lifecycle(self) -> None:
        while True:
            life = _Incarnation(Handles(self.name), trio.CancelScope())
            self._current = life
            self.incarnations += 1
            services = self._services(life.handles)
            with life.scope:
                try:
                    async with trio.open_nursery() as nursery:
                        life.nursery = nursery
                        life.handle = await nursery.start(self._start_bot, services)
                        self._trace.record("bot.up", self.name)
                except Exception as exc:
                    if not life.killed:  # the bot died on its own: a finding, not a fault we injected
                        self.error = _describe(exc)
                        self._trace.record("bot.error", f"{self.name} {type(exc).__name__}")
                        self._on_fatal()
                        return
                    # A killed process raises nothing: whatever its tasks did while unwinding is moot.
            self._current = None
            life.handles.revoke()
            if self._stopping:
                return
            if not (life.killed or life.stopped):
                self.error = "run_bot returned before it was asked to stop"
                self._on_fatal()
                return
            await trio.sleep(self._downtime)
            self._trace.record("bot.restart", self.name)

    async def _start_bot(self, services: Services, task_status: trio.TaskStatus[BotHandle]) -> None:
        await self._bot_main(services, self._settings, roles=self._roles, task_status=task_status)

    def crash(self, downtime_s: float) -> None:
        """``kill -9`` now; the process restarts after ``downtime_s``. Ignored while it is down."""
        life = self._current
        if life is None or life.killed or self._stopping:
            return
        self.crashes += 1
        self._downtime = downtime_s
        self._trace.record("bot.crash", f"{self.name} {downtime_s:g}")
        self._kill(life)

    kill = crash

    def _kill(self, life: _Incarnation) -> None:
        life.killed = True
        life.handles.revoke()
        if life.nursery is None:  # still starting: cancelling is all there is to stop
            life.scope.cancel()
            return
        assert self._own is not None
        self._own.start_soon(reap, life.scope, life.nursery, name=f"sim.reap.{self.name}")

    def terminate(self, downtime_s: float, grace_s: float) -> None:
        """SIGTERM now: the bot winds down on its own; still running after ``grace_s`` it
        is killed. It restarts ``downtime_s`` after it exits. Ignored while it is down."""
        life = self._current
        if life is None or life.killed or life.stopped or self._stopping:
            return
        self.stops += 1
        self._downtime = downtime_s
        life.stopped = True
        self._trace.record("bot.stop", f"{self.name} {downtime_s:g}")
        if life.handle is None:  # not up yet: nothing to stop gracefully
            self._kill(life)
            return
        life.handle.stop()
        assert self._own is not None
        self._own.start_soon(self._kill_after, life, grace_s, name=f"sim.stop_timer.{self.name}")

    async def _kill_after(self, life: _Incarnation, grace_s: float) -> None:
        await trio.sleep(grace_s)
        if self._current is life and not life.killed:
            self._trace.record("bot.stop_timeout", self.name)
            self._kill(life)

    async def stop(self, grace_s: float) -> None:
        """Graceful stop within ``grace_s``, then a hard one."""
        self._stopping = True
        life = self._current
        if life is not None and life.handle is not None and not life.killed:
            life.handle.stop()
            with trio.move_on_after(grace_s):
                await self._exited.wait()
        self._outer.cancel()  # also ends a downtime: no restart after the end of the run
        await self._exited.wait()
