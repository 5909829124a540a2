"""Talk to the bot through the Bot API emulator from a terminal, as one user (``just chat``).

    python -m sim.emulators.chat [--user-id 1001] [--language ru]
    python -m sim.emulators.chat --url http://127.0.0.1:8081   # an emulator already running

Without ``--url`` it serves a fresh emulator on a free local port and starts the real
bot (``python -m adapters run``, real adapters, embedded Postgres/Redis unless
``DATABASE_URL``/``REDIS_URL`` are set) as a child process pointed at it, its log in
``$CSVBOT_DATA_DIR/chat.log``. A process boundary, not an import: the emulators and
the real adapters stay out of each other's code. Leaving the chat stops the bot with
SIGTERM, which it handles gracefully.

Type text to send it. ``/upload path/to/file.csv`` sends a file as a document,
``/press N`` presses button N of the newest message that has buttons, ``/quit``
leaves. Everything else starting with ``/`` goes to the bot as a command. The bot's
messages are printed with HTML tags stripped; its documents and photos are saved
under ./chat-downloads/.

This is a tool for people, outside simulation: it reads stdin in a thread.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx2
import trio

from bot.domain import TgUser
from sim.emulators.botapi_server import serve_emulator
from sim.emulators.control import ControlError, EmulatorControl
from sim.fakes.telegram.entities import strip_html
from sim.fakes.telegram.world import BotApiWorld

EMULATOR_TOKEN = "123456:LOCAL-EMULATOR-TOKEN-0000000000000000"  # noqa: S105 (the emulator's, not a secret)
POLL_WAIT_S = 20.0
RETRY_S = 1.0
BOT_STOP_GRACE_S = 30.0  # the bot's own graceful shutdown is bounded well below this


def safe_file_name(name: str | None) -> str:
    """A file name that cannot leave the downloads folder or hide itself."""
    base = re.split(r"[\\/]", name or "")[-1]
    cleaned = re.sub(r"[^\w.\-]+", "_", base).lstrip(".")[:100]
    return cleaned or "file"


@dataclass
class ChatView:
    """The buttons currently on the bot's messages, to resolve ``/press N``."""

    buttons: dict[int, list[tuple[str, str]]] = field(default_factory=dict)

    def update(self, message_id: int, markup: Any) -> list[tuple[str, str]]:
        rows = markup.get("inline_keyboard", []) if isinstance(markup, dict) else []
        found = [(str(b.get("text", "")), str(b.get("callback_data", ""))) for row in rows for b in row]
        if found:
            self.buttons[message_id] = found
        else:
            self.buttons.pop(message_id, None)
        return found

    def button(self, number: int) -> tuple[int, str] | None:
        """(message_id, callback_data) of button ``number`` (1-based) of the newest keyboard."""
        if not self.buttons:
            return None
        message_id = max(self.buttons)
        options = self.buttons[message_id]
        if not 1 <= number <= len(options):
            return None
        return message_id, options[number - 1][1]


def _say(line: str) -> None:
    print(line, flush=True)


async def _show(item: dict[str, Any], control: EmulatorControl, view: ChatView, downloads: trio.Path) -> None:
    kind, message_id = item.get("kind"), item.get("message_id")
    if kind in ("message", "edit") and isinstance(message_id, int):
        label = "bot" if kind == "message" else f"bot (edited #{message_id})"
        _say(f"{label}: {strip_html(str(item.get('text', '')))}")
        buttons = view.update(message_id, item.get("reply_markup"))
        if buttons:
            _say("    " + "  ".join(f"[{i}] {text}" for i, (text, _) in enumerate(buttons, 1)))
    elif kind in ("document", "photo"):
        data = await control.download(str(item["download"]))
        await downloads.mkdir(parents=True, exist_ok=True)
        target = downloads / f"{message_id}_{safe_file_name(item.get('file_name') or kind)}"
        await target.write_bytes(data)
        caption = f" {strip_html(str(item['caption']))}" if item.get("caption") else ""
        _say(f"bot sent a {kind} ({len(data)} bytes):{caption}\n    saved to {target}")
    elif kind == "callback_answer" and item.get("text"):
        _say(f"bot (popup): {item['text']}")


