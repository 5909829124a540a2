"""scripts/pgbouncer.sh as CI runs it: as root, whatever the database user is called."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from tests.e2e.processes import free_port

pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "pgbouncer.sh"


@pytest.mark.skipif(os.geteuid() != 0, reason="the case of a root caller")
@pytest.mark.skipif(
    shutil.which("pgbouncer") is None and not Path("/usr/sbin/pgbouncer").exists(),
    reason="pgbouncer is not installed",
)
def test_starts_as_root_when_the_database_user_is_root() -> None:
    folder = tempfile.mkdtemp(prefix="csvbot-pgbouncer-")  # not under root's private tmp
    env = {**os.environ, "PGBOUNCER_PORT": str(free_port()), "PGBOUNCER_USER": "root"}
    try:
        started = subprocess.run(
            ["bash", str(SCRIPT), "start", folder], env=env, capture_output=True, text=True, timeout=60
        )
        assert started.returncode == 0, started.stderr
        assert "pool_mode=transaction" in started.stderr
        assert '"root"' in Path(folder, "userlist.txt").read_text()
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", folder], env=env, capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)
