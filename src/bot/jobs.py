"""Running one analysis job, step by step, resumable.

Steps: fetch the file from Telegram and store it as a blob -> analyse it in a
worker (CPU runner) and save the result -> send the result. Each completed step is
written to Postgres, so a job reclaimed after a crash resumes after the last one.

The answer is sent exactly once wherever the bot can make it so: each part of it
that Telegram accepts is recorded before the next is sent, and a resumed job sends
only the parts not yet recorded. A record of something the user already has waits
for the database however long it is away (while the process lives), so an outage
never makes a part go out twice; while the database refuses only this worker, a
marker in Redis tells a worker that takes the job over which parts already went out.
What remains is Telegram's: sendMessage has no idempotency key, so a process killed
between Telegram accepting a part and its record may send that one part again.
Every step has its own deadline; the whole job has one too. Transient failures
leave the job queued for another attempt (the reconciler re-enqueues it); after
``job_max_attempts`` the user gets a message saying what failed.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

import trio

from bot import analysis
from bot.analysis.fmt import lang_of
from bot.blob_keys import blob_key
from bot.context import BotContext
from bot.domain import Delivery, Job, JobStatus, JobStep
from bot.errors import DeadlineExceeded, PortError, ServiceUnavailable, TelegramError
from bot.i18n import SUPPORTED, t
from bot.interact import profile_keyboard
from bot.upload_hold import MARK_TTL_S


class _Finished(Exception):
    """Internal: the job ended early with its own message to the user."""


class JobFailed(Exception):
    """A failure no retry will fix; the user is told ``reason``."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(reason)
        self.key = key
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Analysed:
    """A readable file's analysis as the CPU pool hands it back: the profile, its stored
    JSON, and its messages in every language the bot speaks."""

    profile: analysis.Profile
    payload: str
    messages: Mapping[str, tuple[str, ...]]

    def messages_in(self, lang: str) -> list[str]:
        made = self.messages.get(lang_of(lang))
        return list(made) if made is not None else analysis.render_profile(self.profile, lang)


def analyse_and_serialise(data: bytes, file_name: str) -> Analysed | analysis.CsvRejected:
    """The analysis, the profile's stored JSON and its messages, all made in the CPU
    pool's process: the job's loop neither serialises nor renders the profile (a wide
    profile's report is built from the same text). Both languages are rendered, as a
    rendering costs a fraction of a millisecond beside the analysis."""
    outcome = analysis.analyse_csv(data, file_name)
    if isinstance(outcome, analysis.CsvRejected):
        return outcome
    messages = {lang: tuple(analysis.render_profile(outcome, lang)) for lang in SUPPORTED}
    return Analysed(outcome, outcome.to_json(), messages)


def _sent_marker(job: Job, parts_sent: int) -> str:
    """Redis's word that the job's first ``parts_sent`` parts went out (see JobRunner._record_part)."""
    return f"sent:{job.job_id}:{parts_sent}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, DeadlineExceeded):
        return f"timeout: {exc.name}"
    if isinstance(exc, ServiceUnavailable):
        return f"{exc.service} unavailable"
    return type(exc).__name__


