"""Error tracking with sentry-sdk, on when ``SENTRY_DSN`` is set.

What is sent: errors that escape the process (``capture_crash``) and every log
event at ERROR level (a crashed handler, a failed job), tagged with the operation
(the event's name) and the job or update id it names.

What is never sent: the bot token, the Supabase key and any password. Every event
and breadcrumb passes :class:`Scrubber` last, which walks the whole event (message,
exception values, stack-frame variables, tags, extras) and replaces each known
secret, anything shaped like a bot token, and the password of any URL. Sentry's own
scrubber also blanks fields named like secrets (``password``, ``token``, ...).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import sentry_sdk
from sentry_sdk.integrations.logging import LoggingIntegration
from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber

from adapters.logging_sink import RedactSecrets
from bot.ports import LogSink

# Sentry's denylist plus the names our settings use for secrets.
_DENYLIST = [*DEFAULT_DENYLIST, "supabase_key", "telegram_bot_token", "bot_token", "dsn", "database_url"]
_TAGGED_FIELDS = ("job_id", "update_id", "upload_id", "user_id", "consumer")


def url_passwords(urls: Iterable[str | None]) -> list[str]:
    """The passwords inside connection URLs (``postgresql://user:pw@host/db``)."""
    found: list[str] = []
    for url in urls:
        if not url:
            continue
        try:
            password = urlsplit(url).password
        except ValueError:
            continue
        if password:
            found.append(password)
    return found


class Scrubber:
    """Replaces secrets in every string of a Sentry event, at any depth."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._redact = RedactSecrets(secrets)

    def scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._redact.redact(value)
        if isinstance(value, Mapping):
            return {self.scrub(k): self.scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.scrub(v) for v in value]
        return value

    def before_send(self, event: Any, hint: Any) -> Any:
        return self.scrub(event)

    def before_breadcrumb(self, crumb: Any, hint: Any) -> Any:
        return self.scrub(crumb)


def init_error_tracking(
    dsn: str | None, secrets: Iterable[str], *, environment: str = "production", release: str | None = None
) -> bool:
    """Start the Sentry client when ``dsn`` is set; True when it did."""
    if not dsn:
        return False
    scrubber = Scrubber(secrets)
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        send_default_pii=False,
        event_scrubber=EventScrubber(denylist=_DENYLIST, recursive=True),
        before_send=scrubber.before_send,
        before_breadcrumb=scrubber.before_breadcrumb,
        # Log lines become breadcrumbs only; events come from ErrorTrackingLogSink,
        # which knows the operation and job id of each.
        integrations=[LoggingIntegration(level=logging.INFO, event_level=None)],
        # No automatic instrumentation of asyncio, redis, httpx...: the bot runs on
        # Trio with an asyncio bridge, and tracing is not what this is for.
        auto_enabling_integrations=False,
        traces_sample_rate=0.0,
    )
    return True


def capture_crash(exc: BaseException) -> None:
    """An error that ends the process: send it, and wait (briefly) until it is sent."""
    if sentry_sdk.get_client().is_active():
        sentry_sdk.capture_exception(exc)
        sentry_sdk.flush(timeout=5.0)


class ErrorTrackingLogSink:
    """A LogSink that also sends each ERROR event to Sentry (a no-op when Sentry is off)."""

    def __init__(self, inner: LogSink) -> None:
        self.inner = inner

    def emit(self, level: int, event: str, fields: dict[str, object]) -> None:
        self.inner.emit(level, event, fields)
        if level < logging.ERROR or not sentry_sdk.get_client().is_active():
            return
        # Sending happens on the SDK's own thread: this only queues the event.
        with sentry_sdk.new_scope() as scope:
            scope.set_tag("operation", event.partition(".")[0])
            scope.set_tag("event", event)
            for name in _TAGGED_FIELDS:
                if name in fields:
                    scope.set_tag(name, str(fields[name]))
            scope.set_context("fields", {k: str(v) for k, v in fields.items()})
            sentry_sdk.capture_message(event, level="error")


__all__ = ["ErrorTrackingLogSink", "Scrubber", "capture_crash", "init_error_tracking", "url_passwords"]
