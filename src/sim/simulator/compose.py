"""The simulation's composition root: sim adapters behind fault proxies, as Services.

The bot core receives the same ``Services`` bundle it gets in production; only
what is inside differs. :class:`SimStack` also keeps the raw adapters, so the
runner can check invariants (sessions in use, open jobs) without going through
the faults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trio.testing import MockClock

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
from sim.simulator.faults.kind import BotApiFault
from sim.simulator.faults.proxy import FaultStats, ServiceFaults, session_hook, wrap_port
from sim.simulator.faults.wire import WindowedBotApiFaults
from sim.simulator.kernel.rng import RngStreams
from sim.simulator.kernel.trace import Trace
from sim.simulator.scenario import Scenario

# Shaped like a real token (digits, colon, secret) so the adapters accept it; the
# log sink watches for it to make sure no log line ever carries it.
SIM_TOKEN = "7000000001:AAHsimulatedTokenNeverLogMe-0123456789"  # noqa: S105 (not a secret)


@dataclass(slots=True)
class SimStack:
    services: Services
    repo: MemoryRepository
    state: MemoryConversationStore
    queue: MemoryJobQueue
    blobs: MemoryBlobStore
    log: SimLogSink
    cpu: SimCpuRunner
    metrics: MetricsRecorder
    fault_stats: FaultStats


def build_stack(
    world: BotApiWorld,
    scenario: Scenario,
    rngs: RngStreams,
    clock: MockClock,
    *,
    trace: Trace | None = None,
    token: str = SIM_TOKEN,
    cpu_cache: dict[tuple[str, ...], Any] | None = None,
) -> SimStack:
    stats = FaultStats()

    def faults_of(service: str) -> ServiceFaults:
        return ServiceFaults(
            service, scenario.service(service), scenario.faults, rngs, trace=trace, stats=stats
        )

    wire_faults = [f for f in scenario.faults if isinstance(f, BotApiFault)]
    if wire_faults:  # its own random stream: the other services' draws do not move
        world.add_fault_source(
            WindowedBotApiFaults(wire_faults, rngs.stream("service.telegram.wire"), stats, trace)
        )
    repo_faults = faults_of("repo")
    repo = MemoryRepository(scenario.service("repo").session_limit, in_session=session_hook(repo_faults))
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
    # The send allowance lives in Redis beside the conversation state: faults of "state"
    # reach it too, drawn from streams of its own so the other services' draws do not move.
    bucket_faults = faults_of("state")
    bucket_faults.latency_rng = rngs.stream("service.send_bucket.latency")
    bucket_faults.fault_rng = rngs.stream("service.send_bucket.faults")
    services = Services(
        telegram=wrap_port(SimTelegramApi(world, token), faults_of("telegram")),
        repo=wrap_port(repo, repo_faults, inside=True),
        state=wrap_port(state, faults_of("state")),
        blobs=wrap_port(blobs, faults_of("blobs")),
        queue=wrap_port(queue, faults_of("queue")),
        clock=SimWallClock(rngs.stream("clock.ids"), rngs.stream("clock.jitter")),
        log=log,
        cpu=cpu,
        metrics=metrics,
        # One send allowance for every process, as in production (SEND_LIMIT=shared).
        send_bucket=wrap_port(
            MemorySendBucket(fallback_share=1 + scenario.bot.worker_processes), bucket_faults
        ),
    )
    return SimStack(services, repo, state, queue, blobs, log, cpu, metrics, stats)


def sim_services(
    world: BotApiWorld,
    scenario: Scenario,
    rngs: RngStreams,
    clock: MockClock,
    *,
    trace: Trace | None = None,
) -> Services:
    """Just the Services bundle (see :func:`build_stack` for the raw adapters too)."""
    return build_stack(world, scenario, rngs, clock, trace=trace).services
