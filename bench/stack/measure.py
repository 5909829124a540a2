"""What the benchmark measures besides latencies: CPU and memory of each process tree
(psutil), database sessions in use (pg_stat_activity) and pgbouncer's queue (SHOW POOLS).

Sampling runs in a thread every ``SAMPLE_S``, never on the event loop.
"""

from __future__ import annotations

import contextlib
import math
import threading
from dataclasses import dataclass, field

import psutil
import psycopg

SAMPLE_S = 0.5


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def tree_cpu_s(pid: int) -> tuple[float, float]:
    """CPU seconds of ``pid`` itself, and of its children (reaped and live descendants:
    the CPU pool that parses files and draws charts)."""
    try:
        root = psutil.Process(pid)
        t = root.cpu_times()
        kids = t.children_user + t.children_system
        for kid in root.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                k = kid.cpu_times()
                kids += k.user + k.system
        return t.user + t.system, kids
    except psutil.Error:
        return math.nan, math.nan


def tree_rss_mb(pid: int) -> tuple[float, float]:
    """(RSS of the process, RSS of it and its descendants), MB."""
    try:
        root = psutil.Process(pid)
        own = root.memory_info().rss
        total = own
        for kid in root.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += kid.memory_info().rss
        return own / 2**20, total / 2**20
    except psutil.Error:
        return math.nan, math.nan


def peak_rss_mb(pid: int) -> float:
    """The kernel's high-water mark of the process's RSS (VmHWM)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.nan


@dataclass
class ProcessSample:
    peak_own_mb: float = 0.0
    peak_tree_mb: float = 0.0


@dataclass
class Sampler:
    """Peaks of memory per process tree, sessions in use and pgbouncer's waiting clients."""

    pids: dict[str, int]
    direct_url: str
    admin_url: str | None
    memory: dict[str, ProcessSample] = field(default_factory=dict)
    sessions: list[int] = field(default_factory=list)  # server sessions not idle, per sample
    pooler_waiting: list[int] = field(default_factory=list)
    pooler_maxwait_s: float = 0.0
    errors: int = 0

    def _sample_processes(self) -> None:
        for name, pid in self.pids.items():
            own, tree = tree_rss_mb(pid)
            peak = self.memory.setdefault(name, ProcessSample())
            if not math.isnan(own):
                peak.peak_own_mb = max(peak.peak_own_mb, own)
                peak.peak_tree_mb = max(peak.peak_tree_mb, tree)

    def _sample_database(
        self, direct: psycopg.Connection[tuple[object, ...]], admin: psycopg.Connection | None
    ) -> None:
        row = direct.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid() AND state <> 'idle'"
        ).fetchone()
        self.sessions.append(int(row[0]) if row else 0)
        if admin is not None:
            cur = psycopg.ClientCursor(admin)  # the admin console speaks the simple protocol only
            cur.execute("SHOW POOLS")
            names = [d.name for d in cur.description or ()]
            waiting, maxwait = 0, 0.0
            for values in cur.fetchall():
                r = dict(zip(names, values, strict=True))
                if r.get("database") == "pgbouncer":
                    continue
                waiting += int(r.get("cl_waiting", 0))
                maxwait = max(maxwait, float(r.get("maxwait", 0)) + float(r.get("maxwait_us", 0)) / 1e6)
            self.pooler_waiting.append(waiting)
            self.pooler_maxwait_s = max(self.pooler_maxwait_s, maxwait)

    def run_in_thread(self, stop: threading.Event) -> None:
        direct = psycopg.connect(self.direct_url, autocommit=True, connect_timeout=5)
        admin = None
        if self.admin_url:
            with contextlib.suppress(psycopg.Error):
                admin = psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5)
        try:
            while not stop.wait(SAMPLE_S):
                self._sample_processes()
                try:
                    self._sample_database(direct, admin)
                except psycopg.Error:
                    self.errors += 1
        finally:
            direct.close()
            if admin is not None:
                admin.close()

    def summary(self) -> dict[str, object]:
        return {
            "sessions_in_use_peak": max(self.sessions, default=0),
            "sessions_in_use_mean": sum(self.sessions) / len(self.sessions) if self.sessions else 0.0,
            "pooler_waiting_peak": max(self.pooler_waiting, default=0),
            "pooler_maxwait_s": self.pooler_maxwait_s,
            "sampler_errors": self.errors,
        }
