import math

import pytest
import trio

from bot.errors import DeadlineExceeded, ServiceUnavailable
from bot.guard import Guard
from bot.metrics import MetricsRecorder
from bot.settings import Settings


def make_guard(**deadlines: float) -> tuple[Guard, MetricsRecorder]:
    metrics = MetricsRecorder()
    return Guard(Settings().with_deadlines(**deadlines), metrics), metrics


async def test_call_that_outlives_its_deadline_is_cut_exactly_at_it(autojump_clock):
    guard, metrics = make_guard(db__statement=10.0)
    start = trio.current_time()
    with pytest.raises(DeadlineExceeded) as info:
        await guard.call("db.statement", trio.sleep_forever)
    assert info.value.name == "db.statement"
    assert trio.current_time() - start == pytest.approx(10.0)
    assert metrics.outcomes["db.statement"] == {"timeout": 1}


async def test_inner_deadline_never_outlives_the_callers_budget(autojump_clock):
    guard, metrics = make_guard(**{"storage.upload": 15.0})
    start = trio.current_time()
    with trio.move_on_after(3.0):
        await guard.call("storage.upload", trio.sleep_forever)
    assert trio.current_time() - start == pytest.approx(3.0)
    # the caller's scope fired, so this call is recorded as cancelled, not as its own timeout
    assert metrics.outcomes["storage.upload"] == {"cancelled": 1}


async def test_success_and_port_errors_are_recorded(autojump_clock):
    guard, metrics = make_guard()

    async def slow_ok() -> int:
        await trio.sleep(0.25)
        return 7

    async def broken() -> None:
        raise ServiceUnavailable("redis")

    assert await guard.call("redis", slow_ok) == 7
    with pytest.raises(ServiceUnavailable):
        await guard.call("redis", broken)
    summary = metrics.summary()["redis"]
    assert summary.outcomes == {"error": 1, "ok": 1}
    assert summary.max == pytest.approx(0.25)


async def test_remaining_is_infinite_without_a_deadline():
    guard, _ = make_guard()
    assert math.isinf(guard.remaining())
