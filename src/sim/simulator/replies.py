"""What the bot's replies mean to the user who gets them: one judgement for every judge.

The simulator's users (:mod:`sim.simulator.workload`) and the end-to-end tests read
the same records of what the bot sent, and decide with these functions whether a
profile arrived, a failure was explained, or the bot merely chatted.
"""

from __future__ import annotations

import functools
import re

from bot.analysis.texts import TEXTS as ANALYSIS_TEXTS
from bot.i18n import SUPPORTED, t
from bot.interact import profile_keyboard
from sim.fakes.telegram.records import SentRecord

# The profile's last message carries the analysis buttons; their callback data starts
# with this mark (``h:<upload_id>``, the histogram button of bot.interact.profile_keyboard).
_PROFILE_MARK = profile_keyboard("", "en")[0][0].callback_data


def is_profile(record: SentRecord) -> bool:
    """The message that completes a profile: the analysis arrived."""
    return record.kind == "message" and any(d.startswith(_PROFILE_MARK) for d in record.button_data)


# What the bot says, by role; matched against its raw (HTML) text in either language.
_TERMINAL_FAILURES = (
    "too_big",
    "not_csv",
    "busy_retry_upload",
    "upload_quota",
    "upload_quota_in_flight",
    "job_failed",
    "download_failed",
    "analysis_too_slow",
)
# Explicit, but the work may still finish:
_NOTICE_FAILURES = ("timeout", "state_unavailable", "internal_error", "upload_unconfirmed")
_GREETING = ("start",)  # the one reply /start gets
_CHATTER = (
    "help",
    "unknown_command",
    "send_document",
    "lang_set",
    "still_trying",
    "slow_down",
    "button_unknown",
)


def _template_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{\w+\}", template)
    return re.compile(".*?".join(re.escape(part) for part in parts), re.DOTALL)


def _patterns(keys: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    # t(lang, key) without params returns the raw template, placeholders included.
    return tuple(_template_pattern(t(lang, key)) for key in keys for lang in SUPPORTED)


def _analysis_refusals() -> tuple[re.Pattern[str], ...]:
    """The analysis' refusals of a file it cannot read (bot.analysis.rejection_text)."""
    return tuple(
        _template_pattern(template)
        for table in ANALYSIS_TEXTS.values()
        for key, template in table.items()
        if key.startswith("rej.")
    )


class ReplyClassifier:
    """Sorts the bot's text messages into the roles the outcome depends on."""

    def __init__(self) -> None:
        # The receipt, or the receipt of a file held while the database is away.
        self._received = _patterns(("received", "upload_held"))
        self._terminal = _patterns(_TERMINAL_FAILURES) + _analysis_refusals()
        self._notice = _patterns(_NOTICE_FAILURES)
        self._greeting = _patterns(_GREETING)
        self._chatter = _patterns(_CHATTER)
        # The bot repeats its texts (a profile per distinct file, each notice per
        # language): each distinct text is matched against the patterns once.
        self.classify = functools.lru_cache(maxsize=2048)(self._classify)

    def _classify(self, text: str) -> str:
        """One of "received", "terminal", "notice", "greeting", "chatter", "other"."""
        for role, patterns in (
            ("received", self._received),
            ("terminal", self._terminal),
            ("notice", self._notice),
            ("greeting", self._greeting),
            ("chatter", self._chatter),
        ):
            if any(p.fullmatch(text) for p in patterns):
                return role
        return "other"
