"""Settings of the bot core: a typed, validated model, loaded from the environment.

Adapter settings (URLs, tokens) live with the adapters' composition root; here are
only the knobs the core itself obeys: the operation policies (deadlines and
retries, whose defaults are the table in :mod:`bot.policy`), limits, concurrency.

``Settings()`` is the defaults alone (the simulator and tests build it so);
:func:`settings_from_env` reads ``BOT_<FIELD>``, ``ADMIN_IDS``, ``DEADLINE_<OP>`` and
``RETRY_<OP>_<FIELD>`` from the environment and a ``.env`` file, and a bad value
stops start-up with a :class:`SettingsError` that names the variable.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from bot.policy import OPS, POLICIES, Op, Policy, Retry, env_name

MAX_TELEGRAM_DOWNLOAD_BYTES = 20 * 1024 * 1024  # getFile refuses larger files
ENV_PREFIX = "BOT_"
DEFAULT_DEADLINES: Mapping[str, float] = {op: policy.deadline for op, policy in POLICIES.items()}
DEFAULT_RETRIES: Mapping[str, Retry] = {op: policy.retry for op, policy in POLICIES.items()}
_RETRY_FIELDS = ("attempts", "wait_initial", "wait_max", "wait_jitter")


class SettingsError(ValueError):
    """A setting from the environment is invalid; the message names each variable."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Seconds per attempt, and retries, by operation name (see bot.policy).
    deadlines: Mapping[str, PositiveFloat] = Field(default_factory=lambda: dict(DEFAULT_DEADLINES))
    retries: Mapping[str, Retry] = Field(default_factory=lambda: dict(DEFAULT_RETRIES))
    poll_timeout_s: Annotated[int, Field(ge=0)] = 25
    max_concurrent_updates: Annotated[int, Field(gt=0)] = 64
    # Updates one chat may have waiting; past it the chat is flooding (see bot.updates).
    max_pending_per_chat: Annotated[int, Field(gt=0)] = 10
    # Files one user may send in an hour (each can be 20 MB of storage).
    max_uploads_per_hour: Annotated[int, Field(gt=0)] = 30
    # Files of one user being worked on at once; the rest wait for the user to resend.
    max_uploads_in_flight: Annotated[int, Field(gt=0)] = 10
    max_file_bytes: Annotated[int, Field(gt=0)] = MAX_TELEGRAM_DOWNLOAD_BYTES
    # An upload that arrives while the database is unreachable is held this long (its
    # update left unconfirmed, recording retried) before the user is asked to send it
    # again; 0 asks at once. The user was told the file waits: long enough to ride out
    # an outage (a hold that runs out during an ambiguous try ends in "could not confirm").
    upload_hold_s: Annotated[float, Field(ge=0)] = 3600.0
    # Uploads held at once (a few hundred bytes each, their updates included); past it
    # the user is asked to send the file again.
    max_held_uploads: Annotated[int, Field(gt=0)] = 1000
    # Jobs one worker runs at once: they mostly wait on I/O and the per-chat send rate;
    # CPU work is bounded separately by the CpuRunner. 2 starved the launch-day peak.
    worker_concurrency: Annotated[int, Field(gt=0)] = 16
    job_max_attempts: Annotated[int, Field(gt=0)] = 4
    # A running job belongs to its worker while the worker heartbeats; a worker
    # silent this long is taken for dead and its job for anyone's.
    job_lease_s: Annotated[float, Field(gt=0)] = 60.0
    reconcile_every_s: Annotated[float, Field(gt=0)] = 30.0
    reconcile_after_s: Annotated[float, Field(gt=0)] = 60.0
    reclaim_idle_s: Annotated[float, Field(gt=0)] = 120.0
    # After the database was unreachable, this long passes before running jobs are taken
    # over: their workers may be alive, were only cut off, and record their progress
    # within a second or two of its return (the db.record_end policy). Taking a job from
    # such a worker would race it and repeat the answer it is delivering.
    takeover_grace_s: Annotated[float, Field(ge=0)] = 5.0
    state_ttl_s: Annotated[int, Field(gt=0)] = 3600
    global_sends_per_s: Annotated[float, Field(gt=0)] = 30.0
    chat_sends_per_s: Annotated[float, Field(gt=0)] = 1.0
    # A broadcast's pace: below the global limit, so replies keep the rest of it.
    broadcast_sends_per_s: Annotated[float, Field(gt=0)] = 10.0
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    # Data with a lifecycle (bot.retention): an upload, its file, jobs and result are
    # deleted this many days after the upload (never while a job of it is in flight).
    data_retention_days: Annotated[float, Field(gt=0)] = 30.0
    # A rejected upload's file (not a readable table): kept this long for a look, then
    # deleted; 0 deletes it as soon as the user has the answer.
    rejected_retention_h: Annotated[float, Field(ge=0)] = 0.0
    # How often the retention sweep runs, and the rows one of its transactions deletes.
    retention_sweep_every_s: Annotated[float, Field(gt=0)] = 3600.0
    retention_batch: Annotated[int, Field(gt=0)] = 200

    @field_validator("deadlines", "retries")
    @classmethod
    def _over_the_policy_table(cls, value: Mapping[str, Any], info: ValidationInfo) -> Mapping[str, Any]:
        """Overrides of known operations, on top of the table's defaults."""
        unknown = [op for op in value if op not in OPS]
        if unknown:
            raise ValueError(f"unknown operation(s) {', '.join(map(repr, unknown))}")
        defaults = DEFAULT_DEADLINES if info.field_name == "deadlines" else DEFAULT_RETRIES
        return {**defaults, **value}

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(int(part) for part in value.split(",") if part.strip())
        return value

    def deadline(self, op: Op) -> float:
        return self.deadlines[op]

    def policy(self, op: Op) -> Policy:
        return Policy(self.deadlines[op], self.retries[op])

    def with_deadlines(self, **overrides: float) -> Settings:
        """``with_deadlines(db__statement=3)``: ``__`` stands for the dot of the name."""
        merged = dict(self.deadlines)
        merged.update({k.replace("__", "."): v for k, v in overrides.items()})
        return self.model_copy(update={"deadlines": merged})

    def with_retries(self, **overrides: Retry) -> Settings:
        merged = dict(self.retries)
        merged.update({k.replace("__", "."): v for k, v in overrides.items()})
        return self.model_copy(update={"retries": merged})


