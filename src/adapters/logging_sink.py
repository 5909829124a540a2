"""Production log sink: records go through a queue to a background writer thread.

The audit's blocker 1 was a synchronous FileHandler on the event loop: under an
error storm every write blocked the loop, which caused more errors. Here
``emit`` only puts the record on an in-memory queue (``QueueHandler``); a
``QueueListener`` thread does the writing. Every record passes a filter that
removes the bot token (httpx logs request URLs, and Bot API URLs contain it), the
other configured secrets and URL passwords. ``json_lines`` (``LOG_FORMAT=json``)
writes one JSON object per line with the same fields.
"""

from __future__ import annotations

import copy
import json
import logging
import logging.handlers
import queue
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

_TOKEN_SHAPE = re.compile(r"\b\d{5,16}:[A-Za-z0-9_-]{30,}\b")
# The password of a URL such as postgresql://user:password@host/db.
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+(?=@)", re.IGNORECASE)


class RedactSecrets(logging.Filter):
    """Replaces every known secret (and anything shaped like a bot token) in a record."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "<redacted>")
        text = _URL_PASSWORD.sub(r"\g<head><redacted>", text)
        return _TOKEN_SHAPE.sub("<redacted>", text)

    def redact_value(self, value: object) -> object:
        """A structured field: numbers and booleans pass, anything else is redacted text."""
        if value is None or isinstance(value, bool | int | float):
            return value
        return self.redact(str(value))

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = self.redact(message)
        record.args = None
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = {k: self.redact_value(v) for k, v in fields.items()}
        if record.exc_info:
            # Render the traceback now, redacted, so the raw one never reaches a handler.
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_text = self.redact(formatted)
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message; for the bot's own
    events also ``event`` and each field as a key of its own."""

    _RESERVED = frozenset({"ts", "level", "logger", "msg", "event", "exc"})

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        event = getattr(record, "event", None)
        if event is not None:
            line["event"] = event
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                line[f"field_{key}" if key in self._RESERVED else key] = value
        if record.exc_text:
            line["exc"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


class _QueueHandler(logging.handlers.QueueHandler):
    """Keeps the (already redacted) traceback apart from the message, so a JSON line can
    carry it as a field; the text formatter appends it as before."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        record = copy.copy(record)
        record.msg = record.getMessage()
        record.args = None
        record.exc_info = None
        record.stack_info = None
        return record


class QueueLogSink:
    """Implements ports.LogSink on stdlib logging with a queue and a writer thread."""

    def __init__(self, logger_name: str = "csvbot") -> None:
        self.logger = logging.getLogger(logger_name)

    def emit(self, level: int, event: str, fields: dict[str, object]) -> None:
        if not self.logger.isEnabledFor(level):
            return
        payload = " ".join(f"{k}={v}" for k, v in fields.items())
        # The text line carries the fields in its message; JSON lines take them from ``extra``.
        self.logger.log(level, "%s %s", event, payload, extra={"event": event, "fields": fields})


def start_logging(
    secrets: Iterable[str], *, level: int = logging.INFO, stream: object = None, json_lines: bool = False
) -> logging.handlers.QueueListener:
    """Route the root logger through a queue; returns the started listener (stop it at exit)."""
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    writer = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    writer.setFormatter(
        JsonFormatter() if json_lines else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    redact = RedactSecrets(secrets)
    queue_handler = _QueueHandler(records)
    queue_handler.addFilter(redact)  # redact before the record crosses to the writer thread
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(queue_handler)
    root.setLevel(level)
    # httpx and httpx2 log every request URL at INFO; the filter redacts it, and WARNING
    # keeps volume sane (a line per Bot API call was ~10 % of the bot's CPU).
    for noisy in ("httpx", "httpcore", "httpx2", "httpcore2"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("pgserver").setLevel(logging.WARNING)  # logs every pg_ctl call at INFO
    listener = logging.handlers.QueueListener(records, writer, respect_handler_level=True)
    listener.start()
    return listener