class JobRunner:
    def __init__(self, ctx: BotContext, consumer: str) -> None:
        self.ctx = ctx
        self.consumer = consumer
        self.log = ctx.log.bind(consumer=consumer)
        self._record_waits: set[trio.CancelScope] = set()
        self._holding: dict[str, int] = {}  # job id -> its attempts running here (keep_leases)
        # Set by a graceful stop just before it cancels the jobs still running: they are
        # handed back for another worker instead of waiting out their lease.
        self.hand_back_when_cancelled = False

    def abandon_record_waits(self) -> None:
        """The process is stopping: records still waiting for the database give up (the
        parts they stand for may then be sent again by whoever resumes the job)."""
        for scope in self._record_waits:
            scope.cancel()

    async def handle_delivery(self, delivery: Delivery) -> None:
        """Process one delivery and acknowledge it (also when the job ends failed)."""
        finished = False
        try:
            await self.run_job(delivery.job_id)
            finished = True
        finally:
            if not finished and self.hand_back_when_cancelled:
                await self._hand_back(delivery)
        try:
            await self.ctx.call("queue", self.ctx.services.queue.ack, delivery)
        except PortError as exc:
            # Unacked: it will be reclaimed and found finished, which is harmless.
            self.log.warning("job.ack_failed", job_id=delivery.job_id, error=str(exc))

    async def _hand_back(self, delivery: Delivery) -> None:
        """Release the job and put it back on the queue, within a short budget of its
        own (the caller is being cancelled); whatever fails here, the lease and the
        reconciler still bring the job back, only later."""
        ctx = self.ctx
        with trio.CancelScope(shield=True), trio.move_on_after(ctx.guard.seconds("shutdown")):
            try:
                await ctx.call("db.statement", ctx.services.repo.release_job, delivery.job_id)
                await ctx.call("queue", ctx.services.queue.enqueue, delivery.job_id)
                await ctx.call("queue", ctx.services.queue.ack, delivery)
                self.log.info("job.handed_back", job_id=delivery.job_id)
            except PortError as exc:
                self.log.warning("job.hand_back_failed", job_id=delivery.job_id, error=str(exc))

    async def run_job(self, job_id: str) -> None:
        ctx = self.ctx
        repo = ctx.services.repo
        try:
            # The lease is judged on the database's clock: this host's may be off.
            job = await ctx.call("db.statement", repo.start_attempt, job_id, ctx.settings.job_lease_s)
        except PortError as exc:
            self.log.warning("job.start_failed", job_id=job_id, error=str(exc))
            return
        if job is None:
            return  # finished already, or unknown: nothing to do
        if job.attempts > ctx.settings.job_max_attempts:
            await self._give_up(job, JobFailed("job_failed", "too many attempts"))
            return
        started = trio.current_time()
        try:
            await ctx.guard.call("job", self._steps_holding_lease, job)
        except _Finished:
            return
        except JobFailed as failure:
            await self._give_up(job, failure)
        except PortError as exc:
            self.log.warning("job.attempt_failed", job_id=job.job_id, attempt=job.attempts, error=str(exc))
            if job.attempts >= ctx.settings.job_max_attempts:
                await self._give_up(job, JobFailed("job_failed", _reason(exc)))
            elif job.attempts == 1:
                await self._tell_still_trying(job)
        except Exception as exc:  # a bug (in analysis, say): it would repeat, so end the job
            self.log.error("job.crashed", job_id=job.job_id, error=repr(exc))
            await self._give_up(job, JobFailed("job_failed", "internal error"))
        else:
            ctx.services.metrics.observe("job.total", trio.current_time() - started, "ok")

    async def _steps_holding_lease(self, job: Job) -> None:
        """The steps, while :meth:`keep_leases` keeps the job's lease.

        An attempt may outlive the lease (storage retries under a slow Supabase take
        minutes); without the heartbeat another worker would take the job over and
        the user would get the profile twice (scenarios/slow-supabase.toml)."""
        holding = self._holding
        holding[job.job_id] = holding.get(job.job_id, 0) + 1
        try:
            await self._steps(job)
        finally:
            holding[job.job_id] -= 1
            if not holding[job.job_id]:
                del holding[job.job_id]

    async def keep_leases(self) -> None:
        """Heartbeat for every job this runner is running, in one write every third of
        the lease, for as long as it runs (the worker's or reconciler's nursery starts
        it). One task for them all: a task per job cost a nursery and its task switches
        on every job, for the rare attempt that outlives its lease."""
        ctx = self.ctx
        every = ctx.settings.job_lease_s / 3
        wait = every
        while True:
            await trio.sleep(wait)
            wait = every
            if not self._holding:
                continue
            job_ids = sorted(self._holding)
            try:
                await ctx.call("db.statement", ctx.services.repo.heartbeat, job_ids)
            except PortError as exc:
                # Beat again soon: the leases must be fresh again as soon as the database is back.
                self.log.warning("job.heartbeat_failed", jobs=len(job_ids), error=str(exc))
                wait = ctx.settings.retries["db.record_end"].wait_max

    async def _steps(self, job: Job) -> None:
        data: bytes | None = None
        if job.step < JobStep.STORED:
            data = await self._fetch_and_store(job)
        if job.step < JobStep.ANALYSED:
            if data is None:
                data = await self._load_blob(job)
            analysed = await self._analyse(job, data)
        else:
            analysed = await self._load_result(job)
        if job.step < JobStep.DELIVERED:
            await self._deliver(job, analysed)

    async def _fetch_and_store(self, job: Job) -> bytes:
        ctx = self.ctx
        if job.file_size is not None and job.file_size > ctx.settings.max_file_bytes:
            raise JobFailed("too_big", "file too big")
        try:
            tg_file = await ctx.messenger.get_file(job.file_id)
            if tg_file.file_path is None:
                raise JobFailed("download_failed", "no file path")
            data = await ctx.messenger.download(tg_file.file_path)
        except TelegramError as exc:
            raise JobFailed("download_failed", exc.description) from exc
        key = blob_key(job.user_id, job.upload_id, job.file_name)
        await ctx.call("storage.upload", ctx.services.blobs.put, key, data)
        await ctx.call("db.statement", ctx.services.repo.mark_stored, job.job_id, key)
        return data

    async def _load_blob(self, job: Job) -> bytes:
        ctx = self.ctx
        if job.blob_key is None:
            raise JobFailed("job_failed", "stored file missing")
        return await ctx.call("storage.download", ctx.services.blobs.get, job.blob_key)

    async def _analyse(self, job: Job, data: bytes) -> Analysed:
        ctx = self.ctx
        try:
            outcome: Analysed | analysis.CsvRejected = await ctx.guard.call(
                "analysis", ctx.services.cpu.run, "analysis", analyse_and_serialise, data, job.file_name
            )
        except DeadlineExceeded as exc:
            # The runaway work was killed; the same file would run away again.
            raise JobFailed("analysis_too_slow", "analysis took too long") from exc
        if isinstance(outcome, analysis.CsvRejected):
            if job.parts_sent == 0:
                await ctx.messenger.send_text(job.chat_id, analysis.rejection_text(outcome, job.language))
            await self._record_end(job, JobStatus.FAILED, JobStep.DELIVERED, f"rejected: {outcome.code}")
            ctx.services.metrics.count("uploads", f"rejected:{outcome.code}")
            self.log.info("job.rejected", job_id=job.job_id, user_id=job.user_id, reason=outcome.code)
            await self._drop_rejected_file(job)
            raise _Finished
        await ctx.call("db.statement", ctx.services.repo.save_result, job.job_id, outcome.payload)
        return outcome

    async def _drop_rejected_file(self, job: Job) -> None:
        """A file that could not be read is kept no longer than its answer needs, or for
        ``rejected_retention_h`` when set (the retention sweep deletes it then). Deleted
        now, the row lets go of it first, so a failure here leaves at worst an orphan
        blob, which the orphan sweep deletes."""
        ctx = self.ctx
        keep_h = ctx.settings.rejected_retention_h
        if keep_h > 0:
            until = ctx.services.clock.now() + timedelta(hours=keep_h)
            try:
                await ctx.call("db.statement", ctx.services.repo.expire_blob_at, job.upload_id, until)
            except PortError as exc:  # kept then until the upload itself expires
                self.log.warning("job.rejected_file_expiry_failed", job_id=job.job_id, error=str(exc))
            return
        try:
            await ctx.call("db.statement", ctx.services.repo.forget_blob, job.upload_id)
            key = blob_key(job.user_id, job.upload_id, job.file_name)
            await ctx.call("storage.call", ctx.services.blobs.delete, key)
        except PortError as exc:
            self.log.warning("job.rejected_file_kept", job_id=job.job_id, error=str(exc))

    async def _load_result(self, job: Job) -> Analysed:
        """A resumed job's stored result (its messages are rendered when delivered)."""
        stored = await self.ctx.call("db.statement", self.ctx.services.repo.get_result, job.job_id)
        if stored is None:
            raise JobFailed("job_failed", "result missing")
        return Analysed(analysis.Profile.from_json(stored.payload), stored.payload, {})

    async def _deliver(self, job: Job, analysed: Analysed) -> None:
        ctx = self.ctx
        profile, payload = analysed.profile, analysed.payload
        messages = analysed.messages_in(job.language)
        keyboard = profile_keyboard(job.upload_id, job.language)
        report_part = len(messages) + 1
        # The compact message promises the full profile as a file: the answer's last part.
        parts = report_part if analysis.needs_report(profile) else len(messages)
        for number in range(job.parts_sent, len(messages)):
            last = number == len(messages) - 1
            markup = keyboard if last else None
            if not await self._sent_before(job, number + 1):
                await ctx.messenger.send_text(job.chat_id, messages[number], reply_markup=markup)
            if number + 1 < parts:  # the last part is recorded with the job's end
                await self._record_part(job, number + 1)
        report_due = parts == report_part and job.parts_sent < report_part
        if report_due and not await self._sent_before(job, report_part):
            page = await ctx.call(
                "analysis", ctx.services.cpu.run, "analysis", analysis.report_html, payload, job.language
            )
            await ctx.messenger.send_document(job.chat_id, analysis.report_file_name(job.file_name), page)
        await self._record_end(job, JobStatus.DONE, JobStep.DELIVERED, None, parts_sent=parts)
        ctx.services.metrics.count("uploads", "analysed")
        self.log.info("job.done", job_id=job.job_id, messages=len(messages), resumed_at=job.parts_sent)

    async def _record_part(self, job: Job, parts_sent: int) -> None:
        """Record that the first ``parts_sent`` parts reached the user. While the database
        does not take it, a marker in Redis says so as well: a worker that takes the job
        over meanwhile (this one's lease ran out) skips the part instead of sending it
        again (scenarios/regressions/swarm-17-part-sent-while-db-away.toml)."""
        write, marker = self.ctx.services.repo.mark_parts_sent, _sent_marker(job, parts_sent)
        await self._record_durably(write, job.job_id, parts_sent, marker=marker)

    async def _sent_before(self, job: Job, parts_sent: int) -> bool:
        """Whether an earlier attempt sent this part without recording it in the database
        (its marker); asked only by an attempt that took the job over. Unknown is False:
        sending a part twice beats leaving the answer incomplete."""
        if job.attempts <= 1:
            return False
        try:
            marker = _sent_marker(job, parts_sent)
            return await self.ctx.call("redis", self.ctx.services.state.is_marked, marker)
        except PortError as exc:
            self.log.warning("job.part_marker_unread", job_id=job.job_id, part=parts_sent, error=str(exc))
            return False

    async def _record_end(
        self, job: Job, status: JobStatus, step: JobStep, error: str | None, *, parts_sent: int | None = None
    ) -> None:
        """Record that the user has been answered (the answer is already out); with
        ``parts_sent``, the answer's parts too, in the same write (and marker) as
        :meth:`_record_part` would: the last part's record is the job's end."""
        marker = None if parts_sent is None else _sent_marker(job, parts_sent)
        await self._record_durably(
            self.ctx.services.repo.finish_job, job.job_id, status, step, error, parts_sent, marker=marker
        )

    async def _record_durably(
        self, write: Callable[..., Awaitable[None]], job_id: str, *args: object, marker: str | None = None
    ) -> None:
        """A record of something the user already has. Losing it would make the next
        attempt repeat it, so it is shielded from the job's deadline and retried until
        the database answers, however long that takes; only a stopping process ends
        the wait (:meth:`abandon_record_waits`), and then this raises Cancelled.
        ``marker``: set in Redis once the first try fails, for whoever reads it meanwhile."""
        ctx = self.ctx

        async def attempt() -> None:
            nonlocal marker
            try:
                await ctx.guard.call("db.record_end", write, job_id, *args)
            except PortError:
                if marker is not None:
                    await self._leave_marker(marker)
                    marker = None
                raise

        with trio.CancelScope(shield=True) as scope:
            self._record_waits.add(scope)
            try:
                await ctx.guard.retrying("db.record_end", attempt)
                return
            finally:
                self._record_waits.discard(scope)
        await trio.lowlevel.checkpoint()  # abandoned: the stop that asked for it raises here
        raise ServiceUnavailable("database", "record abandoned at stop")

    async def _leave_marker(self, name: str) -> None:
        try:
            await self.ctx.call("redis", self.ctx.services.state.mark, name, MARK_TTL_S)
        except PortError as exc:
            self.log.warning("job.marker_failed", marker=name, error=str(exc))

    async def _tell_still_trying(self, job: Job) -> None:
        """After a first failed attempt the next one waits for the reconciler (a minute
        or more): say so once, so the user is not left with a bare "received"."""
        ctx = self.ctx
        text = t(job.language, "still_trying", name=html.escape(job.file_name))
        await ctx.messenger.tell(job.chat_id, text, failed="job.notice_failed", job_id=job.job_id)

    async def _give_up(self, job: Job, failure: JobFailed) -> None:
        """End the job as failed and tell the user why; best effort within short deadlines."""
        ctx = self.ctx
        self.log.error("job.failed", job_id=job.job_id, reason=failure.reason)
        name = html.escape(job.file_name)
        key = (
            failure.key
            if failure.key in {"download_failed", "too_big", "analysis_too_slow"}
            else "job_failed"
        )
        if key == "too_big":
            text = t(job.language, "too_big", size_mb=f"{(job.file_size or 0) / 1_048_576:.1f}")
        else:
            text = t(job.language, key, name=name, reason=html.escape(failure.reason))
        budget = ctx.guard.seconds("telegram.failure_notice")
        if (
            await ctx.messenger.tell(
                job.chat_id, text, failed="job.failure_not_sent", budget_s=budget, job_id=job.job_id
            )
            is not True
        ):
            return  # leave the job open: the reconciler retries the message later
        ctx.services.metrics.count("uploads", f"failed:{failure.key}")
        try:
            await self._record_end(job, JobStatus.FAILED, job.step, failure.reason)
        except PortError as exc:
            self.log.error("job.finish_failed", job_id=job.job_id, error=str(exc))
