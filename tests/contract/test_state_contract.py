"""Contract of bot.ports.ConversationStore: Redis and the in-memory twin."""

from __future__ import annotations

import pytest
import trio

from adapters.redis_client import RedisClient
from adapters.redis_state import RedisConversationStore
from bot.errors import ServiceUnavailable

from .kv_fixtures import StateHarness, kv_clock, kv_kind, state

__all__ = ["kv_clock", "kv_kind", "state"]  # fixtures, imported for pytest


async def test_get_of_unknown_conversation_is_none(state: StateHarness) -> None:
    assert await state.store.get(1, 2) is None


async def test_set_then_get_returns_the_data(state: StateHarness) -> None:
    data = {"step": "await_column", "columns": ["цена", "qty"], "n": 3, "nested": {"ok": True}}
    await state.store.set(10, 20, data, ttl_s=60)
    assert await state.store.get(10, 20) == data


async def test_set_overwrites(state: StateHarness) -> None:
    await state.store.set(10, 20, {"step": "a"}, ttl_s=60)
    await state.store.set(10, 20, {"step": "b"}, ttl_s=60)
    assert await state.store.get(10, 20) == {"step": "b"}


async def test_conversations_are_per_chat_and_user(state: StateHarness) -> None:
    await state.store.set(10, 20, {"who": "a"}, ttl_s=60)
    await state.store.set(10, 21, {"who": "b"}, ttl_s=60)
    await state.store.set(11, 20, {"who": "c"}, ttl_s=60)
    assert await state.store.get(10, 20) == {"who": "a"}
    assert await state.store.get(10, 21) == {"who": "b"}
    assert await state.store.get(11, 20) == {"who": "c"}


async def test_clear_forgets_and_clearing_twice_is_fine(state: StateHarness) -> None:
    await state.store.set(10, 20, {"step": "a"}, ttl_s=60)
    await state.store.clear(10, 20)
    assert await state.store.get(10, 20) is None
    await state.store.clear(10, 20)
    assert await state.store.get(10, 20) is None


async def test_returned_data_is_a_copy(state: StateHarness) -> None:
    await state.store.set(10, 20, {"items": [1]}, ttl_s=60)
    got = await state.store.get(10, 20)
    assert got is not None
    got["items"].append(2)
    assert await state.store.get(10, 20) == {"items": [1]}


async def test_value_that_is_not_json_is_refused_and_nothing_is_stored(state: StateHarness) -> None:
    with pytest.raises(TypeError):
        await state.store.set(10, 20, {"bad": object()}, ttl_s=60)
    assert await state.store.get(10, 20) is None


async def test_ttl_below_one_second_is_refused(state: StateHarness) -> None:
    with pytest.raises(ValueError):
        await state.store.set(10, 20, {"a": 1}, ttl_s=0)


async def test_state_expires_after_its_ttl(state: StateHarness, kv_clock: object) -> None:
    # The twin runs on a MockClock (this sleep is virtual); Redis on the real clock.
    await state.store.set(10, 20, {"step": "a"}, ttl_s=1)
    assert await state.store.get(10, 20) == {"step": "a"}
    await trio.sleep(1.5)
    assert await state.store.get(10, 20) is None


async def test_longer_ttl_outlives_a_shorter_one(state: StateHarness, kv_clock: object) -> None:
    await state.store.set(10, 20, {"short": True}, ttl_s=1)
    await state.store.set(10, 21, {"long": True}, ttl_s=30)
    await trio.sleep(1.5)
    assert await state.store.get(10, 20) is None
    assert await state.store.get(10, 21) == {"long": True}


async def test_losing_everything_only_loses_state(state: StateHarness) -> None:
    await state.store.set(10, 20, {"step": "a"}, ttl_s=60)
    await state.lose_everything()
    assert await state.store.get(10, 20) is None
    await state.store.set(10, 20, {"step": "b"}, ttl_s=60)
    assert await state.store.get(10, 20) == {"step": "b"}


async def test_redis_that_cannot_be_reached_is_service_unavailable() -> None:
    client = RedisClient("redis://127.0.0.1:1/0")  # nothing listens on port 1
    store = RedisConversationStore(client, prefix="unreachable:")
    try:
        with pytest.raises(ServiceUnavailable) as info:
            await store.get(1, 2)
        assert info.value.service == "redis"
        with pytest.raises(ServiceUnavailable):
            await client.ping()
    finally:
        await client.aclose()


async def test_a_marker_is_set_once_until_it_expires(state: StateHarness, kv_clock: object) -> None:
    assert await state.store.is_marked("told:7") is False
    assert await state.store.is_marked("told:7") is False  # reading sets nothing
    assert await state.store.mark("told:7", ttl_s=1) is True
    assert await state.store.is_marked("told:7") is True
    assert await state.store.mark("told:7", ttl_s=1) is False
    assert await state.store.mark("told:8", ttl_s=1) is True
    assert await state.store.get(7, 7) is None  # markers are not conversations
    await trio.sleep(1.5)
    assert await state.store.is_marked("told:7") is False  # expired
    assert await state.store.mark("told:7", ttl_s=1) is True


async def test_kept_updates_live_until_dropped_or_expired(state: StateHarness, kv_clock: object) -> None:
    store = state.store
    assert await store.kept_updates() == {}
    await store.keep_updates({7: '{"update_id":7}', 9: '{"update_id":9}'}, ttl_s=2)
    await store.keep_updates({}, ttl_s=2)  # nothing to keep: nothing changes
    await store.keep_updates({12: '{"update_id":12,"x":"\u00e9"}'}, ttl_s=2)
    assert await store.kept_updates() == {
        7: '{"update_id":7}',
        9: '{"update_id":9}',
        12: '{"update_id":12,"x":"\u00e9"}',
    }
    await store.drop_updates([9, 404])
    await store.drop_updates([])
    assert sorted(await store.kept_updates()) == [7, 12]
    await trio.sleep(1.5)
    await store.keep_updates({13: "{}"}, ttl_s=2)  # a write renews every kept update
    await trio.sleep(1.0)
    assert sorted(await store.kept_updates()) == [7, 12, 13]
    await trio.sleep(1.5)
    assert await store.kept_updates() == {}
