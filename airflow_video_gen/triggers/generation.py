"""VideoGenerationTrigger: waits for a generation in the triggerer, fully asynchronously.

What a status means is read by :func:`~airflow_video_gen.waiting.outcome_of`, as the poke and
reschedule modes read it. A triggerer imports this module on the event loop all its triggers share,
so it imports only what making a trigger needs; the hook, the schedule and ``waiting`` are imported
off the loop when the first wait of the process runs (:mod:`airflow_video_gen.triggers.off_loop`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import random
import time
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_video_gen.hooks import DEFAULT_CONN_ID
from airflow_video_gen.triggers import callbacks
from airflow_video_gen.triggers.heap import KEEPER
from airflow_video_gen.triggers.off_loop import imported

if TYPE_CHECKING:
    from airflow_video_gen.hooks.gateway import VideoGatewayHook
    from airflow_video_gen.protocol import StatusResult

#: What a wait runs with beyond its construction: imported off the event loop by the first wait of
#: a process (:mod:`airflow_video_gen.triggers.off_loop`), then imported inside the methods.
RUN_MODULES = ("airflow_video_gen.hooks.gateway", "airflow_video_gen.polling", "airflow_video_gen.waiting")


class VideoGenerationTrigger(BaseTrigger):
    """Polls a generation's status until it ends, then fires one event.

    One aiohttp session is shared by every trigger of the event loop; no call blocks the loop.
    Transient errors are retried with backoff and ``Retry-After``; the deadline is absolute, so a
    restarted or reassigned triggerer resumes with the time that was left.

    It calls status when an answer is likely (:mod:`airflow_video_gen.polling`): not before the
    generation's expected time (the model's typical minimum, learned from the completions this
    triggerer has seen) unless that is far off, then every ``poll_interval``.

    :param model: Gateway model id.
    :param operation: The operation start returned, unchanged.
    :param deadline: Epoch seconds after which the wait ends with a ``timeout`` event.
    :param poll_interval: Seconds between status calls from the generation's expected time on: the
        most a video done after that time waits to be found (default 5). Before it, calls are
        sparse (see :mod:`airflow_video_gen.polling`).
    :param gateway_conn_id: The ``ai_gateway`` connection (the kwargs hold its id, never the key).
    :param started_at: Epoch seconds the generation was started (the submission's
        ``submitted_at``): the expected time counts from it, and the elapsed time in the log.
    :param max_retries: Retries of one status call on transient errors before the try fails
        (default 5).
    :param wait_first: Sleep one interval before the first poll (default ``False``): set when the
        task has just read the status itself, so the trigger does not fire at once (a trigger that
        fires within a second of the deferral can meet a scheduler race that fails the task:
        apache/airflow#71580).
    :param callback_job: The gateway job id whose callback ends the wait early (see
        :mod:`airflow_video_gen.triggers.callbacks`): the trigger calls status once the callback
        has come, and otherwise every ``[video_gen] callback_fallback_interval`` seconds in place
        of ``poll_interval`` (default ``None``: polling only).
    :param expected: Seconds after ``started_at`` before the generation is likely done, before
        what this triggerer has learned of the model (default: the model's typical minimum for its
        default duration, :func:`~airflow_video_gen.polling.expected_seconds`, taken when the
        trigger is serialized or runs: a triggerer makes triggers on its event loop, where the
        model data are not imported).
    :param fixed_interval: Call every ``poll_interval`` from the start, as a request's
        ``pollIntervalMs`` asks (default ``False``).
    """

    def __init__(
        self,
        *,
        model: str,
        operation: Any,
        deadline: float,
        poll_interval: float = 5.0,
        gateway_conn_id: str = DEFAULT_CONN_ID,
        started_at: float | None = None,
        max_retries: int = 5,
        wait_first: bool = False,
        callback_job: str | None = None,
        expected: float | None = None,
        fixed_interval: bool = False,
    ) -> None:
        super().__init__()
        self.model = model
        self.operation = operation
        self.deadline = float(deadline)
        self.poll_interval = float(poll_interval)
        self.gateway_conn_id = gateway_conn_id
        self.started_at = float(started_at) if started_at is not None else time.time()
        self.max_retries = max_retries
        self.wait_first = wait_first
        self.callback_job = callback_job
        self.expected = float(expected) if expected is not None else None
        self.fixed_interval = fixed_interval
        self._called_back: asyncio.Event | None = None

    @property
    def log(self) -> Any:
        """One logger for every trigger of the class: Airflow makes a logger of a dozen objects for
        each instance, and a triggerer holds thousands of triggers. The triggerer still sends each
        line to its task's log (it routes by the running task's context, not by logger)."""
        return type(self).logger()

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "model": self.model,
                "operation": self.operation,
                "deadline": self.deadline,
                "poll_interval": self.poll_interval,
                "gateway_conn_id": self.gateway_conn_id,
                "started_at": self.started_at,
                "max_retries": self.max_retries,
                "wait_first": self.wait_first,
                "callback_job": self.callback_job,
                "expected": self._expected(),
                "fixed_interval": self.fixed_interval,
            },
        )

    def _expected(self) -> float:
        """The generation's prior: as given, else the model's typical minimum for its default
        duration (imports the families: in a triggerer, only once :data:`RUN_MODULES` are)."""
        if self.expected is None:
            from airflow_video_gen.polling import expected_seconds

            self.expected = expected_seconds(self.model)
        return self.expected

    def _event(self, payload: dict[str, Any], polls: int) -> TriggerEvent:
        payload = {**payload, "elapsed_s": round(time.time() - self.started_at, 3), "polls": polls}
        return TriggerEvent(payload)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        await imported(*RUN_MODULES)
        with KEEPER.waiting():
            if self.callback_job is None:
                async for event in self._poll():
                    yield event
                return
            inbox = callbacks.inbox()
            self._called_back = inbox.watch(self.callback_job)
            try:
                async for event in self._poll():
                    await asyncio.to_thread(callbacks.forget, self.callback_job)
                    yield event
            finally:
                inbox.unwatch(self.callback_job, self._called_back)

    async def _poll(self) -> AsyncIterator[TriggerEvent]:
        from airflow_video_gen.hooks.gateway import VideoGatewayHook
        from airflow_video_gen.polling import JITTER, Schedule
        from airflow_video_gen.protocol import GatewayError, RetryPolicy
        from airflow_video_gen.waiting import outcome_of, outcome_of_error

        hook = VideoGatewayHook(self.gateway_conn_id, retry_policy=RetryPolicy(max_retries=self.max_retries))
        interval = callbacks.fallback_interval() if self.callback_job else self.poll_interval
        expected = self._expected()
        schedule = Schedule(self.model, self.started_at, interval, expected, fixed=self.fixed_interval)
        polls, last = 0, None
        now = time.time()
        if self.wait_first:
            # The caller has just read the status: no call for at least an interval.
            first = max(schedule.next_call(now, random.random()), now + interval * (1 - JITTER))
            await self._wait(first - now, at_least=callbacks.FIRST_WAIT)
        else:
            await self._wait(schedule.first_call(now, random.random()) - now)
        while True:
            remaining = self.deadline - time.time()
            if remaining <= 0:
                message = f"no result from {self.model} before the deadline; last state: {last or 'unknown'}"
                yield self._event({"status": "timeout", "reason": "deadline", "message": message}, polls)
                return
            KEEPER.begun()
            try:
                status = await self._status(hook)
            except GatewayError as exc:
                yield self._event(outcome_of_error(exc), polls)
                return
            polls += 1
            now = time.time()
            state = status.job_status or status.status
            if state != last:
                self.log.info(
                    "%s %s: %s -> %s after %.1f s",
                    self.model,
                    _job_id(self.operation),
                    last or "submitted",
                    state,
                    now - self.started_at,
                )
                last = state
            event = outcome_of(status)
            if event is not None:
                if status.status == "completed" and self.callback_job is None:
                    schedule.completed(now)
                yield self._event(event, polls)
                return
            schedule.pending(now, status.job_status)
            del status  # not held by thousands of sleeping triggers
            await self._wait(schedule.next_call(now, random.random()) - time.time())

    async def _wait(self, seconds: float, *, at_least: float = 0.0) -> None:
        """Sleep ``seconds`` (never past the deadline); with a callback job, only until its
        callback has come, and no less than ``at_least``."""
        seconds = max(0.0, min(seconds, self.deadline - time.time()))
        called_back = self._called_back
        if called_back is None:
            # What ``asyncio.sleep`` does, without its coroutine and its copy of the context.
            loop = asyncio.get_running_loop()
            future: asyncio.Future[None] = loop.create_future()
            timer = loop.call_later(seconds, _wake, future, context=_TIMER_CONTEXT)
            try:
                await future
            finally:
                timer.cancel()
            return
        if called_back.is_set():
            # The callback was read already and the status still said pending: poll on.
            seconds = min(seconds, callbacks.AFTER_CALLBACK_INTERVAL)
            await asyncio.sleep(seconds)
            return
        began = time.monotonic()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(called_back.wait(), seconds)
        if called_back.is_set():
            self.log.info("%s %s: called back", self.model, _job_id(self.operation))
        await asyncio.sleep(max(0.0, min(at_least, seconds) - (time.monotonic() - began)))

    async def _status(self, hook: VideoGatewayHook) -> StatusResult:
        """One status call (with the hook's retries): the one step the benchmarks' baselines
        replace, to compare ways of moving the bytes under the same loop."""
        return await hook.astatus(self.model, self.operation)


#: The context the timer of a sleeping trigger runs its one callback in. ``asyncio.sleep`` copies
#: the task's context for each timer: one more object per sleeping trigger, thousands of them, for
#: the cyclic garbage collector to walk.
_TIMER_CONTEXT = contextvars.Context()


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _job_id(operation: Any) -> str:
    if isinstance(operation, Mapping):
        for key in ("gatewayJobId", "jobId", "id"):
            if isinstance(operation.get(key), str):
                return str(operation[key])
    return "job"
