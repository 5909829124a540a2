"""The bot as a supervised process: crash it, restart it, stop it at the end.

A crash cancels the bot's whole task tree at once, with no graceful shutdown (its
in-memory state is gone, the services keep theirs), and the bot starts again after
a downtime, as a process manager would restart it. At the end of the run the bot
is asked to stop gracefully, then cancelled if it takes too long.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from bot.app import BotHandle, Roles
from bot.ports import Services
from bot.settings import Settings
from sim.simulator.kernel.trace import Trace

BotMain = Callable[..., Awaitable[None]]  # run_bot's shape: (services, settings, *, roles, task_status)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(inner) for inner in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"


class BotSupervisor:
    """Runs the bot like a process manager: crash it (no graceful shutdown), restart
    it after a downtime, and stop it gracefully at the end of the run."""

    def __init__(
        self,
        bot_main: BotMain,
        services: Services,
        settings: Settings,
        roles: Roles,
        trace: Trace,
        on_fatal: Callable[[], None],
        *,
        name: str = "bot",
    ) -> None:
        self.name = name
        self._bot_main = bot_main
        self._services = services
        self._settings = settings
        self._roles = roles
        self._trace = trace
        self._on_fatal = on_fatal
        self._outer = trio.CancelScope()  # the whole lifecycle, restarts and downtimes included
        self._scope: trio.CancelScope | None = None  # one incarnation of the bot
        self._handle: BotHandle | None = None
        self._downtime = 0.0
        self._stopping = False
        self._exited = trio.Event()
        self.crashes = 0
        self.error: str | None = None

    async def run(self) -> None:
        with self._outer:
            try:
                await self._lifecycle()
            finally:
                self._exited.set()

    async def _lifecycle(self) -> None:
        while True:
            with trio.CancelScope() as scope:
                self._scope = scope
                try:
                    async with trio.open_nursery() as nursery:
                        self._handle = await nursery.start(self._start_bot)
                        self._trace.record("bot.up", self.name)
                except Exception as exc:  # the bot died on its own: a finding, not a fault we injected
                    self.error = _describe(exc)
                    self._trace.record("bot.error", f"{self.name} {type(exc).__name__}")
                    self._on_fatal()
                    return
            self._scope = self._handle = None
            if self._stopping:
                return
            if not scope.cancelled_caught:
                self.error = "run_bot returned before it was asked to stop"
                self._on_fatal()
                return
            await trio.sleep(self._downtime)
            self._trace.record("bot.restart", self.name)

    async def _start_bot(self, task_status: trio.TaskStatus[BotHandle]) -> None:
        await self._bot_main(self._services, self._settings, roles=self._roles, task_status=task_status)

    def crash(self, downtime_s: float) -> None:
        """Kill the bot now; it restarts after ``downtime_s``. Ignored while it is down."""
        if self._scope is None or self._stopping:
            return
        self.crashes += 1
        self._downtime = downtime_s
        self._trace.record("bot.crash", f"{self.name} {downtime_s:g}")
        self._scope.cancel()

    async def stop(self, grace_s: float) -> None:
        """Graceful stop within ``grace_s``, then a hard one."""
        self._stopping = True
        if self._handle is not None:
            self._handle.stop()
            with trio.move_on_after(grace_s):
                await self._exited.wait()
        self._outer.cancel()  # also ends a downtime: no restart after the end of the run
        await self._exited.wait()
