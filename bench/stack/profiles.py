"""Summaries of py-spy's raw (collapsed) profiles: where a process spends its CPU.

    python bench/stack/profiles.py bench/out/prof/burst-200-bot.txt [...]

Each line of a raw profile is ``frame;frame;...;leaf count``, with idle time left out,
so the counts are CPU samples. Printed: the share of samples by area (the first rule in
CATEGORIES that matches any frame of a stack, innermost first, wins), then the frames
with the largest inclusive share.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

# (area, pattern on a frame), checked from the leaf outwards.
CATEGORIES: list[tuple[str, str]] = [
    ("analysis (bot/analysis)", r"bot/analysis/"),
    ("logging", r"logging/|logging_sink"),
    ("postgres client (psycopg)", r"psycopg/"),
    ("redis client (redis-py)", r"redis/"),
    ("asyncio loop (for csvbot: the trio-asyncio bridge)", r"trio_asyncio/|asyncio/"),
    ("HTTP client (httpx, httpcore, h11)", r"httpx|httpcore/|h11/|anyio/"),
    ("storage client (supabase, storage3)", r"storage3/|supabase/|postgrest/"),
    ("JSON", r"json/"),
    ("bot core (src/bot)", r"/bot/"),
    ("adapters (src/adapters)", r"/adapters/"),
    ("trio scheduler and I/O", r"trio/"),
    ("aiogram, aiohttp", r"aiogram/|aiohttp/|pydantic"),
    ("process pool (trio_parallel, multiprocessing)", r"trio_parallel|multiprocessing"),
]
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:]*):?(?P<line>\d*)\)$")


def load(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def _short(frame: str) -> str:
    m = _FRAME.match(frame)
    if not m:
        return frame
    file = m["file"]
    for marker in ("site-packages/", "/src/", "lib/python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{m['func']} ({file})"


def _role(frames: list[str]) -> str:
    """py-spy --subprocesses names the processes first: the bot/worker, then a pool child."""
    pool = any(f.startswith(("process ", " spawn_main")) and "multiprocessing" in f for f in frames[:3])
    return "CPU pool" if pool else "main"


def summarise(path: Path, top: int = 15, role: str = "main") -> str:
    every = load(path)
    roles: Counter[str] = Counter()
    for frames, count in every:
        roles[_role(frames)] += count
    stacks = [(f, c) for f, c in every if _role(f) == role]
    total = sum(c for _, c in stacks) or 1
    areas: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in stacks:
        area = "other"
        for frame in reversed(frames):
            hit = next((name for name, pattern in CATEGORIES if re.search(pattern, frame)), None)
            if hit:
                area = hit
                break
        areas[area] += count
        for frame in {_short(f) for f in frames}:
            inclusive[frame] += count
    split = ", ".join(f"{r} {100 * c / max(1, sum(roles.values())):.0f} %" for r, c in roles.most_common())
    lines = [
        f"{path.name} ({split}); the {role} process: {total} CPU samples",
        "",
        "| area | share |",
        "|---|---:|",
    ]
    lines += [f"| {a} | {100 * c / total:.1f} % |" for a, c in areas.most_common()]
    lines += ["", "| frame (inclusive) | share |", "|---|---:|"]
    skip = (
        "<module>",
        "run (trio/_core/_run.py)",
        "unrolled_run",
        "_bootstrap",
        "main (",
        "process ",
        "_run_code",
    )
    shown = 0
    for frame, count in inclusive.most_common():
        if any(s in frame for s in skip):
            continue
        lines.append(f"| `{frame}` | {100 * count / total:.1f} % |")
        shown += 1
        if shown == top:
            break
    return "\n".join(lines)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(summarise(Path(name)), end="\n\n")
        print(summarise(Path(name), role="CPU pool"), end="\n\n")
