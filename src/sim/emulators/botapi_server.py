"""The Bot API emulator over HTTP: a starlette app on hypercorn's trio worker.

- ``/bot<token>/<method>``: the Bot API (GET query, POST JSON, urlencoded or multipart).
- ``/file/bot<token>/<file_path>``: file downloads.
- ``/_emu/...``: the control API for tests and for people acting as users (see
  :mod:`sim.emulators.control` for a client).

Run standalone: ``python -m sim.emulators.botapi_server --port 8081 --token 123456:TEST``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.domain import TgUser
from sim.fakes.telegram import wire
from sim.fakes.telegram.limits import SendLimits
from sim.fakes.telegram.world import NOT_FOUND, BotApiError, BotApiUnavailable, BotApiWorld
from sim.simulator.faults.kind import BotApiFault
from sim.simulator.faults.registry import parse_fault

JsonDict = dict[str, Any]
FILES_PREFIX = "/_emu/files"
MAX_CONTROL_WAIT_S = 30.0


# ---------------------------------------------------------------- Bot API parameters


class _Params:
    """Bot API parameters from any encoding: JSON values, or strings from query/forms."""

    def __init__(self, values: Mapping[str, Any], files: Mapping[str, tuple[str | None, bytes]]) -> None:
        self._values = values
        self._files = files

    def opt_str(self, name: str) -> str | None:
        value = self._values.get(name)
        return None if value is None else str(value)

    def str_(self, name: str, missing: str) -> str:
        value = self.opt_str(name)
        if not value:
            raise BotApiError(400, missing)
        return value

    def opt_int(self, name: str, invalid: str) -> int | None:
        value = self._values.get(name)
        if value is None or value == "":
            return None
        try:
            return int(value)
        except (TypeError, ValueError):
            raise BotApiError(400, invalid) from None

    def int_(self, name: str, missing: str, invalid: str | None = None) -> int:
        value = self.opt_int(name, invalid or missing)
        if value is None:
            raise BotApiError(400, missing)
        return value

    def chat_id(self) -> int:
        # "@channel" names are not modelled: any non-integer chat is unknown.
        return self.int_("chat_id", "Bad Request: chat_id is empty", "Bad Request: chat not found")

    def opt_json(self, name: str, invalid: str) -> Any:
        value = self._values.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise BotApiError(400, invalid) from None
        return value

    def bool_(self, name: str) -> bool:
        value = self._values.get(name)
        return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))

    def upload(self, name: str, missing: str) -> tuple[str | None, bytes | None, str | None]:
        """(file name, bytes, None) for an uploaded file, (None, None, file_id) for a reference."""
        if name in self._files:
            file_name, data = self._files[name]
            return file_name, data, None
        return None, None, self.str_(name, missing)


def _markup(p: _Params) -> Any:
    return p.opt_json("reply_markup", "Bad Request: can't parse reply keyboard markup JSON object")


async def _get_updates(world: BotApiWorld, p: _Params) -> Any:
    allowed = p.opt_json("allowed_updates", "Bad Request: can't parse allowed updates")
    if allowed is not None and not (isinstance(allowed, list) and all(isinstance(a, str) for a in allowed)):
        raise BotApiError(400, "Bad Request: can't parse allowed updates")
    return await world.get_updates(
        offset=p.opt_int("offset", "Bad Request: wrong offset specified"),
        limit=p.opt_int("limit", "Bad Request: wrong limit specified") or 100,
        timeout=p.opt_int("timeout", "Bad Request: wrong timeout specified") or 0,
        allowed_updates=allowed,
    )


async def _send_message(world: BotApiWorld, p: _Params) -> Any:
    return await world.send_message(
        chat_id=p.chat_id(),
        text=p.opt_str("text") or "",
        parse_mode=p.opt_str("parse_mode"),
        reply_markup=_markup(p),
    )


async def _edit_message_text(world: BotApiWorld, p: _Params) -> Any:
    return await world.edit_message_text(
        chat_id=p.chat_id(),
        message_id=p.int_("message_id", "Bad Request: message identifier is not specified"),
        text=p.opt_str("text") or "",
        parse_mode=p.opt_str("parse_mode"),
        reply_markup=_markup(p),
    )


async def _send_document(world: BotApiWorld, p: _Params) -> Any:
    chat_id = p.chat_id()
    file_name, data, file_id = p.upload("document", "Bad Request: there is no document in the request")
    return await world.send_document(
        chat_id=chat_id, file_name=file_name, data=data, file_id=file_id, caption=p.opt_str("caption")
    )


async def _send_photo(world: BotApiWorld, p: _Params) -> Any:
    chat_id = p.chat_id()
    file_name, data, file_id = p.upload("photo", "Bad Request: there is no photo in the request")
    return await world.send_photo(
        chat_id=chat_id, file_name=file_name, data=data, file_id=file_id, caption=p.opt_str("caption")
    )


async def _answer_callback_query(world: BotApiWorld, p: _Params) -> Any:
    query_id = p.str_("callback_query_id", "Bad Request: QUERY_ID_INVALID")
    return await world.answer_callback_query(
        callback_query_id=query_id, text=p.opt_str("text"), show_alert=p.bool_("show_alert")
    )


async def _get_file(world: BotApiWorld, p: _Params) -> Any:
    return await world.get_file(file_id=p.str_("file_id", "Bad Request: file_id not specified"))


async def _get_me(world: BotApiWorld, p: _Params) -> Any:
    return await world.get_me()


# Method names are case-insensitive in the Bot API.
METHODS: dict[str, Callable[[BotApiWorld, _Params], Awaitable[Any]]] = {
    "getupdates": _get_updates,
    "sendmessage": _send_message,
    "editmessagetext": _edit_message_text,
    "senddocument": _send_document,
    "sendphoto": _send_photo,
    "answercallbackquery": _answer_callback_query,
    "getfile": _get_file,
    "getme": _get_me,
}


async def _read_params(request: Request) -> _Params:
    values: dict[str, Any] = dict(request.query_params)
    files: dict[str, tuple[str | None, bytes]] = {}
    content_type = request.headers.get("content-type", "")
    if request.method == "POST":
        if content_type.startswith("application/json"):
            try:
                body = json.loads(await request.body() or b"{}")
            except ValueError:
                raise BotApiError(400, "Bad Request: can't parse JSON object") from None
            if not isinstance(body, dict):
                raise BotApiError(400, "Bad Request: can't parse JSON object")
            values.update(body)
        elif content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
            async with request.form(max_part_size=16 * 1024 * 1024) as form:
                for key, value in form.multi_items():
                    if isinstance(value, UploadFile):
                        files[key] = (value.filename, await value.read())
                    else:
                        values[key] = value
    return _Params(values, files)


def _error_response(exc: BotApiError) -> JSONResponse:
    return JSONResponse(
        wire.error(exc.error_code, exc.description, exc.retry_after), status_code=exc.error_code
    )


def _bad_gateway() -> Response:
    # What a proxy in front of the Bot API answers when the backend does not: no JSON.
    return PlainTextResponse("502 Bad Gateway", status_code=502)


# ---------------------------------------------------------------- control API helpers


def _user(raw: object, chat_id: int) -> TgUser:
    """A user from ``{"id", "language_code", "first_name", "username"}``; id defaults to the chat."""
    d = raw if isinstance(raw, Mapping) else {}
    return TgUser(
        id=int(d.get("id", chat_id)),
        language_code=d.get("language_code"),
        first_name=str(d.get("first_name") or ""),
        username=d.get("username"),
    )


def _control_error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _chat_id(request: Request) -> int:
    return int(request.path_params["chat_id"])


async def _json_body(request: Request) -> JsonDict:
    body = json.loads(await request.body() or b"{}")
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    return body


def build_app(world: BotApiWorld, limits: SendLimits | None = None) -> Starlette:
    """The emulator's ASGI app around ``world``; ``limits`` adds Telegram's flood limits."""

    async def bot_method(request: Request) -> Response:
        # Read the whole body even when refusing the call: answering before it is read
        # makes the server drop the keep-alive connection under the client's next request.
        try:
            await request.body()
        except ClientDisconnect:  # the client gave up (its deadline): nobody to answer
            return Response(status_code=499)
        try:
            world.authorize(request.path_params["token"])
            method = request.path_params["method"].lower()
            handler = METHODS.get(method)
            if handler is None:
                raise BotApiError(404, NOT_FOUND)
            params = await _read_params(request)
            if limits is not None:
                retry_after = limits.admit(method, params.opt_int("chat_id", "Bad Request: chat not found"))
                if retry_after is not None:
                    raise BotApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)
            result = await handler(world, params)
        except BotApiError as exc:
            return _error_response(exc)
        except BotApiUnavailable:
            return _bad_gateway()
        return JSONResponse(wire.ok(result))

    async def file_download(request: Request) -> Response:
        try:
            world.authorize(request.path_params["token"])
            data = await world.download(request.path_params["file_path"])
        except BotApiError as exc:
            return _error_response(exc)
        except BotApiUnavailable:
            return _bad_gateway()
        return Response(data, media_type="application/octet-stream")

    async def user_text(request: Request) -> Response:
        try:
            chat_id, body = _chat_id(request), await _json_body(request)
            action = world.user_sends_text(
                _user(body.get("user"), chat_id), chat_id, str(body.get("text") or "")
            )
        except ValueError as exc:
            return _control_error(str(exc))
        return JSONResponse({"update_id": action.update_id, "message_id": action.message_id})

    async def user_document(request: Request) -> Response:
        try:
            chat_id = _chat_id(request)
            async with request.form(max_part_size=16 * 1024 * 1024) as form:
                upload = form.get("file")
                if not isinstance(upload, UploadFile):
                    return _control_error("multipart field 'file' is required")
                user = _user(json.loads(str(form.get("user") or "{}")), chat_id)
                mime, caption = form.get("mime_type"), form.get("caption")
                action = world.user_sends_document(
                    user,
                    chat_id,
                    str(form.get("file_name") or upload.filename or "file"),
                    await upload.read(),
                    mime_type=mime if isinstance(mime, str) and mime else None,
                    caption=caption if isinstance(caption, str) and caption else None,
                )
        except ValueError as exc:
            return _control_error(str(exc))
        return JSONResponse(
            {"update_id": action.update_id, "message_id": action.message_id, "file_id": action.file_id}
        )

    async def user_press(request: Request) -> Response:
        try:
            chat_id, body = _chat_id(request), await _json_body(request)
            action = world.user_presses_button(
                _user(body.get("user"), chat_id), chat_id, int(body["message_id"]), str(body["callback_data"])
            )
        except (ValueError, KeyError) as exc:
            return _control_error(str(exc))
        return JSONResponse({"update_id": action.update_id, "callback_query_id": action.callback_query_id})

    async def chat_messages(request: Request) -> Response:
        try:
            chat_id = _chat_id(request)
            after = int(request.query_params.get("after", "0"))
            wait = min(float(request.query_params.get("wait", "0")), MAX_CONTROL_WAIT_S)
        except ValueError as exc:
            return _control_error(str(exc))
        records = await world.wait_for_records(chat_id, after, wait) if wait > 0 else []
        records = records or world.records_after(after, chat_id)
        return JSONResponse(
            {
                "items": [wire.record_to_json(r, FILES_PREFIX) for r in records],
                "last_seq": records[-1].seq if records else after,
            }
        )

    async def control_file(request: Request) -> Response:
        stored = world.file(request.path_params["file_id"])
        if stored is None:
            return _control_error("no such file", 404)
        return Response(stored.data, media_type=stored.mime_type or "application/octet-stream")

    async def faults(request: Request) -> Response:
        """``{"method": "sendMessage", "count": 2, "fault": {"kind": "botapi_error", ...}}``:
        the fault table is a scenario's ``[[faults]]`` entry of a ``botapi_*`` kind."""
        try:
            body = await _json_body(request)
            method, count = str(body["method"]), int(body.get("count", 1))
            fault = parse_fault(body["fault"], "fault")
        except (ValueError, KeyError) as exc:  # a ScenarioError is a ValueError
            return _control_error(f"bad fault: {exc}")
        if not isinstance(fault, BotApiFault):
            return _control_error(
                f"fault kind {fault.kind!r} does not act on the Bot API (use a botapi_* kind)"
            )
        world.inject(method, fault, count)
        return JSONResponse({"ok": True})

    async def webhook_conflict(request: Request) -> Response:
        try:
            world.set_webhook_conflict(bool((await _json_body(request)).get("active", True)))
        except ValueError as exc:
            return _control_error(str(exc))
        return JSONResponse({"ok": True})

    async def blocked(request: Request) -> Response:
        try:
            chat_id, body = _chat_id(request), await _json_body(request)
        except ValueError as exc:
            return _control_error(str(exc))
        world.set_blocked(chat_id, bool(body.get("blocked", True)))
        return JSONResponse({"ok": True})

    async def state(request: Request) -> Response:
        return JSONResponse(
            {"pending_updates": world.pending_updates, "last_seq": world.last_seq, "calls": dict(world.calls)}
        )

    routes = [
        Route("/bot{token}/{method}", bot_method, methods=["GET", "POST"]),
        Route("/file/bot{token}/{file_path:path}", file_download, methods=["GET"]),
        Route("/_emu/chats/{chat_id}/text", user_text, methods=["POST"]),
        Route("/_emu/chats/{chat_id}/document", user_document, methods=["POST"]),
        Route("/_emu/chats/{chat_id}/press", user_press, methods=["POST"]),
        Route("/_emu/chats/{chat_id}/messages", chat_messages, methods=["GET"]),
        Route("/_emu/chats/{chat_id}/blocked", blocked, methods=["POST"]),
        Route(FILES_PREFIX + "/{file_id}", control_file, methods=["GET"]),
        Route("/_emu/faults", faults, methods=["POST"]),
        Route("/_emu/webhook_conflict", webhook_conflict, methods=["POST"]),
        Route("/_emu/state", state, methods=["GET"]),
    ]
    return Starlette(routes=routes)


