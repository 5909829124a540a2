"""The Bot API emulator: world semantics on a virtual clock, HTML checks, the control API, the chat."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
import trio.testing

from adapters.telegram_http import HttpTelegramApi
from bot.domain import TgUser
from bot.errors import TelegramRetryAfter
from sim.emulators.botapi_server import running_emulator
from sim.emulators.chat import ChatView, run_chat, safe_file_name
from sim.emulators.control import ControlError, EmulatorControl
from sim.fakes.telegram.entities import EntityError, html_to_text, strip_html, utf16_len
from sim.fakes.telegram.world import BotApiError, BotApiWorld
from sim.simulator.faults.kinds.botapi_delay import BotApiDelayFault
from sim.simulator.faults.kinds.botapi_error import BotApiErrorFault

TOKEN = "42:world-test-token"
ANN = TgUser(id=7, language_code="en", first_name="Ann")
KEYBOARD = {
    "inline_keyboard": [[{"text": "Yes", "callback_data": "yes"}, {"text": "No", "callback_data": "no"}]]
}


def new_world() -> BotApiWorld:
    return BotApiWorld(TOKEN, now=lambda: 1_000)


# ---------------------------------------------------------------- HTML


@pytest.mark.parametrize(
    ("html", "visible"),
    [
        ("<b>bold</b> and <i>it</i>", "bold and it"),
        ('<a href="https://x.test">link</a>', "link"),
        ("1 &lt; 2 &amp;&amp; 3 &gt; 2 &quot;q&quot; &#65;&#x42;", '1 < 2 && 3 > 2 "q" AB'),
        ("AT&T stays", "AT&T stays"),
        ("<pre><code>x</code></pre>", "x"),
    ],
)
def test_valid_html_gives_visible_text(html: str, visible: str) -> None:
    assert html_to_text(html) == visible


@pytest.mark.parametrize(
    ("html", "fragment"),
    [
        ("a < b", "Unclosed start tag"),
        ("<div>x</div>", 'Unsupported start tag "div"'),
        ("<b>x</i>", 'expected "</b>", found "</i>"'),
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("x</b>", "Unmatched end tag"),
    ],
)
def test_invalid_html_is_refused(html: str, fragment: str) -> None:
    with pytest.raises(EntityError) as info:
        html_to_text(html)
    assert fragment in str(info.value)


def test_lengths_count_utf16_units_and_strip_never_raises() -> None:
    assert utf16_len("😀a") == 3
    assert strip_html("<b>x</b> < y") == "x < y"  # malformed: tags dropped, the rest kept


async def test_length_limit_applies_to_visible_text() -> None:
    world = new_world()
    world.user_sends_text(ANN, ANN.id, "hi")
    await world.send_message(chat_id=ANN.id, text="<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    with pytest.raises(BotApiError, match="message is too long"):
        await world.send_message(chat_id=ANN.id, text="😀" * 2049)
    with pytest.raises(BotApiError, match="unsupported parse_mode"):
        await world.send_message(chat_id=ANN.id, text="x", parse_mode="XML")


# ---------------------------------------------------------------- updates


async def test_negative_offset_keeps_only_the_newest_updates() -> None:
    world = new_world()
    for n in range(4):
        world.user_sends_text(ANN, ANN.id, f"m{n}")
    updates = await world.get_updates(offset=-2)
    assert [u["message"]["text"] for u in updates] == ["m2", "m3"]
    assert world.pending_updates == 2


async def test_allowed_updates_filter_later_updates() -> None:
    world = new_world()
    world.user_sends_text(ANN, ANN.id, "/start")
    await world.get_updates(offset=None, allowed_updates=["callback_query"])
    sent = await world.send_message(chat_id=ANN.id, text="?", reply_markup=KEYBOARD)
    world.user_sends_text(ANN, ANN.id, "ignored")
    world.user_presses_button(ANN, ANN.id, sent["message_id"], "yes")
    kinds = [next(k for k in u if k != "update_id") for u in await world.get_updates()]
    assert kinds == ["message", "callback_query"]  # /start came before the filter


async def test_long_poll_waits_in_virtual_time(autojump_clock: trio.testing.MockClock) -> None:
    world = new_world()
    start = trio.current_time()
    assert await world.get_updates(timeout=25) == []
    assert trio.current_time() - start == pytest.approx(25)

    async def later() -> None:
        await trio.sleep(3)
        world.user_sends_text(ANN, ANN.id, "late")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(later)
        start = trio.current_time()
        updates = await world.get_updates(timeout=25)
    assert [u["message"]["text"] for u in updates] == ["late"]
    assert trio.current_time() - start == pytest.approx(3)


async def test_bot_api_results_are_deterministic() -> None:
    async def script() -> list[object]:
        world = new_world()
        out: list[object] = []
        world.user_sends_text(ANN, ANN.id, "/start")
        world.user_sends_document(ANN, ANN.id, "a.csv", b"x,y\n1,2\n")
        out.append(await world.get_updates())
        sent = await world.send_message(
            chat_id=ANN.id, text="<b>ok</b>", parse_mode="HTML", reply_markup=KEYBOARD
        )
        out.append(sent)
        out.append(await world.send_document(chat_id=ANN.id, file_name="r.csv", data=b"r"))
        world.user_presses_button(ANN, ANN.id, sent["message_id"], "no")
        out.append(await world.get_updates(offset=3))
        out.append(world.sent_to(ANN.id))
        return out

    assert await script() == await script()


# ---------------------------------------------------------------- faults and cancellation


async def test_delay_before_effect_cancelled_leaves_nothing(autojump_clock: trio.testing.MockClock) -> None:
    world = new_world()
    world.user_sends_text(ANN, ANN.id, "/start")
    world.inject("sendMessage", BotApiDelayFault(seconds=30))
    with trio.move_on_after(10):
        await world.send_message(chat_id=ANN.id, text="slow")
    assert world.sent_to(ANN.id) == []


async def test_delay_after_effect_cancelled_still_sent(autojump_clock: trio.testing.MockClock) -> None:
    world = new_world()
    world.user_sends_text(ANN, ANN.id, "/start")
    world.inject("sendMessage", BotApiDelayFault(seconds=30, phase="after"))
    with trio.move_on_after(10) as scope:
        await world.send_message(chat_id=ANN.id, text="sent, answer late")
    assert scope.cancelled_caught
    assert [r.text for r in world.sent_to(ANN.id)] == ["sent, answer late"]


async def test_fail_next_counts_and_is_per_method() -> None:
    world = new_world()
    world.user_sends_text(ANN, ANN.id, "/start")
    world.inject(
        "sendmessage",
        BotApiErrorFault(error_code=429, description="Too Many Requests: retry after 3", retry_after=3),
        count=2,
    )
    for _ in range(2):
        with pytest.raises(BotApiError) as info:
            await world.send_message(chat_id=ANN.id, text="x")
        assert (info.value.error_code, info.value.retry_after) == (429, 3)
    await world.get_updates()  # other methods unaffected
    await world.send_message(chat_id=ANN.id, text="x")
    assert world.calls["sendMessage"] == 3


async def test_wait_for_bot_message(autojump_clock: trio.testing.MockClock) -> None:
    world = new_world()
    world.user_sends_text(ANN, ANN.id, "/start")
    await world.send_message(chat_id=ANN.id, text="old")
    mark = world.last_seq

    async def bot() -> None:
        await trio.sleep(2)
        await world.send_message(chat_id=ANN.id, text="noise")
        await world.send_message(chat_id=ANN.id, text="answer 42")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(bot)
        record = await world.wait_for_bot_message(
            ANN.id, lambda r: "42" in (r.text or ""), timeout=5, after_seq=mark
        )
    assert record.text == "answer 42"
    with pytest.raises(trio.TooSlowError):
        await world.wait_for_bot_message(ANN.id, lambda r: r.kind == "photo", timeout=5)


def test_user_cannot_press_missing_buttons() -> None:
    world = new_world()
    with pytest.raises(ValueError, match="no bot message"):
        world.user_presses_button(ANN, ANN.id, 1, "yes")


async def test_user_cannot_press_a_removed_button() -> None:
    world = new_world()
    world.user_sends_text(ANN, ANN.id, "/start")
    sent = await world.send_message(chat_id=ANN.id, text="?", reply_markup=KEYBOARD)
    await world.edit_message_text(chat_id=ANN.id, message_id=sent["message_id"], text="done")
    with pytest.raises(ValueError, match="no button"):
        world.user_presses_button(ANN, ANN.id, sent["message_id"], "yes")


async def test_bad_callback_data_is_refused() -> None:
    world = new_world()
    world.user_sends_text(ANN, ANN.id, "/start")
    markup = {"inline_keyboard": [[{"text": "x", "callback_data": "d" * 65}]]}
    with pytest.raises(BotApiError, match="BUTTON_DATA_INVALID"):
        await world.send_message(chat_id=ANN.id, text="?", reply_markup=markup)


# ---------------------------------------------------------------- control API over HTTP


async def test_control_api_acts_as_user_and_reads_bot_output() -> None:
    world = new_world()
    async with running_emulator(world) as url:
        control = EmulatorControl(url)
        api = HttpTelegramApi(TOKEN, url)
        try:
            await control.send_text(ANN, ANN.id, "/start")
            uploaded = await control.send_document(ANN, ANN.id, "data.csv", b"a,b\n1,2\n", caption="mine")
            [_, doc_update] = await api.get_updates(None, 0)
            assert doc_update.message is not None and doc_update.message.document is not None
            assert doc_update.message.document.file_id == uploaded["file_id"]

            sent = await api.send_message(ANN.id, "<b>Pick</b>", reply_markup=None)
            await api.send_document(ANN.id, "report.csv", b"r,1\n")
            page = await control.messages(ANN.id, after=0, wait_s=1)
            assert [i["kind"] for i in page.items] == ["message", "document"]
            assert page.items[0]["text"] == "<b>Pick</b>"
            assert await control.download(page.items[1]["download"]) == b"r,1\n"
            assert (await control.messages(ANN.id, after=page.last_seq)).items == []

            with pytest.raises(ControlError):
                await control.press(ANN, ANN.id, sent.message_id, "nothing")

            await control.fail_next("sendMessage", 429, "Too Many Requests: retry after 5", retry_after=5)
            with pytest.raises(TelegramRetryAfter) as info:
                await api.send_message(ANN.id, "x")
            assert info.value.retry_after == 5
            assert (await control.state())["calls"]["sendMessage"] == 2
            with pytest.raises(ControlError, match="does not act on the Bot API"):
                await control.inject("sendMessage", {"kind": "hang", "target": "telegram"})
            with pytest.raises(ControlError, match="missing required key 'seconds'"):
                await control.inject("sendMessage", {"kind": "botapi_delay"})
        finally:
            await api.aclose()
            await control.aclose()


# ---------------------------------------------------------------- terminal chat


def test_safe_file_name_cannot_escape_the_folder() -> None:
    assert safe_file_name("../../etc/passwd") == "passwd"
    assert safe_file_name("..\\win.ini") == "win.ini"
    assert safe_file_name(".hidden") == "hidden"
    assert safe_file_name("отчёт 1.csv") == "отчёт_1.csv"
    assert safe_file_name(None) == "file"


def test_chat_view_numbers_buttons_of_the_newest_keyboard() -> None:
    view = ChatView()
    view.update(3, KEYBOARD)
    view.update(5, {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]})
    assert view.button(1) == (5, "a")
    assert view.button(2) is None
    view.update(5, None)  # edited away
    assert view.button(2) == (3, "no")


class ScriptedStdin:
    """Feeds lines, then holds end-of-input back until ``done()`` (read in run_chat's thread)."""

    def __init__(self, lines: list[str], done: Callable[[], bool]) -> None:
        self._lines = lines
        self._done = done

    def readline(self) -> str:
        if self._lines:
            return self._lines.pop(0) + "\n"
        deadline = time.monotonic() + 10
        while not self._done() and time.monotonic() < deadline:
            time.sleep(0.01)
        return ""


async def test_run_chat_sends_lines_and_saves_documents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world = new_world()
    upload = tmp_path / "in.csv"
    upload.write_bytes(b"q,w\n")
    downloads = tmp_path / "dl"
    saved = downloads / "3_evil.csv"  # message 3 of the chat, name made safe
    async with running_emulator(world) as url:
        world.user_sends_text(ANN, ANN.id, "/start")
        await world.send_message(chat_id=ANN.id, text="<b>Hi</b> &amp; welcome", parse_mode="HTML")
        await world.send_document(chat_id=ANN.id, file_name="../evil.csv", data=b"e,v\n")
        stdin = ScriptedStdin(["hello bot", f"/upload {upload}"], saved.exists)
        monkeypatch.setattr(sys, "stdin", stdin)
        with trio.fail_after(15):
            await run_chat(url, ANN.id, "en", downloads=str(downloads))
    updates = await world.get_updates()
    assert [u["message"].get("text") for u in updates] == ["/start", "hello bot", None]
    assert updates[2]["message"]["document"]["file_name"] == "in.csv"
    assert saved.read_bytes() == b"e,v\n"
    assert "bot: Hi & welcome" in capsys.readouterr().out


async def test_a_repolled_update_is_parsed_once_and_forgotten_once_confirmed() -> None:
    world = new_world()
    async with running_emulator(world) as url:
        api = HttpTelegramApi(TOKEN, url)
        try:
            for text in ("/start", "/help", "/lang"):
                world.user_sends_text(ANN, ANN.id, text)
            first = await api.get_updates(None, 0)
            again = await api.get_updates(first[1].update_id, 0)  # the first one confirmed
            assert [u.update_id for u in again] == [u.update_id for u in first[1:]]
            assert all(a is b for a, b in zip(again, first[1:], strict=True))  # not parsed again
            assert sorted(api._parsed) == [u.update_id for u in first[1:]]
            assert await api.get_updates(first[-1].update_id + 1, 0) == []
            assert api._parsed == {}
        finally:
            await api.aclose()
