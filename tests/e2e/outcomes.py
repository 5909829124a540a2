"""What became of each upload, read from the Bot API emulator's log of what the bot sent.

Every upload comes from its own chat, so a chat's messages are that upload's answers:
- its profile ends with a message that carries the analysis buttons (``h:<upload_id>``...);
- an explicit failure is one of the bot's failure texts (job failed, download failed,
  could not register, took too long, internal error).
An upload is *analysed* with exactly one profile and no failure, *failed with message*
with exactly one failure and no profile, *lost* with neither, and *duplicated* with
more than one outcome (a profile twice, or a profile and a failure).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import trio

from bot.domain import TgUser
from bot.errors import PortError
from sim.fakes.telegram.records import SentRecord
from sim.fakes.telegram.world import BotApiWorld
from sim.simulator.replies import ReplyClassifier, is_profile

# is_profile is the simulator's own judgement of a delivered profile (the tests import it from here).
# The simulator's classifier matches whole message templates (in both languages), so a
# notice such as "still trying" is never taken for a failure that merely starts alike.
_CLASSIFIER = ReplyClassifier()


def is_failure(record: SentRecord) -> bool:
    """An explicit failure the user was told: a refusal, "could not finish", "took too long"."""
    return record.kind == "message" and _CLASSIFIER.classify(record.text or "") in ("terminal", "notice")


@dataclass(frozen=True)
class SentUpload:
    user: TgUser
    chat_id: int
    file_name: str
    update_id: int


def send_upload(world: BotApiWorld, user_id: int, file_name: str, data: bytes) -> SentUpload:
    user = TgUser(id=user_id, language_code="en", first_name=f"user{user_id}")
    action = world.user_sends_document(user, user_id, file_name, data, mime_type="text/csv")
    return SentUpload(user, user_id, file_name, action.update_id)


def sample_csv(n: int) -> bytes:
    rows = "".join(
        f"{city};{n * 10 + i};2024-02-{i + 1:02d}\n" for i, city in enumerate(("Kazan", "Omsk", "Tver"))
    )
    return f"city;amount;date\n{rows}".encode()


@dataclass(frozen=True)
class Figures:
    scenario: str
    sent: int
    analysed: int
    failed_with_message: int
    lost: int
    duplicated: int
    anomalies: tuple[str, ...] = ()  # which chats were lost or duplicated, for the failure message

    def line(self) -> str:
        return (
            f"[{self.scenario}] sent={self.sent} analysed={self.analysed} "
            f"failed_with_message={self.failed_with_message} lost={self.lost} duplicated={self.duplicated}"
        )


def answers(world: BotApiWorld, upload: SentUpload) -> tuple[int, int]:
    """(profiles, failures) sent to the upload's chat so far."""
    records = world.sent_to(upload.chat_id)
    return sum(map(is_profile, records)), sum(map(is_failure, records))


def tally(world: BotApiWorld, scenario: str, uploads: list[SentUpload]) -> Figures:
    analysed = failed = lost = duplicated = 0
    anomalies = []
    for upload in uploads:
        profiles, failures = answers(world, upload)
        if profiles + failures > 1:
            duplicated += 1
        elif profiles == 1:
            analysed += 1
        elif failures == 1:
            failed += 1
        else:
            lost += 1
        if profiles + failures != 1:
            said = " | ".join((r.text or r.kind)[:40] for r in world.sent_to(upload.chat_id))
            anomalies.append(f"chat {upload.chat_id}: {profiles} profile(s), {failures} failure(s): {said}")
    return Figures(scenario, len(uploads), analysed, failed, lost, duplicated, tuple(anomalies))


async def wait_until_settled(
    world: BotApiWorld,
    uploads: list[SentUpload],
    *,
    open_jobs: Callable[[], Awaitable[int]],
    timeout_s: float,
    quiet_s: float = 3.0,
) -> None:
    """Until every upload has an answer and no job is open, then ``quiet_s`` more (a
    duplicate would show up then). Returns at ``timeout_s`` regardless: the figures
    tell what was missing."""
    with trio.move_on_after(timeout_s):
        while True:
            if all(sum(answers(world, u)) >= 1 for u in uploads):
                try:
                    if await open_jobs() == 0:
                        break
                except (PortError, trio.TooSlowError):  # the database may be down right now
                    pass
            await trio.sleep(0.25)
    await trio.sleep(quiet_s)


def record_figures(path: Path, figures: Figures) -> None:
    """Append to a JSON file of all scenarios' figures (and print them: ``pytest -s``)."""
    print(figures.line(), flush=True)
    existing = json.loads(path.read_text()) if path.exists() else []
    existing.append(asdict(figures))
    path.write_text(json.dumps(existing, indent=2))
