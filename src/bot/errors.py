"""Errors that cross a port boundary.

Every adapter (real or simulated) turns its library's failures into these, so the
core can decide what to tell the user without knowing which library failed.
"""

from __future__ import annotations


class PortError(Exception):
    """Base of every failure an outside service can report to the core."""


class ServiceUnavailable(PortError):
    """The service could not be reached or failed in a way worth retrying."""

    def __init__(self, service: str, detail: str = "") -> None:
        super().__init__(f"{service} unavailable: {detail}" if detail else f"{service} unavailable")
        self.service = service
        self.detail = detail


class DeadlineExceeded(PortError):
    """A named deadline ran out before the call finished."""

    def __init__(self, name: str, seconds: float) -> None:
        super().__init__(f"deadline {name!r} of {seconds:g}s exceeded")
        self.name = name
        self.seconds = seconds


class BlobNotFound(PortError):
    def __init__(self, key: str) -> None:
        super().__init__(f"blob not found: {key}")
        self.key = key


class TelegramError(PortError):
    """The Bot API answered ``ok: false``."""

    def __init__(self, error_code: int, description: str, retry_after: float | None = None) -> None:
        super().__init__(f"telegram error {error_code}: {description}")
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after


class TelegramRetryAfter(TelegramError):
    """429 Too Many Requests: wait ``retry_after`` seconds before the next call."""

    def __init__(self, description: str, retry_after: float) -> None:
        super().__init__(429, description, retry_after)


class TelegramConflict(TelegramError):
    """409 Conflict: another poller or a webhook uses the same token."""

    def __init__(self, description: str) -> None:
        super().__init__(409, description)
