"""/forget leaves nothing of the user: every table is searched for the user's ids and
the storage listed, on real Postgres with the local blob store, and on the in-memory
twins. Another user's data stays, so the search is not looking at an empty store.

The user has a profile, a rejected file still kept (``rejected_retention_h``), an open
column picker (conversation state) and a stray file in their folder with no row (a
worker stored it after its upload was deleted).

Kept on purpose: the admin audit log (a security record, never touched by /forget) and
update ids in ``processed_updates`` (numbers of Telegram's, no user in them).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import pytest
import trio
from tests.flows.harness import Chat

from adapters.local_blobs import LocalBlobStore
from bot.app import Roles, run_bot
from bot.domain import TgUser
from bot.ports import BlobStore, Repository
from contract.pg_fixtures import Backend, aio_loop, open_backend
from sim.fakes.repository import MemoryRepository
from sim.fakes.telegram.world import BotApiWorld
from sim.simulator.compose import SIM_TOKEN, SimStack, build_stack
from sim.simulator.kernel.rng import RngStreams
from sim.simulator.scenario import parse_scenario

__all__ = ["aio_loop"]  # fixture, imported for pytest

SALES = b"date,region,amount\n2024-01-01,North,10.5\n2024-01-02,South,7.25\n2024-01-03,North,3\n" * 5
LEAVER, STAYER = 770_001, 770_002
KEPT_TABLES = {"admin_audit", "schema_migrations"}


@asynccontextmanager
async def bot_on(
    repo: Repository | None, blobs: BlobStore | None
) -> AsyncIterator[tuple[BotApiWorld, SimStack]]:
    """The real bot core on the simulated Telegram, with the given repository and store."""
    scenario = parse_scenario({"scenario": {"name": "forget", "seed": 1}})
    world = BotApiWorld(SIM_TOKEN)
    stack = build_stack(world, scenario, RngStreams(1), trio.lowlevel.current_clock())  # type: ignore[arg-type]
    services = replace(stack.services, repo=repo or stack.services.repo, blobs=blobs or stack.services.blobs)
    stack.services = services  # what the test reads is what the bot writes
    settings = scenario.bot.build_settings().model_copy(update={"rejected_retention_h": 1.0})
    async with trio.open_nursery() as nursery:
        handle = await nursery.start(
            lambda task_status: run_bot(
                services, settings, roles=Roles(name="forget"), task_status=task_status
            )
        )
        yield world, stack
        handle.stop()


async def answers(world: BotApiWorld, chat_id: int, after: int, count: int) -> None:
    with trio.fail_after(60):
        while len([r for r in world.records_after(after, chat_id) if r.kind == "message"]) < count:
            await world.wait_for_records(chat_id, world.last_seq, 5.0)


async def leave_traces(world: BotApiWorld, stack: SimStack, blobs: BlobStore) -> list[str]:
    """Give both users data; the leaver also a kept rejected file, state and a stray file.
    Returns the leaver's upload and job ids."""
    leaver = Chat(world, stack, TgUser(id=LEAVER, language_code="en"))
    stayer = Chat(world, stack, TgUser(id=STAYER, language_code="en"))
    for c in (leaver, stayer):
        seq = c.upload("sales.csv", SALES)
        await c.with_buttons(seq, "h:")
    seq = leaver.upload("empty.csv", b"\n")  # rejected: its file is kept for an hour
    await answers(world, LEAVER, seq, 2)  # the receipt and the refusal
    seq = leaver.say("/history")
    history = await leaver.with_buttons(seq, "p:")
    seq = leaver.press(history, history.button_data[1])  # sales.csv (the newest, empty.csv, is first)
    reopened = await leaver.with_buttons(seq, "h:")
    group_by = next(d for d in reopened.button_data if d.startswith("g:"))
    seq = leaver.press(reopened, group_by)
    picker = await leaver.with_buttons(seq, "gb:")
    seq = leaver.press(picker, picker.button_data[0])  # half-way through: state in the store
    await leaver.with_buttons(seq, "gv:")
    await blobs.put(f"{LEAVER}/{uuid.uuid4()}_stray.csv", b"a\n1\n")

    repo = stack.services.repo
    uploads = await repo.list_uploads(LEAVER, 10)
    assert len(uploads) == 2 and sum(u.blob_key is not None for u in uploads) == 2  # the rejected one kept
    ids = [u.upload_id for u in uploads]
    for upload in uploads:
        result = await repo.get_result_for_upload(upload.upload_id)
        if result is not None:
            ids.append(result.job_id)
    assert len(await blobs.list_keys(f"{LEAVER}/")) == 3
    assert await stack.state.get(LEAVER, LEAVER) is not None
    return ids


