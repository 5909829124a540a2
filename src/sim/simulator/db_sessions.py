"""The database model at run time: what each transaction costs while it holds a session.

It mirrors ``adapters.postgres.pool.SessionPool``: a session reuses the newest idle
connection unless that one has idled past ``max_idle_s``, and otherwise opens one (the
connect cost); a transaction that ends in an error or a cancellation discards its
connection, so the next one pays the setup again. Waiting for a session is the memory
repository's FIFO semaphore (``session_limit``), as on the real pool.

Draws come from the repo's latency stream in call order, so a seed still gives one trace.
"""

from __future__ import annotations

from sim.simulator.faults.proxy import ServiceFaults, session_hook
from sim.simulator.kernel.clock import sim_sleep
from sim.simulator.scenario.dbmodel import DbModel


class DbSessions:
    """``in_session`` and ``on_release`` for :class:`sim.fakes.repository.MemoryRepository`."""

    def __init__(self, model: DbModel, faults: ServiceFaults) -> None:
        self.model = model
        self._rng = faults.latency_rng
        self._now = faults.now
        self._fault_plan = session_hook(faults)
        self._idle: list[float] = []  # when each idle connection was returned; newest last
        self.opened = 0
        self.discarded = 0
        self.spent_s = 0.0  # virtual seconds of database work, for the report and tests

    def cost(self, method: str, *, fresh: bool) -> float:
        """One transaction of ``method``: acquisition, setup when ``fresh``, its round trips
        and, when it writes, its commit."""
        m, rng = self.model, self._rng
        total = m.acquire.sample(rng) + m.transaction.sample(rng)
        if fresh:
            total += m.connect.sample(rng)
        if method in m.writes:
            total += m.commit.sample(rng)
        for _ in range(m.trips(method)):
            total += m.round_trip.sample(rng)
        return total

    def _checkout(self) -> bool:
        """True when a connection must be opened."""
        now = self._now()
        while self._idle:
            returned_at = self._idle.pop()
            if now - returned_at <= self.model.max_idle_s:
                return False
            self.discarded += 1
        self.opened += 1
        return True

    async def in_session(self, method: str) -> None:
        fresh = self._checkout()
        cost = self.cost(method, fresh=fresh)
        self.spent_s += cost
        if cost > 0:
            await sim_sleep(cost)  # trio.sleep's schedule, without its cancel scope
        await self._fault_plan(method)  # the scenario's latency and "before" faults

    def on_release(self, clean: bool) -> None:
        if clean:
            self._idle.append(self._now())
        else:
            self.discarded += 1


__all__ = ["DbSessions"]