async def _follow_chat(control: EmulatorControl, chat_id: int, view: ChatView, downloads: trio.Path) -> None:
    after = 0
    while True:
        try:
            page = await control.messages(chat_id, after, wait_s=POLL_WAIT_S)
            for item in page.items:
                await _show(item, control, view, downloads)
            after = page.last_seq
        except (httpx2.HTTPError, ControlError) as exc:
            _say(f"! emulator: {type(exc).__name__}: {exc}; retrying")
            await trio.sleep(RETRY_S)


async def _handle(line: str, control: EmulatorControl, user: TgUser, view: ChatView) -> None:
    if line.startswith("/upload"):
        path = line[len("/upload") :].strip()
        if not path:
            _say("usage: /upload path/to/file.csv")
            return
        try:
            data = await trio.Path(path).read_bytes()
        except OSError as exc:
            _say(f"! cannot read {path}: {exc.strerror}")
            return
        await control.send_document(user, user.id, trio.Path(path).name, data)
        _say(f"(uploaded {trio.Path(path).name}, {len(data)} bytes)")
    elif line.startswith("/press"):
        arg = line[len("/press") :].strip()
        target = view.button(int(arg)) if arg.isdigit() else None
        if target is None:
            _say("usage: /press N, where N is a button number of the newest message with buttons")
            return
        await control.press(user, user.id, target[0], target[1])
    else:
        await control.send_text(user, user.id, line)


async def run_chat(
    base_url: str, user_id: int, language_code: str, *, downloads: str = "chat-downloads"
) -> None:
    """Chat as ``user_id`` (in the private chat of the same id) until /quit or end of input."""
    user = TgUser(id=user_id, language_code=language_code, first_name=f"User {user_id}")
    control = EmulatorControl(base_url)
    view = ChatView()
    _say(f"chatting as user {user_id} ({language_code}); /upload FILE, /press N, /quit")
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_follow_chat, control, user_id, view, trio.Path(downloads))
            while True:
                raw = await trio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
                line = raw.strip()
                if not raw or line == "/quit":
                    break
                if not line:
                    continue
                try:
                    await _handle(line, control, user, view)
                except (httpx2.HTTPError, ControlError) as exc:
                    _say(f"! not sent: {type(exc).__name__}: {exc}")
            nursery.cancel_scope.cancel()
    finally:
        await control.aclose()


async def _stop_gracefully(process: trio.Process) -> None:
    """How a cancelled bot process is stopped: SIGTERM, then SIGKILL after the grace."""
    process.send_signal(signal.SIGTERM)
    with trio.move_on_after(BOT_STOP_GRACE_S):
        await process.wait()
        return
    process.kill()


async def chat_with_local_bot(user_id: int, language_code: str, bot_log: Path) -> None:
    """Serve an emulator, run the real bot against it in a child process, chat until /quit."""
    world = BotApiWorld(token=EMULATOR_TOKEN)
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": EMULATOR_TOKEN}
    await trio.Path(bot_log.parent).mkdir(parents=True, exist_ok=True)
    with bot_log.open("a", encoding="utf-8") as log:
        async with trio.open_nursery() as nursery:
            url: str = await nursery.start(serve_emulator, world)
            env["TELEGRAM_API_URL"] = url
            nursery.start_soon(
                partial(
                    trio.run_process,
                    [sys.executable, "-m", "adapters", "run"],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    check=False,
                    deliver_cancel=_stop_gracefully,
                )
            )
            _say(f"Bot API emulator at {url}; the bot is starting (log: {bot_log}). Type /start.")
            await run_chat(url, user_id, language_code)
            nursery.cancel_scope.cancel()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Chat with the bot through the Bot API emulator")
    parser.add_argument(
        "--url", default=None, help="an emulator already running (default: start one and the bot)"
    )
    parser.add_argument(
        "--user-id", "--user", type=int, default=1001, help="your Telegram user id (= the chat id)"
    )
    parser.add_argument("--language", "--lang", default="ru", help="your language_code, e.g. ru or en")
    parser.add_argument(
        "--bot-log", type=Path, default=None, help="the bot's log (default: $CSVBOT_DATA_DIR/chat.log)"
    )
    args = parser.parse_args(argv)
    bot_log = args.bot_log or Path(os.environ.get("CSVBOT_DATA_DIR", ".data")) / "chat.log"
    try:
        if args.url:
            trio.run(run_chat, args.url, args.user_id, args.language)
        else:
            trio.run(chat_with_local_bot, args.user_id, args.language, bot_log)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
