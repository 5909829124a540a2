"""Runs one scenario: the real bot core against the simulated world, on virtual time.

``trio.run`` under a virtual clock (``SimClock``: MockClock's autojump) with a seeded scheduler,
sockets/DNS/threads refused, every random draw from the scenario seed. The bot
(``bot.app.run_bot``) runs under a supervisor that can crash and restart it; the
fault schedule and the workload run beside it. The run stops at the scenario's
duration (or once every user has a final answer, plus a settle time); then the
bot is stopped and the invariants are checked against the raw sim adapters.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import trio

from bot import analysis
from bot.app import Roles, run_bot
from bot.blob_keys import blob_key
from bot.i18n import pick_language
from sim.fakes.clock import SIM_EPOCH
from sim.fakes.log_sink import SimLogSink
from sim.fakes.telegram.limits import SendLimits
from sim.fakes.telegram.world import BotApiWorld
from sim.simulator.calltimes import CallTimes
from sim.simulator.compose import SIM_TOKEN, SimStack, build_stack
from sim.simulator.concurrency import WorkInFlight, counting_handlers
from sim.simulator.expect import contrast_story, evaluate
from sim.simulator.faults.schedule import run_schedule
from sim.simulator.faults.system import SystemUnderFault
from sim.simulator.growth import growth_details, sample_growth
from sim.simulator.invariants import (
    AnswerParts,
    CallsAtEnd,
    LoopAtEnd,
    QueuesAtEnd,
    RunEnd,
    StoresAtEnd,
    TelegramAtEnd,
    WorkAtEnd,
    judge_all,
)
from sim.simulator.kernel.blocking import BlockingWatch, StepClock, permitted, watching
from sim.simulator.kernel.clock import SimClock
from sim.simulator.kernel.determinism import hash_seed_pinned, seeded_scheduler
from sim.simulator.kernel.escape import install_socket_guards, threads_forbidden
from sim.simulator.kernel.housekeeping import with_housekeeping
from sim.simulator.kernel.rng import RngStreams
from sim.simulator.kernel.supervisor import BotMain, BotSupervisor
from sim.simulator.kernel.trace import Trace
from sim.simulator.report import Report, latency_table, replay_header
from sim.simulator.scenario import Scenario, contrast_scenario
from sim.simulator.workload import ANALYSED, FAILED, LOST, SimUser, Workload

_EPOCH_S = SIM_EPOCH.timestamp()
_CHECK_BUDGET_S = 5.0  # virtual seconds the end-of-run checks may take (a leaked permit blocks them)


@dataclass(slots=True)
class Simulation:
    """A finished run: its report, and its trace (with events if they were kept)."""

    report: Report
    trace: Trace
    notes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Processes:
    """The simulated processes: the bot (poller, its workers, reconciler) and worker processes."""

    bot: BotSupervisor
    workers: list[BotSupervisor]

    @property
    def all(self) -> list[BotSupervisor]:
        return [self.bot, *self.workers]


SERIES_COLUMNS = (
    "t",
    "db_sessions",  # the session semaphore's occupancy
    "db_waiting",  # tasks queued for a session
    "queue_depth",  # job stream entries (waiting + unacknowledged)
    "users_waiting",  # users who sent a file and have no final answer
    "cpu_in_use",
    "updates_in_flight",
    "errors",  # warning and error log records in the interval
    "faults",  # faults injected in the interval
)


def _problems(log: SimLogSink) -> int:
    return log.by_level.get("WARNING", 0) + log.by_level.get("ERROR", 0)


async def _sample(
    stack: SimStack, workload: Workload, series: list[list[float]], every_s: float, work: WorkInFlight
) -> None:
    """Occupancy over virtual time, for plots (exact peaks come from the adapters), and the
    bot's work in flight against its limits."""
    errors = faults = 0
    while True:
        work.sample()
        now_errors, now_faults = _problems(stack.log), sum(stack.fault_stats.injected.values())
        series.append(
            [
                round(trio.current_time(), 3),
                stack.repo.sessions_in_use,
                stack.repo.sessions_waiting,
                stack.queue.depth(),
                workload.waiting,
                stack.cpu.in_use,
                stack.metrics.gauges.get("updates.in_flight", 0),
                now_errors - errors,
                now_faults - faults,
            ]
        )
        errors, faults = now_errors, now_faults
        await trio.sleep(every_s)


