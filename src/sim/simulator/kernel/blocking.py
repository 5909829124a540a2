"""Blocking on the event loop, detected: a blocking call or a long CPU step is a finding.

In simulation a synchronous file write, a ``time.sleep``, a socket or a subprocess
costs no virtual time, so a bot that blocks its loop would pass every scenario. This
watch makes it visible, deterministically:

- Python's audit hooks (``sys.addaudithook``) see file opens, directory and file
  operations, sockets, subprocesses; ``time.sleep`` (not audited before Python 3.12)
  and trio's thread primitive are wrapped for the run. A call is reported when it is
  made on the simulation's loop thread, inside a trio task, and not inside a
  permitted section. Permitted, precisely: the import system loading a module (a
  one-time cost, not a blocking call of the bot's), and work the simulator offloads on
  the bot's behalf (:func:`permitted`: the simulated CPU runner's "worker process").
- A trio :class:`trio.abc.Instrument` measures each step of the bot's tasks in CPU time
  (``time.thread_time``), minus permitted work and garbage collection; a step past
  the budget is reported with the task and where it resumed and stopped. Steps that
  imported a module are not judged (the import's cost is the process's, once).

Each finding names its call site (the innermost frame of the bot's code, or the
innermost frame outside the standard library and the simulator). The findings feed
the ``no_blocking_call`` invariant, checked on every run.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import trio
import trio._threads as _trio_threads

# CPU seconds one task step may burn on the loop: ordinary steps take at most about 3 ms
# with the simulator's own work in them, but a loaded machine has stretched one past 10 ms;
# profiling a small CSV on the loop takes 10-40 ms.
DEFAULT_STEP_BUDGET_S = 0.025
_FINDINGS_KEPT = 50
# Tasks whose steps run the bot's code (the simulator's own tasks are not judged for CPU):
# every task the bot starts, and the supervisor's task that runs ``run_bot`` itself.
_BOT_TASKS = ("bot.", "sim.simulator.kernel.supervisor.BotSupervisor._start_bot")

# Audited events that mean the calling thread waits for the disk, the network or a process.
_BLOCKING_EVENTS = frozenset(
    {
        "open",
        "os.listdir",
        "os.scandir",
        "os.remove",
        "os.rename",
        "os.mkdir",
        "os.rmdir",
        "os.truncate",
        "os.chmod",
        "os.chown",
        "os.link",
        "os.symlink",
        "os.utime",
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "os.fork",
        "os.forkpty",
        "os.startfile",
        "shutil.copyfile",
        "shutil.copymode",
        "shutil.copystat",
        "shutil.copytree",
        "shutil.move",
        "shutil.rmtree",
        "shutil.make_archive",
        "shutil.unpack_archive",
        "glob.glob",
        "subprocess.Popen",
        "sqlite3.connect",
        "urllib.Request",
        "http.client.connect",
        "ftplib.connect",
        "smtplib.connect",
        "poplib.connect",
        "imaplib.open",
        "nntplib.connect",
        "telnetlib.Telnet.open",
        "webbrowser.open",
    }
)
_BLOCKING_PREFIXES = ("socket.",)

_SRC = Path(__file__).resolve().parents[3]  # .../src
_BOT = str(_SRC / "bot")
_SIM = str(_SRC / "sim")
_STDLIB = str(Path(threading.__file__).resolve().parent)
_THREAD_PRIMITIVE = "start_thread_soon"  # what trio.to_thread.run_sync calls to spawn a thread
_IMPORT_FRAMES = ("<frozen importlib._bootstrap", "<frozen zipimport")


@dataclass(frozen=True, slots=True)
class BlockingCall:
    what: str  # the audited event (or "time.sleep", "trio.to_thread")
    detail: str
    site: str  # file:line (function) of the call
    task: str

    def describe(self) -> str:
        return f"{self.what}({self.detail}) at {self.site} in task {self.task}"


@dataclass(frozen=True, slots=True)
class SlowStep:
    cpu_s: float
    task: str
    stopped_at: str  # where the task waits after the step (its innermost frame of the bot's code)

    def describe(self) -> str:
        return f"{self.cpu_s * 1000:.0f} ms of CPU in one step of task {self.task}, up to {self.stopped_at}"


@dataclass(slots=True)
class BlockingWatch:
    """What one simulation run did that blocks the loop."""

    step_budget_s: float = DEFAULT_STEP_BUDGET_S
    calls: list[BlockingCall] = field(default_factory=list)
    slow_steps: list[SlowStep] = field(default_factory=list)
    calls_seen: int = 0
    slow_steps_seen: int = 0
    loop_thread: int = 0
    _permitted_depth: int = 0
    _excluded_cpu_s: float = 0.0  # permitted work and GC so far (a running total)
    _imported: bool = False  # a module was imported since the last step ended
    _gc_started: float | None = None

    @property
    def findings(self) -> list[str]:
        return [c.describe() for c in self.calls] + [s.describe() for s in self.slow_steps]

    def _on_loop(self) -> bool:
        if self._permitted_depth or threading.get_ident() != self.loop_thread:
            return False
        try:
            trio.lowlevel.current_task()
        except RuntimeError:
            return False
        return True

    def report_call(self, what: str, detail: str, frame: FrameType | None) -> None:
        self.calls_seen += 1
        if len(self.calls) < _FINDINGS_KEPT:
            self.calls.append(BlockingCall(what, detail, _call_site(frame), _task_name()))

    def audit(self, event: str, args: tuple[Any, ...]) -> None:
        if event == "import":
            self._imported = True
            return
        if event not in _BLOCKING_EVENTS and not event.startswith(_BLOCKING_PREFIXES):
            return
        if not self._on_loop():
            return
        frame = sys._getframe(2)
        if _inside_import(frame):
            return
        self.report_call(event, _short(args), frame)

    def gc_callback(self, phase: str, _info: dict[str, Any]) -> None:
        if threading.get_ident() != self.loop_thread:
            return
        if phase == "start":
            self._gc_started = time.thread_time()
        elif self._gc_started is not None:
            self._excluded_cpu_s += time.thread_time() - self._gc_started
            self._gc_started = None


_ACTIVE: BlockingWatch | None = None
_HOOK_INSTALLED = False


# Audited on nearly every deadline trio registers and every frame walk: answered first,
# before anything else is looked up (a run raises about a hundred thousand of them).
_FREQUENT_HARMLESS = frozenset({"builtins.id", "object.__getattr__"})


def _audit_hook(event: str, args: tuple[Any, ...]) -> None:
    if event in _FREQUENT_HARMLESS:
        return
    watch = _ACTIVE
    if watch is not None:
        watch.audit(event, args)


def _short(args: tuple[Any, ...]) -> str:
    text = ", ".join(repr(a) for a in args[:2])
    return text if len(text) <= 120 else text[:117] + "..."


def _inside_import(frame: FrameType | None) -> bool:
    while frame is not None:
        if frame.f_code.co_filename.startswith(_IMPORT_FRAMES):
            return True
        frame = frame.f_back
    return False


def _where(frame: FrameType) -> str:
    path = frame.f_code.co_filename
    shown = path[len(str(_SRC)) + 1 :] if path.startswith(str(_SRC)) else path
    return f"{shown}:{frame.f_lineno} ({frame.f_code.co_name})"


def _call_site(frame: FrameType | None) -> str:
    """The innermost frame of the bot's code; else the innermost one outside the standard
    library and the simulator; else the innermost frame."""
    first_foreign: FrameType | None = None
    innermost = frame
    while frame is not None:
        path = frame.f_code.co_filename
        if path.startswith(_BOT):
            return _where(frame)
        if first_foreign is None and not path.startswith((_STDLIB, _SIM, "<")):
            first_foreign = frame
        frame = frame.f_back
    chosen = first_foreign or innermost
    return _where(chosen) if chosen is not None else "?"


def _task_name() -> str:
    try:
        return trio.lowlevel.current_task().name
    except RuntimeError:
        return "?"


def _suspended_at(task: trio.lowlevel.Task) -> str:
    """Where a task's coroutine chain is suspended: its innermost frame of the bot's code."""
    coro: Any = task.coro
    innermost = "?"
    seen = 0
    while coro is not None and seen < 100:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            break
        if frame.f_code.co_filename.startswith(_BOT) or innermost == "?":
            innermost = _where(frame)
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
        seen += 1
    return innermost


class StepClock(trio.abc.Instrument):
    """Measures each task step's CPU time on the loop thread against the watch's budget.

    The thread's CPU clock is a system call, and read after every step it was a tenth of
    a run; the wall clock is not. A step's CPU time is never more than its wall time, so
    the CPU clock is read only once at least ``_READ_EVERY_S`` of wall time has passed
    since it was last read; a step with less cannot be over budget. Such a read covers the
    steps since the last one too: their wall time is taken off, which makes the figure a
    lower bound of the step's CPU time (never a false finding; at most ``_READ_EVERY_S``
    under). A step is measured from the end of the one before, so it includes trio's few
    microseconds of scheduling in between; permitted work and garbage collection,
    wherever they fall, are subtracted through a running total. Neither clock reaches the
    trace or the schedule: they only decide this finding."""

    _READ_EVERY_S = 0.001

    def __init__(self, watch: BlockingWatch) -> None:
        self.watch = watch
        self._reset()

    def _reset(self) -> None:
        self._step_ended = self._read_at = time.perf_counter()
        self._cpu = time.thread_time()
        self._excluded = self.watch._excluded_cpu_s

    def before_run(self) -> None:
        self._reset()
        self.watch._imported = False

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        watch = self.watch
        now, step_began = time.perf_counter(), self._step_ended
        self._step_ended = now
        imported, watch._imported = watch._imported, False
        if now - self._read_at < self._READ_EVERY_S:
            return
        cpu, excluded = time.thread_time(), watch._excluded_cpu_s
        earlier_steps = max(0.0, step_began - self._read_at)
        spent = cpu - self._cpu - (excluded - self._excluded) - earlier_steps
        self._cpu, self._excluded, self._read_at = cpu, excluded, now
        if spent <= watch.step_budget_s or imported or not task.name.startswith(_BOT_TASKS):
            return
        watch.slow_steps_seen += 1
        if len(watch.slow_steps) < _FINDINGS_KEPT:
            watch.slow_steps.append(SlowStep(round(spent, 4), task.name, _suspended_at(task)))


@contextmanager
def permitted() -> Iterator[None]:
    """Work the simulator does on the bot's behalf elsewhere (a worker process): its
    blocking calls and its CPU time are not the loop's."""
    watch = _ACTIVE
    if watch is None:
        yield
        return
    watch._permitted_depth += 1
    started = time.thread_time()
    try:
        yield
    finally:
        watch._permitted_depth -= 1
        if watch._permitted_depth == 0:
            watch._excluded_cpu_s += time.thread_time() - started