async def forget(world: BotApiWorld, stack: SimStack) -> None:
    leaver = Chat(world, stack, TgUser(id=LEAVER, language_code="en"))
    seq = leaver.say("/forget")
    confirm = await leaver.with_buttons(seq, "fy:")
    seq = leaver.press(confirm, "fy:all")
    done = await leaver.next(seq, lambda r: r.kind == "message")
    assert "2 uploads" in (done.text or "")


def mentions(text: str, ids: list[str]) -> list[str]:
    """Which of the user's ids ``text`` holds: the user id as a whole number, the others anywhere."""
    found = [str(LEAVER)] if re.search(rf"(?<![0-9A-Za-z]){LEAVER}(?![0-9A-Za-z])", text) else []
    return found + [i for i in ids if i in text]


async def assert_storage_clean(blobs: BlobStore) -> None:
    keys = await blobs.list_keys("")
    assert [k for k in keys if k.startswith(f"{LEAVER}/")] == []
    assert [k for k in keys if k.startswith(f"{STAYER}/")] != []  # the other user's file stays


Search = Callable[[list[str]], Awaitable[dict[str, list[str]]]]


async def run_forget(repo: Repository | None, blobs: BlobStore | None, search: Search) -> None:
    async with bot_on(repo, blobs) as (world, stack):
        store = stack.services.blobs
        ids = await leave_traces(world, stack, store)
        before = await search(ids)
        assert before, "the search finds the user's data before /forget"
        await forget(world, stack)
        assert await search(ids) == {}
        await assert_storage_clean(store)
        assert await stack.state.get(LEAVER, LEAVER) is None
        assert await stack.services.repo.list_uploads(STAYER, 10) != []


async def test_forget_leaves_nothing_in_memory(autojump_clock: object) -> None:
    repo = MemoryRepository(4)

    async def search(ids: list[str]) -> dict[str, list[str]]:
        # Every table of the in-memory repository is one of its containers.
        hits: dict[str, list[str]] = {}
        for name, value in vars(repo).items():
            if isinstance(value, (dict, list)) and (found := mentions(repr(value), ids)):
                hits[name] = found
        hits.pop("_audit", None)
        return hits

    await run_forget(repo, None, search)


@pytest.mark.services
async def test_forget_leaves_nothing_in_postgres_and_on_disk(tmp_path: Path, aio_loop: None) -> None:
    async with open_backend("postgres") as backend:
        await run_forget(backend.repo, LocalBlobStore(tmp_path / "blobs"), partial_search(backend))
    leftovers = [p.relative_to(tmp_path).as_posix() for p in (tmp_path / "blobs").rglob("*")]
    assert not [p for p in leftovers if str(LEAVER) in p], "not even the user's folder stays"


def partial_search(backend: Backend) -> Search:
    async def search(ids: list[str]) -> dict[str, list[str]]:
        assert backend.admin is not None and backend.schema is not None
        tables = await backend.admin.rows(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1",
            (backend.schema,),
        )
        assert {"users", "uploads", "jobs", "results"} <= {t for (t,) in tables}
        hits: dict[str, list[str]] = {}
        for (table,) in tables:
            if table in KEPT_TABLES:
                continue
            rows = await backend.admin.rows(
                f'SELECT row_to_json(r)::text FROM "{backend.schema}"."{table}" r'
            )
            found = sorted({m for (text,) in rows for m in mentions(text, ids)})
            if found:
                hits[table] = found
        return hits

    return search
