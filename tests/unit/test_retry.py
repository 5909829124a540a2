"""Retries by operation policy (bot.guard.Guard.retrying over stamina), on a virtual clock."""

import pytest
import trio

from bot.errors import ServiceUnavailable, TelegramError, TelegramRetryAfter
from bot.guard import Guard
from bot.metrics import MetricsRecorder
from bot.policy import Retry
from bot.settings import Settings


def make_guard(**retries: Retry) -> tuple[Guard, MetricsRecorder]:
    metrics = MetricsRecorder()
    return Guard(Settings().with_retries(**retries), metrics), metrics


async def test_transient_failures_are_retried_until_success(autojump_clock):
    guard, metrics = make_guard(storage__upload=Retry(attempts=5, wait_initial=0.5))
    calls = []

    async def flaky() -> str:
        calls.append(trio.current_time())
        if len(calls) < 3:
            raise ServiceUnavailable("storage")
        return "ok"

    assert await guard.retrying("storage.upload", flaky) == "ok"
    assert len(calls) == 3
    assert calls[1] - calls[0] >= 0.5 and calls[2] - calls[1] >= 1.0  # exponential backoff
    assert metrics.snapshot().counter("retries", "storage.upload") == 2


async def test_attempts_come_from_the_policy(autojump_clock):
    guard, _ = make_guard(storage__upload=Retry(attempts=3))
    calls = 0

    async def down() -> None:
        nonlocal calls
        calls += 1
        raise ServiceUnavailable("storage")

    with pytest.raises(ServiceUnavailable):
        await guard.retrying("storage.upload", down)
    assert calls == 3


async def test_permanent_errors_are_not_retried(autojump_clock):
    guard, _ = make_guard()
    calls = 0

    async def refuse() -> None:
        nonlocal calls
        calls += 1
        raise TelegramError(400, "Bad Request")

    with pytest.raises(TelegramError):
        await guard.retrying("telegram.call", refuse)
    assert calls == 1


async def test_a_429_waits_exactly_retry_after(autojump_clock):
    guard, _ = make_guard()
    calls: list[float] = []

    async def throttled() -> str:
        calls.append(trio.current_time())
        if len(calls) == 1:
            raise TelegramRetryAfter("Too Many Requests", 7.0)
        return "sent"

    assert await guard.retrying("telegram.call", throttled) == "sent"
    assert calls[1] - calls[0] == pytest.approx(7.0)


async def test_no_retry_starts_past_the_callers_deadline(autojump_clock):
    guard, _ = make_guard(storage__upload=Retry(attempts=50, wait_initial=1.0, wait_max=1.0))
    calls = 0

    async def down() -> None:
        nonlocal calls
        calls += 1
        raise ServiceUnavailable("storage")

    start = trio.current_time()
    with trio.fail_after(5.0), pytest.raises(ServiceUnavailable):
        await guard.retrying("storage.upload", down)
    # it gave up by itself, inside the 5 s budget, instead of being cancelled
    assert trio.current_time() - start < 5.0
    assert 1 < calls < 50
