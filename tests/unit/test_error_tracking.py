"""Error tracking: the real sentry-sdk client sends to a local HTTP endpoint that stands
in for Sentry; the test reads the envelopes it received. No secret may be among them."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

TOKEN = "987654321:AAFz9Qw7Lm3Xc5Vb8Nn1Pp4Rr6Tt2Yy0Uu"
SUPABASE_KEY = "sb-service-key-0f9e8d7c6b5a4f3e2d1c"
DB_PASSWORD = "pw-Zq8Lr2Vt5Ks"
REDIS_PASSWORD = "rd-Hx4Mn7Qp1Wc"
SECRETS = (TOKEN, TOKEN.partition(":")[2], SUPABASE_KEY, DB_PASSWORD, REDIS_PASSWORD)

SRC = Path(__file__).resolve().parents[2] / "src"


def _decode(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding == "br":
        import brotli  # type: ignore[import-not-found]

        return bytes(brotli.decompress(body))
    return body


class Sentry:
    """What a Sentry server would have received: raw envelopes and the items in them."""

    def __init__(self) -> None:
        self.envelopes: list[bytes] = []

    def items(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for envelope in self.envelopes:
            lines = envelope.split(b"\n")
            # header, then (item header, payload) pairs
            for i in range(1, len(lines) - 1, 2):
                if not lines[i].strip():
                    continue
                header = json.loads(lines[i])
                if header.get("type") == "event":
                    found.append(json.loads(lines[i + 1]))
        return found


@pytest.fixture
def sentry() -> Iterator[tuple[Sentry, str]]:
    received = Sentry()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.envelopes.append(_decode(body, self.headers.get("Content-Encoding", "")))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield received, f"http://publickey@127.0.0.1:{server.server_address[1]}/42"
    finally:
        server.shutdown()
        server.server_close()


# The real entry point crashes at start (Postgres refuses), then a job fails through the
# log sink the composition root builds.
SCRIPT = """
import logging, sys
import sentry_sdk
from adapters.__main__ import main
from adapters.logging_sink import QueueLogSink
from adapters.ops.error_tracking import ErrorTrackingLogSink
try:
    main(["run"])
except Exception:
    pass
else:
    sys.exit("the bot was expected to crash")
token = sys.argv[1]
ErrorTrackingLogSink(QueueLogSink()).emit(
    logging.ERROR,
    "job.failed",
    {"job_id": "job-7", "reason": "internal error", "error": f"GET /file/bot{token}/doc.csv"},
)
sentry_sdk.flush(timeout=10)
"""


def test_crash_and_failed_job_arrive_tagged_and_without_secrets(sentry: tuple[Sentry, str]) -> None:
    received, dsn = sentry
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "SENTRY_DSN": dsn,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "STORAGE": "local",
        "SUPABASE_KEY": SUPABASE_KEY,
        "DATABASE_URL": f"postgresql://bot:{DB_PASSWORD}@127.0.0.1:1/csvbot",
        "REDIS_URL": f"redis://:{REDIS_PASSWORD}@127.0.0.1:1/0",
        "METRICS_PORT": "0",
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, TOKEN], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]

    raw = b"".join(received.envelopes)
    for secret in SECRETS:
        assert secret.encode() not in raw, f"a secret reached Sentry: {secret[:6]}..."
    events = received.items()
    crash = [e for e in events if e.get("exception")]
    assert crash, f"no crash event among {len(events)} events"
    frames_vars = json.dumps(
        [f.get("vars") for v in crash[0]["exception"]["values"] for f in v["stacktrace"]["frames"]]
    )
    assert "<redacted>" in frames_vars or "[Filtered]" in frames_vars  # the secrets were there, and went
    failed = [
        e
        for e in events
        if e.get("message") == "job.failed" or e.get("logentry", {}).get("message") == "job.failed"
    ]
    assert len(failed) == 1
    assert failed[0]["tags"]["operation"] == "job"
    assert failed[0]["tags"]["job_id"] == "job-7"
    assert "bot<redacted>/doc.csv" in json.dumps(failed[0])
