"""Client CPU and wall time per repository transaction (an update claim), on this machine.

    python bench/db_tx_bench.py                       # DATABASE_URL, 4 sessions, 400 claims
    python bench/db_tx_bench.py --url $PGBOUNCER_URL --concurrency 1
    python bench/db_tx_bench.py --src /path/to/other/checkout/src   # compare another version

CPU is this process's (``time.process_time``: every thread), divided by the number of
transactions; wall time is the batch's, divided likewise. Runs inside a trio-asyncio loop,
as the bot does, so versions that go through the bridge can be compared.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime

import trio
import trio_asyncio


async def measure(url: str, concurrency: int, count: int) -> tuple[float, float]:
    from adapters.postgres import open_postgres_repository

    repo = await open_postgres_repository(url, concurrency)
    base = time.time_ns() // 1000
    try:
        await repo.claim_update(base - 1, datetime.now(UTC))  # open a session, warm up
        slots = trio.Semaphore(concurrency)

        async def claim(n: int) -> None:
            async with slots:
                await repo.claim_update(base + n, datetime.now(UTC))

        wall, cpu = time.perf_counter(), time.process_time()
        async with trio.open_nursery() as nursery:
            for n in range(count):
                nursery.start_soon(claim, n)
        return (time.perf_counter() - wall) / count, (time.process_time() - cpu) / count
    finally:
        await repo.aclose()


async def main(args: argparse.Namespace) -> None:
    async with trio_asyncio.open_loop():
        wall, cpu = await measure(args.url, args.concurrency, args.count)
    print(
        f"{args.count} claims, {args.concurrency} sessions: "
        f"client CPU {cpu * 1000:.3f} ms/tx, wall {wall * 1000:.3f} ms/tx (load {os.getloadavg()[0]:.1f})"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--url", default=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1/test")
    )
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--src", default=os.path.join(os.path.dirname(__file__), "..", "src"))
    args = parser.parse_args()
    sys.path.insert(0, os.path.abspath(args.src))
    trio.run(main, args)
