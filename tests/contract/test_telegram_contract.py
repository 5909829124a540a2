"""The TelegramApi contract: one behaviour, two adapters.

Every test in the first part runs on HttpTelegramApi against the emulator over
real HTTP on loopback, and on SimTelegramApi against the world in-process. A test
that passes on one and fails on the other means the simulation lies.
"""

from __future__ import annotations

import logging
import socket
import traceback
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx2
import pytest
import trio

from adapters.telegram_http import HttpTelegramApi
from bot.domain import InlineButton, TgUser
from bot.errors import ServiceUnavailable, TelegramConflict, TelegramError, TelegramRetryAfter
from sim.fakes.telegram.limits import IN_FLIGHT_GRACE_S, SendLimits
from sim.fakes.telegram.records import SentRecord
from sim.simulator.faults.kinds.botapi_error import BotApiErrorFault
from sim.simulator.faults.kinds.botapi_no_response import BotApiNoResponseFault

from .telegram_fixtures import (
    TOKEN,
    WRONG_TOKEN,
    TelegramHarness,
    telegram_harness,  # noqa: F401  (the `telegram` fixture)
)

E = TypeVar("E", bound=BaseException)

ALICE = TgUser(id=1001, language_code="ru", first_name="Alice", username="alice")
BOB = TgUser(id=1002, language_code="en", first_name="Bob")
KEYBOARD = (
    (InlineButton("English", "lang:en"), InlineButton("Русский", "lang:ru")),
    (InlineButton("Cancel", "cancel"),),
)
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + (640).to_bytes(4, "big") + (480).to_bytes(4, "big") + b"\x08\x02"
)
SECRETS = (TOKEN, WRONG_TOKEN, TOKEN.split(":")[1], WRONG_TOKEN.split(":")[1])


def assert_no_token(exc: BaseException) -> None:
    """Neither token (nor its secret half) in the error, its chain, or its formatted traceback."""
    texts = ["".join(traceback.format_exception(exc))]
    seen: BaseException | None = exc
    while seen is not None:
        texts += [str(seen), repr(seen), *(str(arg) for arg in seen.args)]
        seen = seen.__cause__ or seen.__context__
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


async def fails(exc_type: type[E], call: Awaitable[object]) -> E:
    with pytest.raises(exc_type) as info:
        await call
    assert_no_token(info.value)
    return info.value


async def wait_until(condition: Callable[[], object]) -> None:
    with trio.fail_after(10):
        while not condition():
            await trio.sleep(0.005)


async def open_chat(t: TelegramHarness, user: TgUser = ALICE) -> int:
    """The user writes first (a bot cannot start a chat); the update is confirmed."""
    t.world.user_sends_text(user, user.id, "/start")
    updates = await t.api.get_updates(None, 0)
    await t.api.get_updates(updates[-1].update_id + 1, 0)
    return user.id


def bot_records(t: TelegramHarness, chat_id: int) -> list[SentRecord]:
    return t.world.sent_to(chat_id)


# ---------------------------------------------------------------- updates


async def test_updates_arrive_in_order_and_stay_until_confirmed(telegram: TelegramHarness) -> None:
    telegram.world.user_sends_text(ALICE, ALICE.id, "/start")
    telegram.world.user_sends_text(BOB, BOB.id, "hello")

    first = await telegram.api.get_updates(None, 0)
    assert [u.message.text for u in first if u.message] == ["/start", "hello"]
    assert first[0].update_id < first[1].update_id
    assert first[0].chat_id == ALICE.id
    assert first[0].user == ALICE
    assert first[1].user == BOB

    again = await telegram.api.get_updates(None, 0)
    assert [u.update_id for u in again] == [u.update_id for u in first]

    rest = await telegram.api.get_updates(first[0].update_id + 1, 0)
    assert [u.update_id for u in rest] == [first[1].update_id]
    assert await telegram.api.get_updates(first[1].update_id + 1, 0) == []
    assert telegram.world.pending_updates == 0


async def test_get_updates_honours_limit(telegram: TelegramHarness) -> None:
    for n in range(3):
        telegram.world.user_sends_text(ALICE, ALICE.id, f"m{n}")
    updates = await telegram.api.get_updates(None, 0, limit=2)
    assert [u.message.text for u in updates if u.message] == ["m0", "m1"]


