import random

import pytest
import trio

from bot.errors import ServiceUnavailable, TelegramError
from bot.retry import retry_transient


class SeededClock:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def now(self):  # pragma: no cover - not used here
        raise NotImplementedError

    def new_id(self):  # pragma: no cover - not used here
        raise NotImplementedError

    def random(self) -> float:
        return self.rng.random()


async def test_transient_failures_are_retried_until_success(autojump_clock):
    calls = []

    async def flaky() -> str:
        calls.append(trio.current_time())
        if len(calls) < 3:
            raise ServiceUnavailable("storage")
        return "ok"

    assert await retry_transient(flaky, clock=SeededClock(1), base_s=0.5, max_attempts=5) == "ok"
    assert len(calls) == 3


async def test_permanent_errors_are_not_retried(autojump_clock):
    calls = 0

    async def refuse() -> None:
        nonlocal calls
        calls += 1
        raise TelegramError(400, "Bad Request")

    with pytest.raises(TelegramError):
        await retry_transient(refuse, clock=SeededClock(1), base_s=0.5, max_attempts=5)
    assert calls == 1


async def test_no_retry_starts_past_the_callers_deadline(autojump_clock):
    calls = 0

    async def down() -> None:
        nonlocal calls
        calls += 1
        raise ServiceUnavailable("storage")

    start = trio.current_time()
    with trio.fail_after(2.0), pytest.raises(ServiceUnavailable):
        await retry_transient(down, clock=SeededClock(3), base_s=1.0, max_attempts=50, cap_s=1.0)
    # it gave up by itself, inside the 2 s budget, instead of being cancelled
    assert trio.current_time() - start < 2.0
    assert 1 < calls < 50
