"""psycopg's exceptions, translated into the port's error family."""

from __future__ import annotations

import psycopg

from bot.errors import PortError, ServiceUnavailable

SERVICE = "postgres"


def describe(exc: BaseException) -> str:
    """One line naming the failure; psycopg messages carry no password."""
    lines = str(exc).strip().splitlines()
    first = lines[0] if lines else ""
    sqlstate = getattr(exc, "sqlstate", None)
    kind = type(exc).__name__
    return f"{kind} [{sqlstate}]: {first}" if sqlstate else f"{kind}: {first}"


def map_error(exc: psycopg.Error) -> PortError:
    """Connection trouble, timeouts, cancellations, serialization failures and
    deadlocks are worth retrying (ServiceUnavailable); anything else (constraint
    violations, SQL errors) is a plain PortError."""
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return ServiceUnavailable(SERVICE, describe(exc))
    return PortError(f"{SERVICE}: {describe(exc)}")


__all__ = ["SERVICE", "describe", "map_error"]