def _wrap_sleep(real: Callable[[float], None], watch: BlockingWatch) -> Callable[[float], None]:
    def sleep(seconds: float) -> None:
        if watch._on_loop():
            watch.report_call("time.sleep", repr(seconds), sys._getframe(1))
        real(seconds)

    return sleep


def _wrap_thread_start(real: Callable[..., Any], watch: BlockingWatch) -> Callable[..., Any]:
    def start_thread_soon(*args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() == watch.loop_thread:
            watch.report_call("trio.to_thread", getattr(args[0], "__qualname__", "?"), sys._getframe(1))
        return real(*args, **kwargs)

    return start_thread_soon


@contextmanager
def watching(watch: BlockingWatch) -> Iterator[BlockingWatch]:
    """Watch the current thread's simulation run for blocking (use around ``trio.run``,
    with ``StepClock(watch)`` among its instruments)."""
    global _ACTIVE, _HOOK_INSTALLED
    if not _HOOK_INSTALLED:
        sys.addaudithook(_audit_hook)  # for the life of the process; idle when no watch is active
        _HOOK_INSTALLED = True
    previous = _ACTIVE
    watch.loop_thread = threading.get_ident()
    real_sleep = time.sleep
    real_start: Callable[..., Any] = getattr(_trio_threads, _THREAD_PRIMITIVE)
    setattr(time, "sleep", _wrap_sleep(real_sleep, watch))  # noqa: B010 (mypy: a narrower signature)
    setattr(_trio_threads, _THREAD_PRIMITIVE, _wrap_thread_start(real_start, watch))
    gc.callbacks.append(watch.gc_callback)
    _ACTIVE = watch
    try:
        yield watch
    finally:
        _ACTIVE = previous
        gc.callbacks.remove(watch.gc_callback)
        setattr(time, "sleep", real_sleep)  # noqa: B010
        setattr(_trio_threads, _THREAD_PRIMITIVE, real_start)