async def test_long_poll_returns_when_an_update_arrives(
    telegram: TelegramHarness, nursery: trio.Nursery
) -> None:
    received: list[str] = []
    done = trio.Event()

    async def poll() -> None:
        updates = await telegram.api.get_updates(None, 30)
        received.extend(u.message.text or "" for u in updates if u.message)
        done.set()

    nursery.start_soon(poll)
    await wait_until(lambda: telegram.world.calls["getUpdates"] == 1)
    assert not done.is_set()
    telegram.world.user_sends_text(ALICE, ALICE.id, "ping")
    with trio.fail_after(10):
        await done.wait()
    assert received == ["ping"]


async def test_long_poll_times_out_empty(telegram: TelegramHarness) -> None:
    assert await telegram.api.get_updates(None, 1) == []


# ---------------------------------------------------------------- messages


async def test_send_message_with_buttons(telegram: TelegramHarness) -> None:
    chat = await open_chat(telegram)
    sent = await telegram.api.send_message(chat, "<b>Choose</b> a language", reply_markup=KEYBOARD)
    assert sent.chat_id == chat
    assert sent.message_id > 1  # the user's /start took id 1 in this chat

    [record] = bot_records(telegram, chat)
    assert record.kind == "message"
    assert record.message_id == sent.message_id
    assert record.text == "<b>Choose</b> a language"
    assert record.parse_mode == "HTML"
    assert record.reply_markup == KEYBOARD

    plain = await telegram.api.send_message(chat, "1 < 2", parse_mode=None)
    assert plain.message_id == sent.message_id + 1
    assert bot_records(telegram, chat)[-1].parse_mode is None


async def test_send_message_is_validated_like_the_bot_api(telegram: TelegramHarness) -> None:
    api = telegram.api
    err = await fails(TelegramError, api.send_message(4242, "hi"))
    assert (err.error_code, err.description) == (400, "Bad Request: chat not found")

    chat = await open_chat(telegram)
    err = await fails(TelegramError, api.send_message(chat, ""))
    assert (err.error_code, err.description) == (400, "Bad Request: message text is empty")
    err = await fails(TelegramError, api.send_message(chat, "x" * 4097))
    assert (err.error_code, err.description) == (400, "Bad Request: message is too long")
    err = await fails(TelegramError, api.send_message(chat, "<b>unclosed"))
    assert err.error_code == 400 and err.description.startswith("Bad Request: can't parse entities")
    err = await fails(TelegramError, api.send_message(chat, "file <data>.csv"))
    assert (
        err.description == 'Bad Request: can\'t parse entities: Unsupported start tag "data" at byte offset 5'
    )
    assert bot_records(telegram, chat) == []

    await api.send_message(chat, "x" * 4096)
    await api.send_message(chat, "1 &lt; 2 &amp;&amp; <b>&quot;ok&quot;</b>")
    assert len(bot_records(telegram, chat)) == 2

    telegram.world.set_blocked(chat)
    err = await fails(TelegramError, api.send_message(chat, "still there?"))
    assert err.error_code == 403


async def test_edit_message_text(telegram: TelegramHarness) -> None:
    chat = await open_chat(telegram)
    sent = await telegram.api.send_message(chat, "Choose", reply_markup=KEYBOARD)
    await telegram.api.edit_message_text(chat, sent.message_id, "Chosen: <i>English</i>")

    edit = bot_records(telegram, chat)[-1]
    assert (edit.kind, edit.message_id, edit.text) == ("edit", sent.message_id, "Chosen: <i>English</i>")
    assert edit.reply_markup is None  # no markup in the edit removes the keyboard

    err = await fails(
        TelegramError, telegram.api.edit_message_text(chat, sent.message_id, "Chosen: <i>English</i>")
    )
    assert err.error_code == 400 and "message is not modified" in err.description
    err = await fails(TelegramError, telegram.api.edit_message_text(chat, 999, "x"))
    assert err.description == "Bad Request: message to edit not found"


async def test_button_press_and_callback_answer(telegram: TelegramHarness) -> None:
    chat = await open_chat(telegram)
    sent = await telegram.api.send_message(chat, "Language?", reply_markup=KEYBOARD)
    action = telegram.world.user_presses_button(ALICE, chat, sent.message_id, "lang:ru")

    [update] = await telegram.api.get_updates(None, 0)
    query = update.callback_query
    assert query is not None and update.message is None
    assert (query.id, query.data) == (action.callback_query_id, "lang:ru")
    assert (query.chat_id, query.message_id) == (chat, sent.message_id)
    assert query.from_user == ALICE
    assert update.chat_id == chat

    await telegram.api.answer_callback_query(query.id, "Готово")
    answer = bot_records(telegram, chat)[-1]
    assert (answer.kind, answer.callback_query_id, answer.text) == ("callback_answer", query.id, "Готово")

    err = await fails(TelegramError, telegram.api.answer_callback_query(query.id))
    assert err.error_code == 400 and "query ID is invalid" in err.description


