"""The operational knobs, read from the environment with pydantic-settings.

Every value has a default that runs on one machine; unknown variables are ignored
(the environment holds everyone's settings).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class OpsSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    # One endpoint per process: give each process on a host its own port (0: any free one).
    metrics_port: int = Field(default=9101, ge=0, le=65535)
    # Loopback unless asked: the endpoint has no authentication.
    metrics_host: str = "127.0.0.1"
    sentry_dsn: SecretStr | None = None
    sentry_environment: str = "production"
    log_format: Literal["text", "json"] = "text"
    # Telegram re-delivers an unconfirmed update for 24 h; twice that is a safe margin.
    processed_updates_retention_h: float = Field(default=48.0, gt=0)
    prune_every_s: float = Field(default=3600.0, gt=0)
    # Readiness: each dependency is probed this often and must have answered within
    # ``ready_within_s``; the poller must have finished a long poll within its budget.
    probe_every_s: float = Field(default=5.0, gt=0)
    ready_within_s: float = Field(default=20.0, gt=0)


def ops_settings_from_env() -> OpsSettings:
    return OpsSettings()


__all__ = ["OpsSettings", "ops_settings_from_env"]