def _bot_tasks_alive() -> list[str]:
    """Names of tasks of the bot core still running (after the stop, a leak)."""
    alive: list[str] = []
    root = trio.lowlevel.current_root_task()
    pending = [root] if root is not None else []
    while pending:
        task = pending.pop()
        if task.name.startswith("bot."):
            alive.append(task.name)
        for nursery in task.child_nurseries:
            pending.extend(nursery.child_tasks)
    return sorted(alive)


@dataclass(slots=True)
class _Ending:
    virtual_seconds: float = 0.0
    invariants: dict[str, bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    telegram_limits: dict[str, object] | None = None
    growth: list[list[float]] = field(default_factory=list)  # [soak] sampling (sim.simulator.growth)
    blocking: dict[str, object] | None = None
    calls: dict[str, object] | None = None
    work: dict[str, object] | None = None


def _stores_at_end(stack: SimStack) -> StoresAtEnd:
    uploads = stack.repo.uploads_now()
    blobs = set(stack.blobs.keys())
    accounted = {blob_key(u.user_id, u.upload_id, u.file_name) for u in uploads}
    queued = stack.queue.job_ids()
    return StoresAtEnd(
        orphan_blobs=sorted(blobs - accounted),
        missing_blobs=sorted(k for u in uploads if (k := u.blob_key) is not None and k not in blobs),
        unqueued_jobs=sorted(j for j in stack.repo.open_job_ids() if j not in queued),
    )


def _answer_parts(sent: list[SimUser]) -> list[AnswerParts]:
    """Each analysed upload's profile, part by part, against what the user received."""
    profiles: dict[tuple[str, bytes], analysis.Profile | analysis.CsvRejected] = {}
    expected_of: dict[tuple[str, bytes, str], tuple[list[str], set[str]]] = {}
    answers = []
    for user in sent:
        if not user.profiles:
            continue
        lang = pick_language(user.user.language_code)
        key = (user.file_name, user.data, lang)
        if key not in expected_of:
            profile = profiles.get(key[:2])
            if profile is None:
                with permitted():  # the judge's own analysis, off the bot's loop
                    profile = profiles[key[:2]] = analysis.analyse_csv(user.data, user.file_name)
            parts = analysis.render_profile(profile, lang) if isinstance(profile, analysis.Profile) else []
            expected_of[key] = (parts, set(parts))
        parts, known = expected_of[key]
        counts = Counter(text for text in user.answer_texts if text in known)
        answers.append(
            AnswerParts(
                user.user.id,
                len(parts),
                missing=sum(1 for p in parts if counts[p] == 0),
                repeated=sum(1 for p in parts if counts[p] > 1),
            )
        )
    return answers


async def _check_invariants(
    scenario: Scenario,
    world: BotApiWorld,
    stack: SimStack,
    workload: Workload,
    processes: _Processes,
    ending: _Ending,
    watch: BlockingWatch,
    call_times: CallTimes,
    work: WorkInFlight,
) -> None:
    sent = [u for u in workload.users if u.sent_at is not None]
    settings = scenario.bot.build_settings()
    stuck: list[str] | None = None
    per_user_uploads: dict[int, int] | None = None
    if stack.repo.sessions_in_use == 0:  # a leaked session would block these reads
        with trio.move_on_after(_CHECK_BUDGET_S):
            open_jobs = await stack.repo.jobs_needing_attention(0.0, 1_000_000)  # every open job
            stuck = [job.job_id for job in open_jobs]
            per_user_uploads = {}
            for user in sent:
                per_user_uploads[user.user.id] = len(await stack.repo.list_uploads(user.user.id, 100))
    queues = QueuesAtEnd(
        job_stream_peak=stack.queue.peak_depth,
        jobs_created=stack.repo.counts()["jobs"],
        updates_in_flight_peak=stack.metrics.gauge_peaks.get("updates.in_flight", 0),
        max_updates_in_flight=4 * scenario.bot.build_settings().max_concurrent_updates,
        held_uploads_peak=stack.metrics.gauge_peaks.get("updates.held", 0),
        max_held_uploads=scenario.bot.build_settings().max_held_uploads,
        reconcilers=int(scenario.bot.reconciler) + scenario.bot.worker_processes,
    )
    limits = world.limits
    telegram = None if limits is None else TelegramAtEnd(limits.over_limit, limits.ignored_retry_after)
    ending.telegram_limits = None if limits is None else limits.summary()
    end = RunEnd(
        sent=sent,
        answer_limit_s=scenario.users.answer_deadline_s + scenario.invariants.margin_s,
        sessions_in_use=stack.repo.sessions_in_use,
        cpu_in_use=stack.cpu.in_use,
        bot_tasks_alive=_bot_tasks_alive(),
        stuck_jobs=stuck,
        uploads_per_user=per_user_uploads,
        secret_leaks=stack.log.secret_leaks,
        process_errors=[p.error for p in processes.all if p.error is not None],
        stores=_stores_at_end(stack) if stuck is not None else None,
        queues=queues,
        telegram=telegram,
        hard_kills=sum(p.crashes for p in processes.all),
        answers=_answer_parts(sent),
        work=WorkAtEnd(
            work.peak_handlers,
            settings.max_concurrent_updates,
            work.peak_jobs,
            settings.worker_concurrency,
        ),
        calls=CallsAtEnd(call_times.over, call_times.over_total, dict(call_times.longest)),
        blocking=LoopAtEnd(
            calls=[c.describe() for c in watch.calls],
            calls_total=watch.calls_seen,
            slow_steps=[s.describe() for s in watch.slow_steps],
            slow_steps_total=watch.slow_steps_seen,
            step_budget_s=watch.step_budget_s,
        ),
    )
    ending.blocking = {
        "calls": watch.calls_seen,
        "slow_steps": watch.slow_steps_seen,
        "step_budget_s": watch.step_budget_s,
        "findings": watch.findings[:10],
    }
    ending.work = {"peak_handlers": work.peak_handlers, "peak_jobs_per_worker": work.peak_jobs}
    ending.calls = {"longest_s": dict(sorted(call_times.longest.items())), "over": call_times.over_total}
    verdicts, notes = judge_all(end, scenario.invariants.check)
    ending.notes.extend(notes)
    ending.invariants = {name: verdict.held for name, verdict in verdicts.items()}


async def _main(
    scenario: Scenario,
    rngs: RngStreams,
    trace: Trace,
    clock: SimClock,
    bot_main: BotMain,
    ending: _Ending,
    watch: BlockingWatch,
    call_times: CallTimes,
    work: WorkInFlight,
) -> tuple[SimStack, Workload, _Processes, list[list[float]]]:
    install_socket_guards()
    world = BotApiWorld(SIM_TOKEN, now=lambda: int(_EPOCH_S + trio.current_time()), limits=SendLimits())
    stack = build_stack(world, scenario, rngs, clock, trace=trace)
    workload = Workload(world, scenario.users, rngs, trace)
    settings = scenario.bot.build_settings()
    roles = Roles(
        poller=scenario.bot.poller, workers=scenario.bot.workers, reconciler=scenario.bot.reconciler
    )
    series: list[list[float]] = []
    if scenario.soak.latency_samples is not None:
        stack.metrics.max_samples = scenario.soak.latency_samples
    bot_main = with_housekeeping(
        bot_main,
        claims_retention_s=scenario.bot.claims_retention_h * 3600.0,
        claims_every_s=scenario.bot.prune_every_s,
    )
    stop_scope = trio.CancelScope(deadline=scenario.duration_s)

    def supervise(roles: Roles) -> BotSupervisor:
        name = roles.name
        return BotSupervisor(
            bot_main,
            lambda handles: stack.services_for(name, handles, call_times),
            settings,
            roles,
            trace,
            on_fatal=stop_scope.cancel,
            name=name,
        )

    worker_roles = [
        Roles(poller=False, workers=scenario.bot.worker_process_workers, reconciler=True, name=f"worker{n}")
        for n in range(scenario.bot.worker_processes)
    ]
    processes = _Processes(supervise(roles), [supervise(r) for r in worker_roles])
    async with trio.open_nursery() as nursery:
        for process in processes.all:
            nursery.start_soon(process.run)
        for process in processes.all:
            stack.clock_of(process.name)
        system = SystemUnderFault({"bot": [processes.bot], "worker": processes.workers}, stack, stack.clocks)
        nursery.start_soon(run_schedule, scenario.faults, system, trace)
        async with trio.open_nursery() as observed:
            observed.start_soon(workload.run)
            every_s = max(1.0, scenario.duration_s / 600)
            observed.start_soon(_sample, stack, workload, series, every_s, work)
            if scenario.soak.sample_every_s is not None:
                observed.start_soon(sample_growth, stack, ending.growth, scenario.soak.sample_every_s)
            with stop_scope:
                if scenario.stop_when_done:
                    await workload.all_done.wait()
                    trace.record("sim.all_answered")
                    await trio.sleep(scenario.settle_for(settings))
                else:
                    await trio.sleep_forever()
            observed.cancel_scope.cancel()  # what users saw is final from here on
        ending.virtual_seconds = trio.current_time()
        trace.record("sim.stop")
        async with trio.open_nursery() as stopping:
            for process in processes.all:
                stopping.start_soon(process.stop, settings.deadline("shutdown") + 1.0)
        nursery.cancel_scope.cancel()
    await _check_invariants(scenario, world, stack, workload, processes, ending, watch, call_times, work)
    return stack, workload, processes, series


def simulate(
    scenario: Scenario,
    seed: int | None = None,
    *,
    keep_trace: bool = False,
    bot_main: BotMain | None = None,
) -> Simulation:
    """Run ``scenario`` (with ``seed``, default the scenario's) and report on it."""
    seed = scenario.seed if seed is None else seed
    rngs = RngStreams(seed)
    clock = SimClock()  # MockClock(autojump_threshold=0), with timers for the services' latencies
    trace = Trace(keep_events=keep_trace, now=clock.current_time)
    ending = _Ending()
    started = time.perf_counter()  # the one real measurement; never enters the trace
    watch = BlockingWatch(scenario.invariants.step_budget_s)
    work = WorkInFlight()
    with (
        seeded_scheduler(rngs.seed_for("scheduler")),
        threads_forbidden(),
        watching(watch),
        counting_handlers(work),
    ):
        stack, workload, processes, series = trio.run(
            _main,
            scenario,
            rngs,
            trace,
            clock,
            bot_main or run_bot,
            ending,
            watch,
            CallTimes(),
            work,
            clock=clock,
            instruments=[StepClock(watch)],
        )
    wall = time.perf_counter() - started
    report = _report(scenario, seed, trace, ending, wall, stack, workload, processes, series)
    return Simulation(report, trace, ending.notes)


def run_scenario(scenario: Scenario, seed: int | None = None) -> Report:
    return simulate(scenario, seed).report


def add_contrast(report: Report, scenario: Scenario, seed: int | None = None) -> Report | None:
    """Run the scenario's ``[expect.contrast]`` twin with the same seed and tell the story
    of the two side by side in ``report`` (None when the scenario has no contrast)."""
    twin = contrast_scenario(scenario)
    if twin is None:
        return None
    other = simulate(twin, report.seed if seed is None else seed).report
    report.story.append(contrast_story(report, other, scenario.expect))
    report.details["contrast"] = {
        "label": scenario.expect.contrast_label,
        "overrides": dict(scenario.expect.contrast),
        "trace_hash": other.trace_hash,
        "virtual_seconds": other.virtual_seconds,
        "uploads": other.uploads,
        "latency": {name: {"p50": p.p50, "p95": p.p95, "p99": p.p99} for name, p in other.latency.items()},
        "invariants": other.invariants,
        "log_blocked_s": other.details.get("log", {}).get("blocked_s", 0.0),
    }
    return other


def _report(
    scenario: Scenario,
    seed: int,
    trace: Trace,
    ending: _Ending,
    wall: float,
    stack: SimStack,
    workload: Workload,
    processes: _Processes,
    series: list[list[float]],
) -> Report:
    users = workload.users
    log = stack.log
    sent = [u for u in users if u.sent_at is not None]
    outcomes = [u.final_outcome() for u in sent]
    answer = [lat for u in sent if (lat := u.latency()) is not None]
    ack = [u.acked_at - u.sent_at for u in sent if u.acked_at is not None and u.sent_at is not None]
    start = [lat for u in users if (lat := u.start_latency()) is not None]
    probe = [lat for p in workload.probes if (lat := p.latency()) is not None]
    metrics = stack.metrics
    timeouts = {
        name: n for name in sorted(metrics.outcomes) if (n := metrics.outcomes[name].get("timeout", 0))
    }
    retries = {e: n for e, n in sorted(log.by_event.items()) if "retry" in e and not e.startswith("job.")}
    errors = [p.error for p in processes.all if p.error is not None]
    top_events = sorted(log.by_event.items(), key=lambda item: (-item[1], item[0]))[:15]
    details: dict[str, Any] = {
        "faults_injected": dict(sorted(stack.fault_stats.injected.items())),
        "calls": dict(sorted(stack.fault_stats.calls.items())),
        "processes": {
            p.name: {"crashes": p.crashes, "stops": p.stops, "error": p.error} for p in processes.all
        },
        "timeouts": timeouts,
        "retries": retries,
        "log": {
            "records": log.records,
            "by_level": dict(sorted(log.by_level.items())),
            "top_events": dict(top_events),
            "peak_per_second": log.peak_per_second,
            "blocked_s": round(log.blocked_s, 6),
            "handler": "sync" if log.blocking else "queued",
            "writer_lag_peak_s": round(log.writer_lag_peak_s, 6),
            "secret_leaks": log.secret_leaks,
        },
        "cpu": {
            "calls": stack.cpu.calls,
            "cache_hits": stack.cpu.cache_hits,
            "busy_s": round(stack.cpu.busy_s, 6),
            "peak_in_use": stack.cpu.peak_in_use,
            "peak_waiting": stack.cpu.peak_waiting,
            "mode": "blocking" if stack.cpu.blocking else "offloaded",
        },
        "db": {
            "session_limit": stack.repo.session_limit,
            "max_sessions_in_use": stack.repo.max_sessions_in_use,
            "peak_waiting": max((row[2] for row in series), default=0),
            "rows": stack.repo.counts(),
        },
        "gauge_peaks": dict(sorted(stack.metrics.gauge_peaks.items())),
        "growth": None
        if scenario.soak.sample_every_s is None
        else growth_details(ending.growth, scenario.soak.flat_after_s, scenario.soak.flat_tolerance),
        "duplicate_answers": sum(u.duplicate_answers for u in sent),
        "flood": {
            "replies": dict(sorted(workload.flood_replies.items())),
            "probes_unanswered": sum(1 for p in workload.probes if p.replied_at is None),
            "dropped": stack.metrics.counters.get(("updates", "dropped"), 0),
        },
        "telegram_limits": ending.telegram_limits,
        "blocking": ending.blocking,
        "outside_calls": ending.calls,
        "work_in_flight": ending.work,
        "job_stream": {
            "peak_depth": stack.queue.peak_depth,
            "peak_entries_per_job": stack.queue.peak_entries_per_job,
        },
        "invariant_notes": ending.notes,
        "errors": errors,
        "series_columns": list(SERIES_COLUMNS),
        "series": series,
        "answers_columns": ["sent_at", "latency", "outcome", "ack_latency"],
        "answers": [
            [
                round(u.sent_at or 0.0, 3),
                None if (lat := u.latency()) is None else round(lat, 3),
                outcome,
                None if u.acked_at is None else round(u.acked_at - (u.sent_at or 0.0), 3),
            ]
            for u, outcome in zip(sent, outcomes, strict=True)
        ],
        "fault_windows": [
            [f.at_s, min(f.end_s, ending.virtual_seconds), f.target, f.kind]
            for f in scenario.faults
            if f.at_s < ending.virtual_seconds
        ],
    }
    report = Report(
        scenario=scenario.name,
        seed=seed,
        trace_hash=trace.hexdigest(),
        trace_events=trace.count,
        virtual_seconds=round(ending.virtual_seconds, 6),
        wall_seconds=round(wall, 3),
        users={"total": len(users), "arrived": len(sent)},
        uploads={
            "sent": len(sent),
            "accepted": sum(1 for u in sent if u.acked_at is not None),
            "analysed": outcomes.count(ANALYSED),
            "failed_with_message": outcomes.count(FAILED),
            "lost": outcomes.count(LOST),
        },
        latency=latency_table(
            stack.metrics,
            {"user.answer": answer, "user.ack": ack, "user.start": start}
            | ({"user.probe": probe} if workload.probes else {}),
        ),
        invariants=ending.invariants,
        success_rate=round(sum(1 for u in sent if u.succeeded()) / len(sent), 6) if sent else 1.0,
        timeouts=sum(timeouts.values()),
        retries=sum(retries.values()),
        details=details,
        replay=replay_header(seed, hash_seed_pinned()),
    )
    report.expectations = evaluate(report, scenario.expect)
    growth = report.details.get("growth") or {}
    for column, flat in (growth.get("flat") or {}).items():
        report.expectations[f"{column} flat after {growth['flat_after_s']:g} s"] = flat
    return report
