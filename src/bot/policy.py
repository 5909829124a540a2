"""The operation policy table: every outside call's deadline and retry, in one place.

Each operation the bot performs against another service has a typed name (``Op``,
so a typo fails in mypy) and exactly one :class:`Policy` here. Settings may
override any of them from the environment (``DEADLINE_DB_CONNECT=3``,
``RETRY_STORAGE_UPLOAD_ATTEMPTS=2``); nothing else in the code base writes a
deadline, a retry count or a backoff.

Retries are run by stamina (exponential backoff plus jitter); ``attempts=None``
retries until the caller's own budget ends. In simulation the jitter comes from
the global ``random`` module, which the simulator seeds from the scenario seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Literal, get_args

from pydantic import Field

NonNegative = Annotated[float, Field(ge=0)]

Op = Literal[
    "db.connect",
    "db.statement",
    "db.record_upload",
    "db.record_end",
    "handler",
    "interactive",
    "storage.upload",
    "storage.download",
    "storage.call",
    "redis",
    "redis.connect",
    "redis.pause",
    "redis.mark",
    "db.pause",
    "queue",
    "queue.claim",
    "telegram.call",
    "telegram.send_file",
    "telegram.download",
    "telegram.poll",
    "update.redeliver",
    "update.hold",
    "telegram.notice",
    "telegram.failure_notice",
    "analysis",
    "job",
    "shutdown",
    "broadcast.send",
    "broadcast.record",
    "db.bans",
]

OPS: tuple[Op, ...] = get_args(Op)


@dataclass(frozen=True, slots=True)
class Retry:
    """How often and how patiently a failed attempt is tried again.

    The wait before retry ``n`` is ``min(wait_max, wait_initial * 2**(n-1)) + U(0, wait_jitter)``.
    ``attempts`` counts the first try; ``None`` means until the caller's budget ends."""

    attempts: Annotated[int, Field(ge=1)] | None = 1
    wait_initial: NonNegative = 0.5
    wait_max: NonNegative = 10.0
    wait_jitter: NonNegative = 0.5


@dataclass(frozen=True, slots=True)
class Policy:
    deadline: float  # seconds for one attempt
    retry: Retry = Retry()


ONCE = Retry()
# A 429 is Telegram saying "wait", not a failure: its waits count as attempts too,
# and the caller's budget bounds them all.
TELEGRAM_RETRY = Retry(attempts=20, wait_initial=0.5, wait_max=8.0, wait_jitter=0.5)
STORAGE_RETRY = Retry(attempts=5, wait_initial=0.5, wait_max=10.0, wait_jitter=0.5)

POLICIES: dict[Op, Policy] = {
    # Adapters' own backstops: the Postgres and Redis connect timeouts.
    "db.connect": Policy(5.0),
    "redis.connect": Policy(2.0),
    "db.statement": Policy(10.0),
    # Recording an upload is what the user waits for: a passing failure is retried briefly.
    "db.record_upload": Policy(10.0, Retry(attempts=4, wait_initial=0.25, wait_max=2.0, wait_jitter=0.25)),
    # Recording what the user already has (a sent part, the job's end) must not be lost:
    # the next attempt would repeat it. It waits for the database however long it is
    # away, with short waits, so it lands before anyone could take the job over.
    "db.record_end": Policy(10.0, Retry(attempts=None, wait_initial=0.1, wait_max=1.0, wait_jitter=0.1)),
    "handler": Policy(8.0),
    "interactive": Policy(30.0),  # a button press that re-reads a file and draws a chart
    "storage.upload": Policy(15.0, STORAGE_RETRY),
    "storage.download": Policy(10.0, STORAGE_RETRY),
    "storage.call": Policy(10.0),
    "redis": Policy(1.5),
    # The shared send bucket's pause: a 429 told to it (the other processes must see it
    # before they send again, so a slow attempt is cut short and tried again at once),
    # and read before a send on the local limit (once: it delays the send).
    "redis.pause": Policy(0.25, Retry(attempts=4, wait_initial=0.01, wait_max=0.05, wait_jitter=0.01)),
    # A marker that records an answer already sent (bot.upload_hold.remember_said): tried
    # again, since it is all that keeps a redelivered update from being answered twice.
    "redis.mark": Policy(0.5, Retry(attempts=5, wait_initial=0.1, wait_max=1.0, wait_jitter=0.1)),
    # A 429's pause on the database's board: a send pause (the bucket's second channel),
    # read beside the bucket's before a send on the local limit; getUpdates' pause, read
    # by a poller at start.
    "db.pause": Policy(0.5, Retry(attempts=4, wait_initial=0.01, wait_max=0.05, wait_jitter=0.01)),
    "queue": Policy(2.0),
    # A blocking read: its deadline is added to the read's own wait. A failed claim
    # is retried for as long as the worker runs.
    # Capped near the read's own wait, so a queue that comes back is used at once.
    "queue.claim": Policy(2.0, Retry(attempts=None, wait_initial=0.5, wait_max=5.0, wait_jitter=0.5)),
    "telegram.call": Policy(10.0, TELEGRAM_RETRY),
    "telegram.send_file": Policy(30.0, TELEGRAM_RETRY),
    "telegram.download": Policy(20.0, TELEGRAM_RETRY),
    # A long poll: this deadline is the margin over the poll's own timeout. Polling
    # never gives up; 409 Conflict (another poller) backs off to a minute.
    "telegram.poll": Policy(10.0, Retry(attempts=None, wait_initial=1.0, wait_max=60.0, wait_jitter=1.0)),
    # An update whose answer did not reach the user is handled again; each attempt
    # runs under "handler". About five minutes in all: a user who sent a file while
    # Telegram refused the bot's replies for a minute or more still hears about it
    # (scenarios/regressions/swarm-279-shared-429.toml); only the chat's own later
    # updates wait behind it.
    "update.redeliver": Policy(
        math.inf, Retry(attempts=10, wait_initial=1.0, wait_max=60.0, wait_jitter=1.0)
    ),
    # An upload held while the database is away (bot.upload_hold): its next try to record
    # it. Short waits, so a database that is back is used within seconds; the hold's own
    # length (BOT_UPLOAD_HOLD_S) bounds the tries.
    "update.hold": Policy(math.inf, Retry(attempts=None, wait_initial=1.0, wait_max=5.0, wait_jitter=1.0)),
    # Budgets of several attempts together: a best-effort message (a receipt, an
    # apology) and a job's failure message (the user's only answer, so longer).
    "telegram.notice": Policy(10.0),
    "telegram.failure_notice": Policy(20.0),
    "analysis": Policy(60.0),
    "job": Policy(180.0),
    "shutdown": Policy(10.0),
    # A broadcast's message: in the bulk lane, below replies (bot.send_lanes); a 429 waits.
    "broadcast.send": Policy(10.0, TELEGRAM_RETRY),
    # The record that a broadcast's message went out: it waits for the database, like
    # db.record_end, so a resumed broadcast never sends it again.
    "broadcast.record": Policy(10.0, Retry(attempts=None, wait_initial=0.1, wait_max=1.0, wait_jitter=0.1)),
    # Re-reading the ban list: an update waits for it, so it is short; when it fails,
    # the list read last stays in force.
    "db.bans": Policy(2.0),
}


def env_name(op: Op) -> str:
    """``db.connect`` -> ``DB_CONNECT``, the stem of its environment variables."""
    return op.upper().replace(".", "_")