# ---------------------------------------------------------------- files


async def test_user_document_can_be_fetched_and_downloaded(telegram: TelegramHarness) -> None:
    data = "город;сумма\nМосква;10\n".encode("cp1251") + bytes(range(256))
    telegram.world.user_sends_document(ALICE, ALICE.id, "продажи 2024.csv", data, caption="за год")

    [update] = await telegram.api.get_updates(None, 0)
    message = update.message
    assert message is not None and message.document is not None
    doc = message.document
    assert (doc.file_name, doc.file_size, doc.mime_type) == (
        "продажи 2024.csv",
        len(data),
        "text/comma-separated-values",
    )
    assert message.caption == "за год"

    tg_file = await telegram.api.get_file(doc.file_id)
    assert tg_file.file_id == doc.file_id
    assert tg_file.file_size == len(data)
    assert tg_file.file_path
    assert await telegram.api.download_file(tg_file.file_path) == data


async def test_files_over_20_mb_cannot_be_fetched(telegram: TelegramHarness) -> None:
    big = b"a,b\n" * (5 * 1024 * 1024 + 1)
    telegram.world.user_sends_document(ALICE, ALICE.id, "huge.csv", big)
    [update] = await telegram.api.get_updates(None, 0)
    assert update.message is not None and update.message.document is not None
    assert update.message.document.file_size == len(big)

    err = await fails(TelegramError, telegram.api.get_file(update.message.document.file_id))
    assert (err.error_code, err.description) == (400, "Bad Request: file is too big")

    err = await fails(TelegramError, telegram.api.get_file("no-such-file"))
    assert (err.error_code, err.description) == (400, "Bad Request: invalid file_id")
    err = await fails(TelegramError, telegram.api.download_file("documents/no_such_file.csv"))
    assert err.error_code == 404


async def test_sent_documents_and_photos_are_recorded_with_their_bytes(telegram: TelegramHarness) -> None:
    chat = await open_chat(telegram)
    report = b"a;b\r\n1;=cmd\r\n\x00\xff"
    doc = await telegram.api.send_document(chat, "отчёт 2024.csv", report, caption="Your report")
    photo = await telegram.api.send_photo(chat, "chart.png", PNG, caption="Chart")
    assert photo.message_id == doc.message_id + 1

    doc_record, photo_record = bot_records(telegram, chat)
    assert (doc_record.kind, doc_record.message_id) == ("document", doc.message_id)
    assert (doc_record.file_name, doc_record.data, doc_record.caption) == (
        "отчёт 2024.csv",
        report,
        "Your report",
    )
    assert (photo_record.kind, photo_record.message_id) == ("photo", photo.message_id)
    assert (photo_record.data, photo_record.caption) == (PNG, "Chart")

    err = await fails(TelegramError, telegram.api.send_photo(chat, "chart.png", b"not an image"))
    assert err.error_code == 400
    err = await fails(TelegramError, telegram.api.send_document(chat, "empty.csv", b""))
    assert (err.error_code, err.description) == (400, "Bad Request: file must be non-empty")
    assert len(bot_records(telegram, chat)) == 2


async def test_captions_are_held_to_1024_characters(telegram: TelegramHarness) -> None:
    chat = await open_chat(telegram)
    api = telegram.api
    err = await fails(TelegramError, api.send_document(chat, "r.csv", b"a\n1", caption="c" * 1025))
    assert (err.error_code, err.description) == (400, "Bad Request: message caption is too long")
    err = await fails(TelegramError, api.send_photo(chat, "chart.png", PNG, caption="c" * 1025))
    assert (err.error_code, err.description) == (400, "Bad Request: message caption is too long")
    assert bot_records(telegram, chat) == []
    await api.send_document(chat, "r.csv", b"a\n1", caption="c" * 1024)
    await api.send_photo(chat, "chart.png", PNG, caption="😀" * 512)  # 1024 UTF-16 code units
    assert len(bot_records(telegram, chat)) == 2


async def test_edits_are_held_to_4096_characters_too(telegram: TelegramHarness) -> None:
    chat = await open_chat(telegram)
    sent = await telegram.api.send_message(chat, "short")
    err = await fails(TelegramError, telegram.api.edit_message_text(chat, sent.message_id, "x" * 4097))
    assert (err.error_code, err.description) == (400, "Bad Request: message is too long")
    await telegram.api.edit_message_text(chat, sent.message_id, "<b>" + "x" * 4096 + "</b>")  # tags are free


# ---------------------------------------------------------------- Telegram's flood limits


