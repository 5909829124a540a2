"""Settings of the bot core, read from the environment with embedded defaults.

Adapter settings (URLs, tokens) live with the adapters' composition root; here are
only the knobs the core itself obeys: deadlines, limits, concurrency.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

# Seconds. Names are what metrics and logs call each deadline.
DEFAULT_DEADLINES: dict[str, float] = {
    "db.connect": 5.0,
    "db.statement": 10.0,
    "handler": 8.0,
    "interactive": 30.0,  # a button press that re-reads a file and draws a chart
    "storage.upload": 15.0,
    "storage.download": 10.0,
    "storage.call": 10.0,
    "redis": 1.5,
    "queue": 2.0,
    "telegram.call": 10.0,
    "telegram.send_file": 30.0,
    "telegram.download": 20.0,
    "telegram.poll_margin": 10.0,
    "analysis": 60.0,
    "job": 180.0,
    "shutdown": 10.0,
}

MAX_TELEGRAM_DOWNLOAD_BYTES = 20 * 1024 * 1024  # getFile refuses larger files


@dataclass(frozen=True, slots=True)
class Settings:
    deadlines: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_DEADLINES))
    poll_timeout_s: int = 25
    max_concurrent_updates: int = 64
    # Updates one chat may have waiting; past it the chat is flooding (see bot.updates).
    max_pending_per_chat: int = 10
    max_file_bytes: int = MAX_TELEGRAM_DOWNLOAD_BYTES
    # Jobs one worker runs at once: they mostly wait on I/O and the per-chat send rate;
    # CPU work is bounded separately by the CpuRunner. 2 starved the launch-day peak.
    worker_concurrency: int = 16
    job_max_attempts: int = 4
    # A running job belongs to its worker while the worker heartbeats; a worker
    # silent this long is taken for dead and its job for anyone's.
    job_lease_s: float = 60.0
    reconcile_every_s: float = 30.0
    reconcile_after_s: float = 60.0
    reclaim_idle_s: float = 120.0
    state_ttl_s: int = 3600
    global_sends_per_s: float = 30.0
    chat_sends_per_s: float = 1.0
    storage_retry_base_s: float = 0.5
    admin_ids: frozenset[int] = frozenset()

    def deadline(self, name: str) -> float:
        return self.deadlines[name]

    def with_deadlines(self, **overrides: float) -> Settings:
        merged = dict(self.deadlines)
        merged.update({k.replace("__", "."): v for k, v in overrides.items()})
        return replace(self, deadlines=merged)


def _env_number(env: Mapping[str, str], key: str, default: float) -> float:
    raw = env.get(key)
    return float(raw) if raw not in (None, "") else default


def settings_from_env(env: Mapping[str, str] | None = None) -> Settings:
    """``DEADLINE_DB_STATEMENT=3`` overrides ``db.statement``; ``BOT_<FIELD>`` any field."""
    env = os.environ if env is None else env
    deadlines = {
        name: _env_number(env, "DEADLINE_" + name.upper().replace(".", "_"), default)
        for name, default in DEFAULT_DEADLINES.items()
    }
    base = Settings(deadlines=deadlines)
    overrides: dict[str, object] = {}
    for f in fields(Settings):
        raw = env.get("BOT_" + f.name.upper())
        if raw in (None, "") or f.name == "deadlines":
            continue
        if f.name == "admin_ids":
            overrides[f.name] = frozenset(int(x) for x in raw.split(",") if x.strip())
        elif isinstance(getattr(base, f.name), int):
            overrides[f.name] = int(raw)
        else:
            overrides[f.name] = float(raw)
    if "ADMIN_IDS" in env and "admin_ids" not in overrides:
        overrides["admin_ids"] = frozenset(int(x) for x in env["ADMIN_IDS"].split(",") if x.strip())
    return replace(base, **overrides)  # type: ignore[arg-type]
