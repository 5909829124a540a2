import io
import json
import logging
import threading

from adapters.logging_sink import QueueLogSink, RedactSecrets, start_logging

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"


def test_token_is_redacted_from_messages_and_tracebacks():
    stream = io.StringIO()
    listener = start_logging([TOKEN], stream=stream)
    try:
        logging.getLogger("httpx").warning(
            'HTTP Request: POST https://api.telegram.org/bot%s/getUpdates "200"', TOKEN
        )
        try:
            raise RuntimeError(f"failed https://api.telegram.org/bot{TOKEN}/sendMessage")
        except RuntimeError:
            logging.getLogger("csvbot").exception("boom")
        QueueLogSink().emit(logging.ERROR, "event", {"url": f"/file/bot{TOKEN}/x"})
    finally:
        listener.stop()
    out = stream.getvalue()
    assert TOKEN not in out
    assert "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1" not in out
    assert out.count("<redacted>") >= 3
    assert "RuntimeError" in out


def test_token_shaped_strings_are_redacted_even_when_not_configured():
    assert RedactSecrets([]).redact(f"x {TOKEN} y") == "x <redacted> y"


class SlowStream(io.StringIO):
    """A sink that blocks every write until released: a stalled disk or pipe."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def write(self, s: str) -> int:
        self.release.wait(timeout=30)
        return super().write(s)


def test_emitting_never_waits_for_a_stalled_writer():
    stream = SlowStream()
    listener = start_logging([], stream=stream)
    try:
        sink = QueueLogSink()
        # 5000 records while the writer is stuck: emit must return without waiting for it.
        for i in range(5000):
            sink.emit(logging.ERROR, "storm", {"i": i})
        assert stream.getvalue() == ""  # nothing written yet: the writer is blocked, the caller is not
    finally:
        stream.release.set()
        listener.stop()
    assert stream.getvalue().count("storm") == 5000


def test_json_lines_carry_the_event_and_its_fields_scrubbed():
    stream = io.StringIO()
    listener = start_logging([TOKEN, "sb-secret-key"], stream=stream, json_lines=True)
    try:
        QueueLogSink().emit(
            logging.WARNING,
            "job.failed",
            {"job_id": "j-1", "attempt": 2, "error": f"bot{TOKEN} key=sb-secret-key", "level": "x"},
        )
        logging.getLogger("csvbot").warning("db at postgresql://bot:hunter2@db:5432/csv is down")
        try:
            raise RuntimeError(TOKEN)
        except RuntimeError:
            logging.getLogger("csvbot").exception("crash")
    finally:
        listener.stop()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 3  # one object per line, the traceback inside its record
    first = lines[0]
    assert first["level"] == "warning" and first["logger"] == "csvbot" and first["event"] == "job.failed"
    assert first["job_id"] == "j-1" and first["attempt"] == 2 and first["field_level"] == "x"
    assert first["error"] == "bot<redacted> key=<redacted>"
    assert first["msg"].startswith("job.failed job_id=j-1 attempt=2")
    assert lines[1]["msg"] == "db at postgresql://bot:<redacted>@db:5432/csv is down"
    assert "RuntimeError" in lines[2]["exc"]
    text = stream.getvalue()
    assert TOKEN not in text and "sb-secret-key" not in text and "hunter2" not in text
