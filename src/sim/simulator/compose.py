"""The simulation's composition root: sim adapters behind fault proxies, as Services.

The bot core receives the same ``Services`` bundle it gets in production; only
what is inside differs. :class:`SimStack` also keeps the raw adapters, so the
runner can check invariants (sessions in use, open jobs) without going through
the faults.

Every simulated process sees the shared stores through ports of its own
(:meth:`SimStack.services_for`): its own fault proxies, so a fault can strike one
process's calls alone (a partition), its own wall clock, so one host's clock can be
skewed, and handles that a kill revokes (:mod:`sim.simulator.kernel.handles`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.metrics import MetricsRecorder
from bot.ports import Services
from sim.fakes.blobs import MemoryBlobStore
from sim.fakes.clock import SimWallClock
from sim.fakes.cpu import SimCpuRunner
from sim.fakes.log_sink import SimLogSink
from sim.fakes.queue import MemoryJobQueue
from sim.fakes.repository import MemoryRepository
from sim.fakes.send_bucket import MemorySendBucket
from sim.fakes.state import MemoryConversationStore
from sim.fakes.telegram.api import SimTelegramApi
from sim.fakes.telegram.world import BotApiWorld
from sim.simulator.calltimes import CallTimes
from sim.simulator.db_sessions import DbSessions
from sim.simulator.faults.kind import BotApiFault
from sim.simulator.faults.proxy import FaultStats, ServiceFaults, session_hook, wrap_port
from sim.simulator.faults.wire import WindowedBotApiFaults
from sim.simulator.kernel.clock import JumpingClock
from sim.simulator.kernel.handles import Handles, revocable
from sim.simulator.kernel.rng import RngStreams
from sim.simulator.kernel.trace import Trace
from sim.simulator.scenario import Scenario

# Shaped like a real token (digits, colon, secret) so the adapters accept it; the
# log sink watches for it to make sure no log line ever carries it.
SIM_TOKEN = "7000000001:AAHsimulatedTokenNeverLogMe-0123456789"  # noqa: S105 (not a secret)


@dataclass(slots=True)
class SimStack:
    services: Services  # the bot process's ports (no handles: never revoked)
    repo: MemoryRepository
    state: MemoryConversationStore
    queue: MemoryJobQueue
    blobs: MemoryBlobStore
    log: SimLogSink
    cpu: SimCpuRunner
    metrics: MetricsRecorder
    fault_stats: FaultStats
    db: DbSessions | None = None  # the database model's pool mirror (None: bare latency)
    telegram: SimTelegramApi | None = None
    send_bucket: MemorySendBucket | None = None
    faults_of: Callable[[str, str], ServiceFaults] | None = None  # (service, process)
    bucket_faults_of: Callable[[str], ServiceFaults] | None = None  # the send bucket's, per process
    clocks: dict[str, SimWallClock] = field(default_factory=dict)  # per process, kept across restarts
    clock_streams: tuple[random.Random, random.Random] | None = None  # ids, jitter: shared by every clock

    def clock_of(self, process: str) -> SimWallClock:
        clock = self.clocks.get(process)
        if clock is None:
            assert self.clock_streams is not None
            clock = self.clocks[process] = SimWallClock(*self.clock_streams)
        return clock

    def services_for(self, process: str, handles: Handles, times: CallTimes | None = None) -> Services:
        """The ports one incarnation of ``process`` works with (each outside call timed
        in ``times``, when given)."""
        assert self.telegram is not None and self.faults_of is not None and self.bucket_faults_of is not None
        faults_of = self.faults_of

        def port(target: Any, service: str, *, inside: bool = False) -> Any:
            return wrap_port(target, faults_of(service, process), inside=inside, handles=handles, times=times)

        return Services(
            telegram=port(self.telegram, "telegram"),
            repo=port(self.repo, "repo", inside=True),
            state=port(self.state, "state"),
            blobs=port(self.blobs, "blobs"),
            queue=port(self.queue, "queue"),
            clock=self.clock_of(process),
            log=self.log,
            cpu=revocable(self.cpu, handles),
            metrics=self.metrics,
            send_bucket=wrap_port(
                self.send_bucket,
                self.bucket_faults_of(process),
                handles=handles,
                times=times,
                timed_as="send_bucket",
            ),
        )


def build_stack(
    world: BotApiWorld,
    scenario: Scenario,
    rngs: RngStreams,
    clock: JumpingClock,
    *,
    trace: Trace | None = None,
    token: str = SIM_TOKEN,
    cpu_cache: dict[tuple[object, ...], Any] | None = None,
) -> SimStack:
    stats = FaultStats()
    per_process: dict[tuple[str, str], ServiceFaults] = {}

    def faults_of(service: str, process: str = "bot") -> ServiceFaults:
        # One per (service, process), kept across restarts; they share the service's streams.
        faults = per_process.get((service, process))
        if faults is None:
            faults = per_process[(service, process)] = ServiceFaults(
                service, scenario.service(service), scenario.faults, rngs,
                trace=trace, stats=stats, process=process, now=clock.current_time,
            )  # fmt: skip
            if service == "telegram":  # a 429 it gives holds the caller, as Telegram's do
                faults.on_retry_after = world.note_refused
                faults.on_depart = world.note_departure
        return faults

    wire_faults = [f for f in scenario.faults if isinstance(f, BotApiFault)]
    if wire_faults:  # its own random stream: the other services' draws do not move
        world.add_fault_source(
            WindowedBotApiFaults(wire_faults, rngs.stream("service.telegram.wire"), stats, trace)
        )
    repo_faults = faults_of("repo")
    repo_model = scenario.service("repo")
    db_model = repo_model.db_model()
    db_sessions = None if db_model is None else DbSessions(db_model, repo_faults)
    repo = MemoryRepository(
        repo_model.session_limit,
        in_session=session_hook(repo_faults) if db_sessions is None else db_sessions.in_session,
        on_release=None if db_sessions is None else db_sessions.on_release,
    )
    state = MemoryConversationStore()
    queue = MemoryJobQueue()
    blobs = MemoryBlobStore()
    log = SimLogSink(
        trace,
        clock,
        sync_write_cost_s=scenario.log.sync_cost_s,
        secrets=(token,),
        blocking=scenario.log.mode == "sync",
    )
    cpu = SimCpuRunner(
        cores=scenario.cpu.cores,
        costs=scenario.cpu.kinds,
        default_cost=scenario.cpu.default,
        clock=clock,
        blocking=scenario.cpu.blocking,
        trace=trace,
        cache=cpu_cache,
    )
    metrics = MetricsRecorder()
    telegram = SimTelegramApi(world, token)
    # One send allowance for every process, as in production (SEND_LIMIT=shared).
    send_bucket = MemorySendBucket(fallback_share=1 + scenario.bot.worker_processes)
    clock_streams = (rngs.stream("clock.ids"), rngs.stream("clock.jitter"))
    bot_clock = SimWallClock(*clock_streams)
    # The send allowance lives in Redis beside the conversation state: faults of "state"
    # reach it too, drawn from streams of its own so the other services' draws do not move.
    bucket_faults: dict[str, ServiceFaults] = {}

    def bucket_faults_of(process: str) -> ServiceFaults:
        faults = bucket_faults.get(process)
        if faults is None:
            faults = bucket_faults[process] = ServiceFaults(
                "state", scenario.service("state"), scenario.faults, rngs,
                trace=trace, stats=stats, process=process, now=clock.current_time,
            )  # fmt: skip
            faults.latency_rng = rngs.stream("service.send_bucket.latency")
            faults.fault_rng = rngs.stream("service.send_bucket.faults")
        return faults

    services = Services(
        telegram=wrap_port(telegram, faults_of("telegram")),
        repo=wrap_port(repo, repo_faults, inside=True),
        state=wrap_port(state, faults_of("state")),
        blobs=wrap_port(blobs, faults_of("blobs")),
        queue=wrap_port(queue, faults_of("queue")),
        clock=bot_clock,
        log=log,
        cpu=cpu,
        metrics=metrics,
        send_bucket=wrap_port(send_bucket, bucket_faults_of("bot")),
    )
    return SimStack(
        services, repo, state, queue, blobs, log, cpu, metrics, stats, db_sessions,
        telegram=telegram, send_bucket=send_bucket, faults_of=faults_of, bucket_faults_of=bucket_faults_of,
        clocks={"bot": bot_clock}, clock_streams=clock_streams,
    )  # fmt: skip


def sim_services(
    world: BotApiWorld,
    scenario: Scenario,
    rngs: RngStreams,
    clock: JumpingClock,
    *,
    trace: Trace | None = None,
) -> Services:
    """Just the Services bundle (see :func:`build_stack` for the raw adapters too)."""
    return build_stack(world, scenario, rngs, clock, trace=trace).services
