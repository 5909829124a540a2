"""A thin structured logger over the LogSink port.

The sink decides where records go (a queue to a background writer in production,
the trace in simulation); the core only names events and their fields.
"""

from __future__ import annotations

import logging

from bot.ports import LogSink


class Logger:
    def __init__(self, sink: LogSink, **context: object) -> None:
        self.sink = sink
        self.context = context

    def bind(self, **context: object) -> Logger:
        return Logger(self.sink, **{**self.context, **context})

    def _emit(self, level: int, event: str, fields: dict[str, object]) -> None:
        self.sink.emit(level, event, {**self.context, **fields} if self.context else fields)

    def debug(self, event: str, **fields: object) -> None:
        self._emit(logging.DEBUG, event, fields)

    def info(self, event: str, **fields: object) -> None:
        self._emit(logging.INFO, event, fields)

    def warning(self, event: str, **fields: object) -> None:
        self._emit(logging.WARNING, event, fields)

    def error(self, event: str, **fields: object) -> None:
        self._emit(logging.ERROR, event, fields)
