"""The peer: a minimal aiogram 3 bot answering /start and /help, for `just bench stack --peer`.

It runs in its own virtualenv (see README.md here), never with the project's packages.
Configuration as csvbot's: TELEGRAM_BOT_TOKEN and TELEGRAM_API_URL (the Bot API emulator).
Long polling, as ours does; no database, no state: what aiogram costs per update.
"""

from __future__ import annotations

import asyncio
import logging
import os

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import Command, CommandStart
from aiogram.types import Message

START = "Hello! Send me a CSV file and I will describe every column."
HELP = "Send a CSV file (up to 20 MB). Commands: /start, /help."


async def main() -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(os.environ["TELEGRAM_API_URL"]))
    bot = Bot(os.environ["TELEGRAM_BOT_TOKEN"], session=session)
    dp = Dispatcher()

    @dp.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer(START)

    @dp.message(Command("help"))
    async def help_(message: Message) -> None:
        await message.answer(HELP)

    @dp.startup()
    async def started() -> None:
        print("aiogram-peer peer.started ok", flush=True)

    await dp.start_polling(bot, polling_timeout=int(os.environ.get("BOT_POLL_TIMEOUT_S", "25")))


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main())
