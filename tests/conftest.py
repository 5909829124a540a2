"""Session-wide services for the tests.

CI (and anyone with services) sets DATABASE_URL and REDIS_URL. Without them, a
private embedded Postgres and Redis are started once for the session, so the test
command works on a machine with only Python and pip.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

_embedded_dir: Path | None = None


SRC = Path(__file__).resolve().parents[1] / "src"


def pytest_configure(config: pytest.Config) -> None:
    global _embedded_dir
    # Child processes (job workers, the command line) run this checkout's code too,
    # whatever is installed.
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH", "")) if p)
    if os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"):
        return
    from adapters import embedded

    _embedded_dir = Path(tempfile.mkdtemp(prefix="csvbot-tests-"))
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = embedded.start_embedded_postgres(_embedded_dir / "pg")
    if not os.environ.get("REDIS_URL"):
        os.environ["REDIS_URL"] = embedded.start_embedded_redis(_embedded_dir / "redis")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _embedded_dir is None:
        return
    from adapters import embedded

    embedded.stop_embedded_redis(_embedded_dir / "redis")
    embedded.stop_embedded_postgres(_embedded_dir / "pg")
    shutil.rmtree(_embedded_dir, ignore_errors=True)