class _PolicyOverrides(PydanticBaseSettingsSource):
    """``DEADLINE_<OP>`` and ``RETRY_<OP>_<FIELD>`` variables, over the policy table."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.env = env

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # everything is produced by __call__

    def __call__(self) -> dict[str, Any]:
        deadlines: dict[str, object] = {}
        retries: dict[str, object] = {}
        for op in OPS:
            stem = env_name(op)
            raw = self.env.get("DEADLINE_" + stem)
            if raw:
                deadlines[op] = raw
            changed = {
                f: self.env[f"RETRY_{stem}_{f.upper()}"]
                for f in _RETRY_FIELDS
                if self.env.get(f"RETRY_{stem}_{f.upper()}")
            }
            if changed:
                retries[op] = {**asdict(POLICIES[op].retry), **changed}
        out: dict[str, Any] = {}
        if deadlines:
            out["deadlines"] = deadlines
        if retries:
            out["retries"] = retries
        return out


class _MappingEnv(EnvSettingsSource):
    """The environment source, reading a given mapping instead of ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self._mapping = env
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {(k if self.case_sensitive else k.lower()): v for k, v in self._mapping.items() if v}


class _SettingsFromEnv(Settings, BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", frozen=True, env_ignore_empty=True
    )
    # ADMIN_IDS (BOT_ADMIN_IDS is read too, in settings_from_env)
    admin_ids: Annotated[frozenset[int], NoDecode, Field(validation_alias="ADMIN_IDS")] = frozenset()


def environment(env: Mapping[str, str] | None, env_file: Path | None) -> dict[str, str]:
    """``env`` (default ``os.environ``) over the values of the ``env_file`` (``.env``)."""
    merged: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        source = DotEnvSettingsSource(_SettingsFromEnv, env_file=env_file, case_sensitive=True)
        merged.update({k: v for k, v in source.env_vars.items() if v is not None})
    merged.update(os.environ if env is None else env)
    return merged


SourceFactory = Callable[[type[BaseSettings], Mapping[str, str]], PydanticBaseSettingsSource]
M = TypeVar("M", bound=BaseSettings)


def load_from(
    model: type[M],
    values: Mapping[str, str],
    *,
    variable: Callable[[tuple[int | str, ...]], str],
    extra: tuple[SourceFactory, ...] = (),
) -> M:
    """``model`` read from ``values`` (a whole environment), and ``extra`` sources first.

    A bad value raises :class:`SettingsError` naming its variable (``variable(loc)``)."""

    class _Loaded(model):  # type: ignore[valid-type,misc]
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (
                init_settings,
                *(make(settings_cls, values) for make in extra),
                _MappingEnv(settings_cls, values),
            )

    try:
        loaded: M = _Loaded()
    except ValidationError as exc:
        lines = [f"{variable(e['loc'])}: {e['msg']} (got {e.get('input')!r})" for e in exc.errors()]
        raise SettingsError("invalid configuration:\n  " + "\n  ".join(lines)) from None
    return loaded


def _variable(loc: tuple[int | str, ...]) -> str:
    """The environment variable behind a validation error's location."""
    head = str(loc[0]) if loc else ""
    if head == "deadlines" and len(loc) > 1:
        return "DEADLINE_" + str(loc[1]).upper().replace(".", "_")
    if head == "retries" and len(loc) > 2:
        return f"RETRY_{str(loc[1]).upper().replace('.', '_')}_{str(loc[2]).upper()}"
    if head in ("admin_ids", "ADMIN_IDS"):
        return "ADMIN_IDS"
    return ENV_PREFIX + head.upper()


def settings_from_env(
    env: Mapping[str, str] | None = None, *, env_file: Path | None = Path(".env")
) -> Settings:
    """The core settings from ``env`` (default ``os.environ``) and ``env_file``."""
    values = environment(env, env_file)
    if "ADMIN_IDS" not in values and values.get(ENV_PREFIX + "ADMIN_IDS"):
        values["ADMIN_IDS"] = values[ENV_PREFIX + "ADMIN_IDS"]
    loaded = load_from(_SettingsFromEnv, values, variable=_variable, extra=(_PolicyOverrides,))
    return Settings(**{name: getattr(loaded, name) for name in Settings.model_fields})


__all__ = [
    "DEFAULT_DEADLINES",
    "MAX_TELEGRAM_DOWNLOAD_BYTES",
    "Settings",
    "SettingsError",
    "environment",
    "load_from",
    "settings_from_env",
]
