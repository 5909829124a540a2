"""The database model: cost per round trip and per transaction, the wait for one of
the sessions, connection setup as the real pool pays it, and the measured file."""

from __future__ import annotations

import inspect
import tomllib
from datetime import UTC, datetime

import pytest
import trio
from trio.testing import MockClock

from bot.domain import NewUpload
from bot.errors import ServiceUnavailable
from bot.ports import Repository
from sim.fakes.repository import MemoryRepository
from sim.simulator.db_sessions import DbSessions
from sim.simulator.faults.kinds.error import ErrorFault
from sim.simulator.faults.proxy import ServiceFaults, wrap_port
from sim.simulator.kernel import RngStreams
from sim.simulator.scenario import Latency, ScenarioError, ServiceModel, parse_scenario
from sim.simulator.scenario.dbmodel import DbModel, load_model, model_path


def _const(value_s: float) -> Latency:
    return Latency("constant", value_s=value_s)


MODEL = DbModel(
    transaction=_const(0.002),
    round_trip=_const(0.001),
    connect=_const(0.010),
    round_trips={"claim_update": 4, "record_upload": 7},
    max_idle_s=60.0,
)


def _repo(
    limit: int, model: DbModel = MODEL, *faults: ErrorFault
) -> tuple[MemoryRepository, DbSessions, object]:
    sf = ServiceFaults("repo", ServiceModel(model="none"), faults, RngStreams(1))
    sessions = DbSessions(model, sf)
    raw = MemoryRepository(limit, in_session=sessions.in_session, on_release=sessions.on_release)
    return raw, sessions, wrap_port(raw, sf, inside=True)


async def _elapsed(fn: object, *args: object) -> float:
    start = trio.current_time()
    await fn(*args)  # type: ignore[operator]
    return trio.current_time() - start


async def test_a_transaction_costs_per_round_trip_plus_per_transaction(autojump_clock: MockClock) -> None:
    raw, sessions, repo = _repo(4)
    await raw.claim_update(0, _now())  # opens the connection: 10 ms setup
    assert sessions.opened == 1
    assert await _elapsed(repo.claim_update, 1, _now()) == pytest.approx(0.002 + 4 * 0.001)  # type: ignore[attr-defined]
    assert await _elapsed(repo.upsert_user, 1, "en") == pytest.approx(0.002 + 4 * 0.001)  # type: ignore[attr-defined]
    new = _upload(2)
    took = await _elapsed(repo.record_upload, new, _uuid(1), _uuid(2), _now())  # type: ignore[attr-defined]
    assert took == pytest.approx(0.002 + 7 * 0.001)
    assert sessions.opened == 1  # the idle connection was reused every time


async def test_waiting_for_a_session_is_modelled(autojump_clock: MockClock) -> None:
    cost = 0.002 + 4 * 0.001
    for limit, expected in ((1, 4 * cost), (2, 2 * cost), (4, cost)):
        raw, _, repo = _repo(limit)
        for k in range(limit):  # warm connections: no setup cost in the timing
            async with trio.open_nursery() as warm:
                for j in range(limit):
                    warm.start_soon(raw.claim_update, 1000 * limit + 10 * k + j, _now())
        waiting: list[int] = []
        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            for user in range(4):
                nursery.start_soon(repo.upsert_user, user, "en")  # type: ignore[attr-defined]
            await trio.sleep(cost / 2)
            waiting.append(raw.sessions_waiting)
        assert trio.current_time() - start == pytest.approx(expected)
        assert waiting == [4 - limit]
        assert raw.max_sessions_in_use == limit


