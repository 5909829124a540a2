"""Running one analysis job, step by step, resumable.

Steps: fetch the file from Telegram and store it as a blob -> analyse it in a
worker (CPU runner) and save the result -> send the result. Each completed step is
written to Postgres, so a job reclaimed after a crash resumes after the last one.
Every step has its own deadline; the whole job has one too. Transient failures
leave the job queued for another attempt (the reconciler re-enqueues it); after
``job_max_attempts`` the user gets a message saying what failed.
"""

from __future__ import annotations

import html

import trio

from bot import analysis
from bot.context import BotContext
from bot.domain import Delivery, Job, JobStatus, JobStep
from bot.errors import DeadlineExceeded, PortError, ServiceUnavailable, TelegramError
from bot.i18n import t
from bot.interact import profile_keyboard
from bot.retry import retry_transient
from bot.uploads import blob_key


class _Finished(Exception):
    """Internal: the job ended early with its own message to the user."""


class JobFailed(Exception):
    """A failure no retry will fix; the user is told ``reason``."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(reason)
        self.key = key
        self.reason = reason


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

    async def handle_delivery(self, delivery: Delivery) -> None:
        """Process one delivery and acknowledge it (also when the job ends failed)."""
        await self.run_job(delivery.job_id)
        try:
            await self.ctx.queue(self.ctx.services.queue.ack, delivery)
        except PortError as exc:
            # Unacked: it will be reclaimed and found finished, which is harmless.
            self.log.warning("job.ack_failed", job_id=delivery.job_id, error=str(exc))

    async def run_job(self, job_id: str) -> None:
        ctx = self.ctx
        repo = ctx.services.repo
        clock = ctx.services.clock
        try:
            job = await ctx.db(repo.start_attempt, job_id, clock.now(), ctx.settings.job_lease_s)
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
        """The steps, with a heartbeat that keeps the job's lease while they run.

        An attempt may outlive the lease (storage retries under a slow Supabase take
        minutes); without the heartbeat another worker would take the job over and
        the user would get the profile twice (scenarios/slow-supabase.toml)."""
        failure: Exception | None = None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._heartbeat, job.job_id)
            try:
                await self._steps(job)
            except Exception as exc:  # re-raised bare below: callers catch PortError, not groups
                failure = exc
            finally:
                nursery.cancel_scope.cancel()
        if failure is not None:
            raise failure

    async def _heartbeat(self, job_id: str) -> None:
        ctx = self.ctx
        every = ctx.settings.job_lease_s / 3
        while True:
            await trio.sleep(every)
            try:
                await ctx.db(ctx.services.repo.heartbeat, job_id, ctx.services.clock.now())
            except PortError as exc:  # a missed beat costs at most a duplicate attempt later
                self.log.warning("job.heartbeat_failed", job_id=job_id, error=str(exc))

    async def _steps(self, job: Job) -> None:
        data: bytes | None = None
        if job.step < JobStep.STORED:
            data = await self._fetch_and_store(job)
        if job.step < JobStep.ANALYSED:
            if data is None:
                data = await self._load_blob(job)
            payload = await self._analyse(job, data)
        else:
            payload = await self._load_result(job)
        if job.step < JobStep.DELIVERED:
            await self._deliver(job, payload)

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
        await retry_transient(
            lambda: ctx.storage("storage.upload", ctx.services.blobs.put, key, data),
            clock=ctx.services.clock,
            base_s=ctx.settings.storage_retry_base_s,
            max_attempts=5,
            on_retry=lambda n, e: self.log.warning(
                "storage.retry", job_id=job.job_id, attempt=n, error=str(e)
            ),
        )
        await ctx.db(ctx.services.repo.mark_stored, job.job_id, key, ctx.services.clock.now())
        return data

    async def _load_blob(self, job: Job) -> bytes:
        ctx = self.ctx
        if job.blob_key is None:
            raise JobFailed("job_failed", "stored file missing")
        return await retry_transient(
            lambda: ctx.storage("storage.download", ctx.services.blobs.get, job.blob_key or ""),
            clock=ctx.services.clock,
            base_s=ctx.settings.storage_retry_base_s,
            max_attempts=5,
        )

    async def _analyse(self, job: Job, data: bytes) -> str:
        ctx = self.ctx
        try:
            outcome: analysis.Profile | analysis.CsvRejected = await ctx.guard.call(
                "analysis", ctx.services.cpu.run, "analysis", analysis.analyse_csv, data, job.file_name
            )
        except DeadlineExceeded as exc:
            # The runaway work was killed; the same file would run away again.
            raise JobFailed("analysis_too_slow", "analysis took too long") from exc
        if isinstance(outcome, analysis.CsvRejected):
            await ctx.messenger.send_text(job.chat_id, analysis.rejection_text(outcome, job.language))
            await self._record_end(job, JobStatus.FAILED, JobStep.DELIVERED, f"rejected: {outcome.code}")
            raise _Finished
        payload = outcome.to_json()
        await ctx.db(ctx.services.repo.save_result, job.job_id, payload, ctx.services.clock.now())
        return payload

    async def _load_result(self, job: Job) -> str:
        stored = await self.ctx.db(self.ctx.services.repo.get_result, job.job_id)
        if stored is None:
            raise JobFailed("job_failed", "result missing")
        return stored.payload

    async def _deliver(self, job: Job, payload: str) -> None:
        ctx = self.ctx
        profile = analysis.Profile.from_json(payload)
        messages = analysis.render_profile(profile, job.language)
        keyboard = profile_keyboard(job.upload_id, job.language)
        for number, text in enumerate(messages):
            last = number == len(messages) - 1
            await ctx.messenger.send_text(job.chat_id, text, reply_markup=keyboard if last else None)
        if analysis.is_wide(profile):  # the compact message promises the full profile as a file
            page = await ctx.guard.call(
                "analysis", ctx.services.cpu.run, "analysis", analysis.report_html, payload, job.language
            )
            await ctx.messenger.send_document(job.chat_id, analysis.report_file_name(job.file_name), page)
        await self._record_end(job, JobStatus.DONE, JobStep.DELIVERED, None)
        self.log.info("job.done", job_id=job.job_id, messages=len(messages))

    async def _record_end(self, job: Job, status: JobStatus, step: JobStep, error: str | None) -> None:
        """Record that the user has been answered. The answer is already out, so this
        write must not be lost to a passing database failure (the next attempt would
        answer twice) or to the job's deadline firing now: it is shielded and retried
        within its own bound."""
        ctx = self.ctx
        with trio.CancelScope(shield=True), trio.move_on_after(ctx.guard.seconds("db.statement") * 3):
            await retry_transient(
                lambda: ctx.db(
                    ctx.services.repo.finish_job, job.job_id, status, step, error, ctx.services.clock.now()
                ),
                clock=ctx.services.clock,
                base_s=0.5,
                max_attempts=10,
                cap_s=5.0,
            )
            return
        raise DeadlineExceeded("job.record_end", ctx.guard.seconds("db.statement") * 3)

    async def _tell_still_trying(self, job: Job) -> None:
        """After a first failed attempt the next one waits for the reconciler (a minute
        or more): say so once, so the user is not left with a bare "received"."""
        ctx = self.ctx
        with trio.move_on_after(ctx.guard.seconds("telegram.call")):
            try:
                text = t(job.language, "still_trying", name=html.escape(job.file_name))
                await ctx.messenger.send_text(job.chat_id, text)
            except PortError as exc:
                self.log.warning("job.notice_failed", job_id=job.job_id, error=str(exc))

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
        with trio.move_on_after(ctx.guard.seconds("telegram.call") * 2):
            try:
                await ctx.messenger.send_text(job.chat_id, text)
            except PortError as exc:
                self.log.error("job.failure_not_sent", job_id=job.job_id, error=str(exc))
                return  # leave the job open: the reconciler retries the message later
        try:
            await self._record_end(job, JobStatus.FAILED, job.step, failure.reason)
        except PortError as exc:
            self.log.error("job.finish_failed", job_id=job.job_id, error=str(exc))
