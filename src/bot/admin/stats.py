"""``/stats``: what the database says (users, uploads, failures, open jobs) and what
this process measured (answer times, the queue stream, DB sessions, counters)."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from datetime import datetime

from bot.admin.records import AdminStats
from bot.admin.texts import t_admin
from bot.metrics import MetricsSnapshot

MAX_REASONS = 5  # per window; the rest are summed as "other"


def _reasons(counts: Mapping[str, int], lang: str) -> str:
    if not counts:
        return t_admin(lang, "none")
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = [f"{html.escape(reason or '?')} {n}" for reason, n in items[:MAX_REASONS]]
    rest = sum(n for _, n in items[MAX_REASONS:])
    if rest:
        shown.append(f"other {rest}")
    return ", ".join(shown)


def _seconds(value: float | None, lang: str) -> str:
    if value is None or math.isnan(value):
        return t_admin(lang, "none")
    return f"{value:.2f} s"


def _p95(snapshot: MetricsSnapshot, operation: str) -> float | None:
    summary = snapshot.operations.get(operation)
    return None if summary is None or summary.count == 0 else summary.p95


def stats_text(stats: AdminStats, snapshot: MetricsSnapshot, now: datetime, lang: str) -> str:
    refused = {
        label.partition(":")[2]: n
        for (name, label), n in snapshot.counters.items()
        if name == "uploads" and label.startswith("rejected:") and n
    }
    gauges = snapshot.gauges
    oldest = t_admin(lang, "none")
    if stats.oldest_open_job_at is not None:
        age = max(0, round((now - stats.oldest_open_job_at).total_seconds()))
        oldest = t_admin(lang, "ago", seconds=age)
    stream = str(int(gauges["queue.depth"])) if "queue.depth" in gauges else t_admin(lang, "unknown")
    sessions = t_admin(lang, "unknown")
    if "db.sessions_in_use" in gauges:
        sessions = t_admin(
            lang,
            "sessions",
            in_use=int(gauges["db.sessions_in_use"]),
            limit=int(gauges.get("db.session_limit", 0)),
            waiting=int(gauges.get("db.sessions_waiting", 0)),
        )
    return t_admin(
        lang,
        "stats",
        users_day=stats.users_active_day,
        users_week=stats.users_active_week,
        users_total=stats.users_total,
        uploads_hour=stats.uploads_hour,
        uploads_day=stats.uploads_day,
        failed_hour=_reasons(stats.failed_hour, lang),
        failed_day=_reasons(stats.failed_day, lang),
        refused=_reasons(refused, lang),
        accepted=snapshot.counter("uploads", "accepted"),
        analysed=snapshot.counter("uploads", "analysed"),
        rejected=sum(refused.values()),
        failed=sum(
            n
            for (name, label), n in snapshot.counters.items()
            if name == "uploads" and label.startswith("failed:")
        ),
        reply_p95=_seconds(_p95(snapshot, "handler"), lang),
        job_p95=_seconds(_p95(snapshot, "job.total"), lang),
        open_jobs=stats.open_jobs,
        stream=stream,
        oldest=oldest,
        sessions=sessions,
        updates=snapshot.counted("updates"),
        in_flight=int(gauges.get("updates.in_flight", 0)),
        retries=snapshot.counted("retries"),
        throttled=snapshot.counted("telegram.429"),
    )


__all__ = ["stats_text"]