async def test_one_chat_gets_a_short_burst_then_429_with_retry_after(telegram: TelegramHarness) -> None:
    chat = await open_chat(telegram)
    # One message per 5 s rather than Telegram's 1 s, so that a slow loopback cannot
    # refill the bucket mid-burst (the rates themselves: tests/unit/test_botapi_limits.py).
    telegram.world.limits = SendLimits(chat_per_s=0.2)
    for n in range(5):
        await telegram.api.send_message(chat, f"burst {n}")
    err = await fails(TelegramRetryAfter, telegram.api.send_message(chat, "one too many"))
    assert err.error_code == 429 and 1 <= (err.retry_after or 0) <= 5
    assert err.description == f"Too Many Requests: retry after {int(err.retry_after or 0)}"
    assert len(bot_records(telegram, chat)) == 5


async def test_the_whole_bot_has_one_budget_across_chats(telegram: TelegramHarness) -> None:
    users = [TgUser(id=2000 + n, first_name=f"u{n}") for n in range(11)]
    chats = [await open_chat(telegram, user) for user in users]
    telegram.world.limits = SendLimits(global_per_s=0.2)  # Telegram's 30/s, slowed as above
    for chat in chats[:10]:  # one message to each of ten chats: the bot-wide burst
        await telegram.api.send_message(chat, "hi")
    err = await fails(TelegramRetryAfter, telegram.api.send_message(chats[10], "hi"))
    assert 1 <= (err.retry_after or 0) <= 5
    assert bot_records(telegram, chats[10]) == []


async def test_a_group_gets_20_messages_a_minute(telegram: TelegramHarness) -> None:
    group = -100_200
    telegram.world.user_sends_text(ALICE, group, "/start")
    await open_chat(telegram)  # confirms the group's update too
    # Per-chat and bot-wide bursts wide enough that only the group's own limit binds.
    telegram.world.limits = SendLimits(chat_per_s=100.0, chat_burst=100, global_burst=100)
    for n in range(20):
        await telegram.api.send_message(group, f"group {n}")
    err = await fails(TelegramRetryAfter, telegram.api.send_message(group, "21st"))
    assert err.error_code == 429 and 55 <= (err.retry_after or 0) <= 60  # until the first leaves the minute
    assert len(bot_records(telegram, group)) == 20
    private = await open_chat(telegram, BOB)
    for n in range(21):  # a private chat is not held to the group's minute
        await telegram.api.send_message(private, f"private {n}")


async def test_a_send_before_retry_after_gets_a_longer_wait(telegram: TelegramHarness) -> None:
    chat = await open_chat(telegram)
    telegram.world.limits = limits = SendLimits()
    telegram.world.inject(
        "sendMessage",
        BotApiErrorFault(error_code=429, description="Too Many Requests: retry after 7", retry_after=7),
    )
    err = await fails(TelegramRetryAfter, telegram.api.send_message(chat, "hi"))
    assert err.retry_after == 7
    await trio.sleep(IN_FLIGHT_GRACE_S + 0.1)  # past the grace for sends already on the wire
    err = await fails(TelegramRetryAfter, telegram.api.send_message(chat, "not waiting"))
    assert (err.retry_after or 0) > 7  # twice what was left
    assert limits.ignored_retry_after == 1
    assert bot_records(telegram, chat) == []


# ---------------------------------------------------------------- failures


async def test_flood_limit_maps_to_retry_after(telegram: TelegramHarness) -> None:
    chat = await open_chat(telegram)
    telegram.world.inject(
        "sendMessage",
        BotApiErrorFault(error_code=429, description="Too Many Requests: retry after 7", retry_after=7),
    )
    err = await fails(TelegramRetryAfter, telegram.api.send_message(chat, "hi"))
    assert (err.error_code, err.retry_after) == (429, 7)
    assert err.description == "Too Many Requests: retry after 7"
    assert bot_records(telegram, chat) == []

    await telegram.api.send_message(chat, "hi")
    assert [r.text for r in bot_records(telegram, chat)] == ["hi"]


async def test_webhook_conflict_maps_to_telegram_conflict(telegram: TelegramHarness) -> None:
    telegram.world.set_webhook_conflict(True)
    err = await fails(TelegramConflict, telegram.api.get_updates(None, 0))
    assert err.error_code == 409
    telegram.world.set_webhook_conflict(False)
    assert await telegram.api.get_updates(None, 0) == []

    telegram.world.inject("getUpdates", BotApiErrorFault(error_code=409, description="Conflict: injected"))
    err = await fails(TelegramConflict, telegram.api.get_updates(None, 0))
    assert err.description == "Conflict: injected"