async def test_connection_setup_after_idling_and_after_a_failed_transaction(
    autojump_clock: MockClock,
) -> None:
    fault = ErrorFault(target="repo", at_s=100.0, duration_s=1.0, methods=("upsert_user",))
    _, sessions, repo = _repo(1, MODEL, fault)
    plain = 0.002 + 4 * 0.001
    assert await _elapsed(repo.upsert_user, 1, "en") == pytest.approx(0.010 + plain)  # type: ignore[attr-defined]
    assert await _elapsed(repo.upsert_user, 1, "en") == pytest.approx(plain)  # type: ignore[attr-defined]
    await trio.sleep(61.0)  # past max_idle_s: the pool replaces the idle connection
    assert await _elapsed(repo.upsert_user, 1, "en") == pytest.approx(0.010 + plain)  # type: ignore[attr-defined]
    assert (sessions.opened, sessions.discarded) == (2, 1)
    await trio.sleep(100.0 - trio.current_time())
    with pytest.raises(ServiceUnavailable):
        await repo.upsert_user(1, "en")  # type: ignore[attr-defined]
    await trio.sleep(2.0)
    # The failed transaction's connection was discarded: the next one opens another.
    assert await _elapsed(repo.upsert_user, 1, "en") == pytest.approx(0.010 + plain)  # type: ignore[attr-defined]
    assert (sessions.opened, sessions.discarded) == (3, 2)


async def test_same_seed_same_costs(autojump_clock: MockClock) -> None:
    noisy = DbModel(
        transaction=Latency("lognormal", median_s=0.002, sigma=0.5, max_s=1.0),
        round_trip=Latency("lognormal", median_s=0.001, sigma=0.5, max_s=1.0),
    )
    runs = []
    for _ in range(2):
        _, sessions, repo = _repo(2, noisy)
        spent = []
        for user in range(5):
            await repo.upsert_user(user, "en")  # type: ignore[attr-defined]
            spent.append(sessions.spent_s)
        runs.append(spent)
    assert runs[0] == runs[1] and len(set(runs[0])) == 5


def test_the_measured_model_file_parses_and_covers_every_repository_method() -> None:
    path = model_path("measured")
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    head = data["measured"]
    assert head["date"] and head["how"] and len(head["load_before"]) == 3 and len(head["load_after"]) == 3
    model = load_model("measured")
    port_methods = {
        name for name, fn in inspect.getmembers(Repository) if inspect.iscoroutinefunction(fn) or callable(fn)
    }
    port_methods = {name for name in port_methods if not name.startswith("_") and name != "for_bot"}
    assert port_methods <= set(model.round_trips), port_methods - set(model.round_trips)
    assert all(trips >= 2 for trips in model.round_trips.values())  # BEGIN with its statement, COMMIT
    assert model.round_trip.median_s > 0 and model.connect.median_s > 0 and model.writes
    for route in ("direct", "pgbouncer"):
        assert data["db"][route]["methods"]["claim_update"]["p50_s"] > 0


def test_scenarios_reference_the_measured_model_or_override_it() -> None:
    default = parse_scenario(_named({})).service("repo").db_model()
    assert default == load_model("measured")
    overridden = (
        parse_scenario(
            _named(
                {
                    "services": {
                        "repo": {"db": {"round_trip": {"value_s": 0.03}, "round_trips": {"claim_update": 2}}}
                    }
                }
            )
        )
        .service("repo")
        .db_model()
    )
    assert overridden is not None and default is not None
    assert overridden.round_trip == _const(0.03) and overridden.trips("claim_update") == 2
    assert overridden.transaction == default.transaction
    assert overridden.trips("record_upload") == default.trips("record_upload")
    assert (
        parse_scenario(_named({"services": {"repo": {"model": "none"}}})).service("repo").db_model() is None
    )
    with pytest.raises(ScenarioError, match="database's"):
        parse_scenario(_named({"services": {"blobs": {"model": "measured"}}}))
    with pytest.raises(ScenarioError, match="no measured model"):
        parse_scenario(_named({"services": {"repo": {"model": "no-such-model"}}}))


def _now() -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC)


def _uuid(n: int) -> str:
    return f"00000000-0000-0000-0000-{n:012d}"


def _upload(update_id: int) -> NewUpload:
    return NewUpload(update_id, 7, 7, "en", "f", "u", "a.csv", 10)


def _named(data: dict[str, object]) -> dict[str, object]:
    return {"scenario": {"name": "db-model"}, **data}
