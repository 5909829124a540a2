import io
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