async def test_a_second_poller_terminates_the_first(telegram: TelegramHarness, nursery: trio.Nursery) -> None:
    conflicts: list[TelegramConflict] = []

    async def first_instance() -> None:
        try:
            await telegram.api.get_updates(None, 30)
        except TelegramConflict as exc:
            conflicts.append(exc)

    nursery.start_soon(first_instance)
    await wait_until(lambda: telegram.world.calls["getUpdates"] == 1)
    second_instance = telegram.make_api(TOKEN)
    assert await second_instance.get_updates(None, 0) == []
    await wait_until(lambda: conflicts)
    assert "terminated by other getUpdates request" in conflicts[0].description
    assert_no_token(conflicts[0])


async def test_lost_answers_map_to_service_unavailable(telegram: TelegramHarness) -> None:
    chat = await open_chat(telegram)
    telegram.world.inject("sendMessage", BotApiNoResponseFault())
    err = await fails(ServiceUnavailable, telegram.api.send_message(chat, "lost before"))
    assert err.service == "telegram"
    assert bot_records(telegram, chat) == []

    telegram.world.inject("sendMessage", BotApiNoResponseFault(phase="after"))
    await fails(ServiceUnavailable, telegram.api.send_message(chat, "sent, answer lost"))
    assert [r.text for r in bot_records(telegram, chat)] == ["sent, answer lost"]

    telegram.world.inject("downloadFile", BotApiNoResponseFault())
    await fails(ServiceUnavailable, telegram.api.download_file("documents/file_1.csv"))


async def test_wrong_token_is_unauthorized(telegram: TelegramHarness) -> None:
    chat = await open_chat(telegram)
    intruder = telegram.make_api(WRONG_TOKEN)
    calls_before = dict(telegram.world.calls)
    attempts: list[Callable[[], Awaitable[object]]] = [
        lambda: intruder.get_updates(None, 0),
        lambda: intruder.send_message(chat, "hi"),
        lambda: intruder.send_document(chat, "a.csv", b"a"),
        lambda: intruder.answer_callback_query("1"),
        lambda: intruder.get_file("x"),
        lambda: intruder.download_file("documents/file_1.csv"),
    ]
    for attempt in attempts:
        err = await fails(TelegramError, attempt())
        assert (err.error_code, err.description) == (401, "Unauthorized")
    assert dict(telegram.world.calls) == calls_before
    assert bot_records(telegram, chat) == []


async def test_adapters_never_show_the_token(telegram: TelegramHarness) -> None:
    for api in (telegram.api, telegram.make_api(WRONG_TOKEN)):
        for secret in SECRETS:
            assert secret not in repr(api)
            assert secret not in str(api)


# ---------------------------------------------------------------- the HTTP adapter alone


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_http_network_errors_map_to_service_unavailable_without_the_token() -> None:
    api = HttpTelegramApi(TOKEN, f"http://127.0.0.1:{closed_port()}")
    try:
        err = await fails(ServiceUnavailable, api.send_message(1, "hi"))
        assert err.service == "telegram" and "sendMessage" in str(err)
        await fails(ServiceUnavailable, api.download_file("documents/file_1.csv"))
    finally:
        await api.aclose()


async def test_http_non_json_answers_map_by_status() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith("/getFile"):
            return httpx2.Response(503, text="<html>maintenance</html>")
        if request.url.path.endswith("/sendMessage"):
            return httpx2.Response(200, json={"ok": True, "result": {"unexpected": 1}})
        return httpx2.Response(404, text="not here")

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as client:
        api = HttpTelegramApi(TOKEN, "http://telegram.test", client)
        try:
            await fails(ServiceUnavailable, api.get_file("x"))
            await fails(ServiceUnavailable, api.send_message(1, "hi"))  # malformed result
            err = await fails(TelegramError, api.answer_callback_query("1"))
            assert err.error_code == 404
        finally:
            await api.aclose()


async def test_http_request_logs_are_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json={"ok": True, "result": []})

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as client:
        apis = [HttpTelegramApi(token, "http://telegram.test", client) for token in (TOKEN, WRONG_TOKEN)]
        try:
            # The bot's logging set-up quiets httpx2 to WARNING (another test may have run
            # it); here its request lines are wanted, to see them scrubbed.
            with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="httpx2"):
                for api in apis:
                    assert await api.get_updates(None, 0) == []
        finally:
            for api in apis:
                await api.aclose()
    assert "getUpdates" in caplog.text  # httpx2 did log the requests...
    for secret in SECRETS:
        assert secret not in caplog.text  # ...without the token