# ---------------------------------------------------------------- serving


async def serve_emulator(
    world: BotApiWorld,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    limits: SendLimits | None = None,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``world`` until cancelled (or ``shutdown_trigger`` returns); reports the base URL."""
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None  # request lines carry the bot token
    config.loglevel = "WARNING"
    config.graceful_timeout = 1.0  # long polls are not worth waiting for on shutdown
    app = build_app(world, limits)
    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(partial(serve, app, config, shutdown_trigger=shutdown_trigger))  # type: ignore[arg-type]
        task_status.started(binds[0])


@asynccontextmanager
async def running_emulator(world: BotApiWorld, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """``async with running_emulator(world) as base_url:`` for tests and tools."""
    async with trio.open_nursery() as nursery:
        base_url: str = await nursery.start(partial(serve_emulator, world, host, port))
        try:
            yield base_url
        finally:
            nursery.cancel_scope.cancel()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Telegram Bot API emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=os.environ.get("BOT_TOKEN", "123456:EMULATOR-TOKEN"))
    parser.add_argument(
        "--limits", choices=("on", "off"), default="off", help="enforce Telegram's flood limits (429s)"
    )
    args = parser.parse_args(argv)
    # Outside simulation: message dates are real Unix time.
    world = BotApiWorld(args.token, now=lambda: int(time.time()))

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            limits = SendLimits() if args.limits == "on" else None
            url = await nursery.start(partial(serve_emulator, world, args.host, args.port, limits=limits))
            print(f"Bot API emulator: base_url={url}  control API: {url}/_emu/  (Ctrl+C to stop)")

    try:
        trio.run(run)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
